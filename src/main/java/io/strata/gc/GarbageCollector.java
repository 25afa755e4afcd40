package io.strata.gc;

import io.strata.catalog.CatalogService;
import io.strata.catalog.Image;
import io.strata.layer.Digest;
import io.strata.layer.LayerDao;
import io.strata.layer.LayerRecord;
import io.strata.layer.LayerService;
import io.strata.lxd.LxdService;
import io.strata.upload.UploadService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Removes layers nothing needs (DESIGN §7) without ever racing a push. A layer is kept when it is
 * in the chain of any image, younger than the grace age (a push uploads its layers before it
 * publishes them), the parent of an upload in flight, or named by an open resumable session;
 * and so are all its ancestors. The catalog is held still and no layer commit runs while the
 * collector decides and deletes.
 *
 * <p>The LXD items made from an image (io.strata.lxd) are blobs in the same store; they are kept
 * while their image is among the newest {@code --lxd-versions} of its product, and removed once it
 * is deleted or older, like the layers only it used.
 */
public final class GarbageCollector {
    private static final Logger LOG = LoggerFactory.getLogger(GarbageCollector.class);

    private final LayerService layers;
    private final LayerDao dao;
    private final CatalogService catalog;
    private final UploadService uploads;
    private final Clock clock;
    private final LxdService lxd;

    public GarbageCollector(LayerService layers, LayerDao dao, CatalogService catalog, UploadService uploads, Clock clock,
                            LxdService lxd) {
        this.layers = layers;
        this.dao = dao;
        this.catalog = catalog;
        this.uploads = uploads;
        this.clock = clock;
        this.lxd = lxd;
    }

    /**
     * What a run found and did. {@code deferred} explains why nothing was removed, when that is the reason.
     * {@code bytesFreed} counts layers and LXD items ({@code lxdRemoved}) together.
     */
    public record Report(boolean dryRun, List<LayerRecord> removed, long bytesFreed, int kept, String deferred,
                         List<LxdService.Collected> lxdRemoved) {}

    public Report collect(Duration minAge, boolean dryRun) throws Exception {
        Report report = catalog.whileStill(() -> layers.exclusively(() -> {
            // Another replica may have published since this one's snapshot: decide on the database's catalog.
            if (catalog.refreshIfChanged()) layers.invalidateAll();
            return decideAndDelete(minAge, dryRun);
        }));
        if (!report.removed().isEmpty() && !dryRun) catalog.layersRemoved();
        return report;
    }

    private Report decideAndDelete(Duration minAge, boolean dryRun) throws Exception {
        List<LayerRecord> all = dao.all();
        UploadService.SessionParents sessions = uploads.sessionParents();
        if (sessions.undecided() > 0) {
            String why = sessions.undecided() + " open upload session(s) have not sent enough bytes to tell their parent layer; "
                    + "collect again when they finish, or cancel them";
            return new Report(dryRun, List.of(), 0, all.size(), why, List.of());
        }
        Map<Digest, LayerRecord> byDigest = new HashMap<>();
        for (LayerRecord layer : all) byDigest.put(layer.digest(), layer);

        Set<Digest> roots = new HashSet<>();
        CatalogService.Snapshot snapshot = catalog.snapshot();
        for (Image image : snapshot.images()) roots.addAll(image.chain());
        for (Image image : snapshot.hidden()) roots.addAll(image.chain());
        Instant cutoff = clock.instant().minus(minAge);
        for (LayerRecord layer : all) if (layer.createdAt().isAfter(cutoff)) roots.add(layer.digest());
        roots.addAll(layers.pinned());
        roots.addAll(sessions.parents());

        Set<Digest> keep = new HashSet<>();
        Deque<Digest> todo = new ArrayDeque<>(roots);
        while (!todo.isEmpty()) {
            Digest digest = todo.pop();
            if (!keep.add(digest)) continue;
            LayerRecord layer = byDigest.get(digest);
            if (layer != null) layer.parent().ifPresent(todo::push);
        }

        List<LayerRecord> garbage = new ArrayList<>();
        long bytes = 0;
        for (LayerRecord layer : all) {
            if (keep.contains(layer.digest())) continue;
            garbage.add(layer);
            bytes += layer.size();
        }
        Set<Digest> keptLayers = new HashSet<>(byDigest.keySet());
        for (LayerRecord layer : garbage) keptLayers.remove(layer.digest());
        // A layer whose bytes equal an LXD item's (a standalone compressed base, say) shares its file.
        Set<Digest> lxdBlobs = lxd.recordedBlobs();
        List<LxdService.Collected> lxdRemoved = lxd.collect(keptLayers, dryRun);
        for (LxdService.Collected blob : lxdRemoved) bytes += blob.size();
        if (!dryRun) {
            for (LayerRecord layer : garbage) {
                // Row first: a crash before the unlink leaves a file that recovery re-registers, never a row without its file.
                dao.delete(layer.digest().hex());
                layers.invalidate(layer.digest());
                if (!lxdBlobs.contains(layer.digest())) layers.store().delete(layer.digest());
            }
            if (!garbage.isEmpty() || !lxdRemoved.isEmpty()) {
                LOG.info("garbage collection removed {} layer(s) and {} LXD item file(s), {} bytes", garbage.size(), lxdRemoved.size(), bytes);
            }
        }
        return new Report(dryRun, garbage, bytes, all.size() - garbage.size(), null, lxdRemoved);
    }
}
