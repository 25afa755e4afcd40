package io.strata.layer;

import io.strata.layer.qcow2.Qcow2Exception;
import io.strata.layer.qcow2.Qcow2Info;
import io.strata.layer.qcow2.Qcow2Inspector;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.LongConsumer;

/**
 * {@code strata verify}: re-reads every stored layer and checks it against its row (the file
 * exists, has the recorded size, hashes to its name, passes the format inspector, names the
 * recorded parent) and finds files with no row. Read-only, so it is safe beside a running server.
 */
public final class Verifier {
    private final LayerStore store;
    private final LayerDao dao;
    private final Set<Digest> otherBlobs;

    public Verifier(LayerStore store, LayerDao dao) {
        this(store, dao, Set.of());
    }

    /** @param otherBlobs blobs in the store recorded elsewhere (LXD items), which are not layers and not strays */
    public Verifier(LayerStore store, LayerDao dao, Set<Digest> otherBlobs) {
        this.store = store;
        this.dao = dao;
        this.otherBlobs = Set.copyOf(otherBlobs);
    }

    /** One thing found wrong. */
    public record Problem(Digest layer, String what) {}

    public record Report(int layersChecked, long bytesChecked, List<Problem> problems) {
        public boolean ok() { return problems.isEmpty(); }
    }

    /** @param quick  check presence and sizes only, without hashing every byte
     *  @param progress told the bytes hashed so far, for a progress display */
    public Report run(boolean quick, LongConsumer progress) throws IOException {
        List<Problem> problems = new ArrayList<>();
        Set<Digest> recorded = new HashSet<>();
        long bytes = 0;
        List<LayerRecord> rows = dao.all();
        for (LayerRecord row : rows) {
            recorded.add(row.digest());
            LayerStore.LayerContent file;
            try {
                file = store.open(row.digest());
            } catch (java.nio.file.NoSuchFileException e) {
                problems.add(new Problem(row.digest(), "recorded but its file is missing (restart the server to drop the row; images using it are hidden)"));
                continue;
            }
            long size = file.size();
            if (size != row.size()) {
                problems.add(new Problem(row.digest(), "file has " + size + " bytes, the row says " + row.size()));
                continue;
            }
            if (row.parent().isPresent() && !dao.find(row.parent().get().hex()).isPresent()) {
                problems.add(new Problem(row.digest(), "its parent " + row.parent().get() + " is not stored"));
            }
            try {
                Qcow2Info info = StoredBytes.inspect(file, true);
                if (!info.parent().equals(row.parent())) {
                    problems.add(new Problem(row.digest(), "header names parent " + info.parent().map(Digest::hex).orElse("none")
                            + " but the row says " + row.parent().map(Digest::hex).orElse("none")));
                }
            } catch (Qcow2Exception e) {
                problems.add(new Problem(row.digest(), "header fails the format inspector (" + e.check().id() + "): " + e.getMessage()));
            }
            if (!quick) {
                long before = bytes;
                Digest actual = StoredBytes.hash(file, done -> progress.accept(before + done));
                bytes += size;
                if (!actual.equals(row.digest())) {
                    problems.add(new Problem(row.digest(), "bytes hash to " + actual + ": the file is corrupt"));
                }
            }
        }
        for (Digest file : store.list().toList()) {
            if (!recorded.contains(file) && !otherBlobs.contains(file)) {
                problems.add(new Problem(file, "file without a row (the server registers or removes it at its next start)"));
            }
        }
        return new Report(rows.size(), bytes, problems);
    }
}
