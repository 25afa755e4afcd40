package io.strata.layer;

import io.strata.layer.qcow2.Qcow2Exception;
import io.strata.layer.qcow2.Qcow2Info;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Startup reconciliation of layer files and rows (DESIGN §7). The write order is file (fsynced,
 * renamed) then row, so after a crash there can be a complete file without its row: it is
 * re-verified and registered, or removed if it does not verify. A row whose file is gone is
 * dropped and reported: its bytes cannot be served. Files that are not layers but other blobs
 * kept in the store (LXD items) are named by their own rows and left alone.
 */
public final class Recovery {
    private static final Logger LOG = LoggerFactory.getLogger(Recovery.class);

    private final LayerService layers;
    private final LayerDao dao;
    private final Set<Digest> otherBlobs;

    public Recovery(LayerService layers, LayerDao dao) {
        this(layers, dao, Set.of());
    }

    /** @param otherBlobs blobs in the store recorded elsewhere (not layers): never registered or removed here */
    public Recovery(LayerService layers, LayerDao dao, Set<Digest> otherBlobs) {
        this.layers = layers;
        this.dao = dao;
        this.otherBlobs = Set.copyOf(otherBlobs);
    }

    /** What recovery changed. */
    public record Report(List<Digest> registered, List<Digest> removedFiles, List<Digest> droppedRows) {
        public boolean changedAnything() { return !registered.isEmpty() || !removedFiles.isEmpty() || !droppedRows.isEmpty(); }
    }

    public Report run() throws IOException {
        LayerStore store = layers.store();
        Set<Digest> files = new HashSet<>(store.list().toList());
        Map<Digest, LayerRecord> rows = new HashMap<>();
        for (LayerRecord record : dao.all()) rows.put(record.digest(), record);

        List<Digest> dropped = new ArrayList<>();
        for (LayerRecord record : rows.values()) {
            if (!files.contains(record.digest())) {
                dao.delete(record.digest().hex());
                layers.invalidate(record.digest());
                dropped.add(record.digest());
                LOG.error("layer {} is recorded but its file is missing; dropped it (images using it are hidden)", record.digest());
            }
        }
        dropped.forEach(rows::remove);

        // Files without rows: register parents before children, so repeat until nothing changes.
        Map<Digest, Qcow2Info> pending = new HashMap<>();
        List<Digest> removed = new ArrayList<>();
        for (Digest digest : files) {
            if (rows.containsKey(digest) || otherBlobs.contains(digest)) continue;
            Optional<Qcow2Info> info = verify(store, digest);
            if (info.isPresent()) {
                pending.put(digest, info.get());
            } else {
                store.delete(digest);
                removed.add(digest);
                LOG.warn("removed layer {}: its bytes do not match its name or are not an acceptable qcow2 layer", digest);
            }
        }
        List<Digest> registered = new ArrayList<>();
        boolean progress = true;
        while (progress && !pending.isEmpty()) {
            progress = false;
            for (var it = pending.entrySet().iterator(); it.hasNext(); ) {
                var entry = it.next();
                Optional<Digest> parent = entry.getValue().parent();
                if (parent.isPresent() && dao.find(parent.get().hex()).isEmpty()) continue;
                dao.insert(entry.getKey().hex(), store.open(entry.getKey()).size(), entry.getValue().virtualSize(),
                        parent.map(Digest::hex).orElse(null), entry.getValue().version(),
                        Instant.now().truncatedTo(ChronoUnit.MILLIS).toString());
                layers.invalidate(entry.getKey());
                registered.add(entry.getKey());
                it.remove();
                progress = true;
            }
        }
        for (Digest orphan : pending.keySet()) {
            store.delete(orphan);
            removed.add(orphan);
            LOG.warn("removed layer file {}: its parent layer is not stored", orphan);
        }
        if (!registered.isEmpty()) LOG.info("recovered {} layer(s) whose upload finished just before a crash", registered.size());
        return new Report(registered, removed, dropped);
    }

    private Optional<Qcow2Info> verify(LayerStore store, Digest expected) throws IOException {
        LayerStore.LayerContent content = store.open(expected);
        if (!StoredBytes.hash(content, done -> { }).equals(expected)) return Optional.empty();
        try {
            return Optional.of(StoredBytes.inspect(content, false));
        } catch (Qcow2Exception e) {
            return Optional.empty();
        }
    }
}
