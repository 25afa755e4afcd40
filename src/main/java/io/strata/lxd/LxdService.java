package io.strata.lxd;

import io.strata.catalog.CatalogService;
import io.strata.catalog.Image;
import io.strata.config.LxdConfig;
import io.strata.jobs.Job;
import io.strata.jobs.JobHandler;
import io.strata.jobs.JobQueue;
import io.strata.jobs.JobWorker;
import io.strata.layer.Digest;
import io.strata.layer.LayerStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Makes, once per image, the files the LXD and Incus clients need (DESIGN §9): the metadata
 * tarball and the flattened disk, both committed to the {@link LayerStore} by their sha256 and
 * recorded in {@code lxd_items}. The work is a durable job per image (io.strata.jobs), so it
 * survives crashes and runs on whichever replica claims it.
 *
 * <p>Which images get items is decided level-triggered, by {@link #reconcile}: the newest
 * {@code --lxd-versions} visible versions of each product. Publishes, deletions, restarts and
 * other replicas' work all show up there, so there is no event to miss.
 *
 * <p>Each step of a job is safe to repeat: a digest is recorded in its row before its blob is
 * committed (so recovery and garbage collection never take a committed blob for garbage), a
 * blob already stored is not made again, and the row becomes ready last.
 */
public final class LxdService implements JobHandler {
    private static final Logger LOG = LoggerFactory.getLogger(LxdService.class);
    public static final String KIND = "lxd-items";
    /** How often a replica looks at rows other replicas may have changed, when its own catalog did not change. */
    private static final Duration REFRESH = Duration.ofSeconds(10);

    private final LayerStore store;
    private final LxdItemDao items;
    private final JobQueue jobs;
    private final CatalogService catalog;
    private final LxdConfig config;
    private final long minFreeBytes;
    private final Clock clock;
    private final Flattener flattener;

    private volatile boolean enabled;
    private volatile String message = LxdView.NONE.message();
    private volatile String registryUrl;
    private JobWorker worker;
    private long reconciledGeneration = -1;
    private Instant reconciledAt = Instant.EPOCH;
    private volatile boolean dirty = true;
    /** Blobs servable under /lxd/, from the last view: digest → the items naming it. */
    private volatile Map<Digest, LxdItems> servable = Map.of();

    public LxdService(LayerStore store, LxdItemDao items, JobQueue jobs, CatalogService catalog, LxdConfig config,
                      long minFreeBytes, Clock clock) {
        this.store = store;
        this.items = items;
        this.jobs = jobs;
        this.catalog = catalog;
        this.config = config;
        this.minFreeBytes = minFreeBytes;
        this.clock = clock;
        this.flattener = new Flattener(config.qemuImg());
    }

    /**
     * Starts making items (a serving process only): looks for qemu-img once, and registers the job
     * handler with {@code worker}. {@code registryUrl} is this server's own plain-HTTP root, which
     * qemu-img reads chains from. A private registry makes none: LXD and Incus send no credentials
     * to a simplestreams remote, so they could not fetch the items anyway.
     */
    public void start(String registryUrl, JobWorker worker, boolean privateRegistry) {
        this.registryUrl = registryUrl;
        this.worker = worker;
        if (!config.enabled()) {
            message = "LXD items are off (--lxd-versions 0)";
        } else if (privateRegistry) {
            message = "LXD items are off on a private registry (--private): LXD and Incus cannot send a token to a "
                    + "simplestreams remote; layer-aware clients are not affected";
            LOG.warn(message);
        } else {
            Optional<String> missing = flattener.unavailable();
            if (missing.isPresent()) {
                message = "LXD items are off: " + missing.get() + "; layer-aware clients are not affected";
                LOG.warn(message);
            } else {
                enabled = true;
                message = "LXD items for the newest " + config.versions() + " version(s) of each product";
                worker.register(this);
                LOG.info("{} (flattened with {})", message, flattener.command());
            }
        }
        dirty = true;
        reconcile();
    }

    public boolean enabled() { return enabled; }

    public String message() { return message; }

    public LxdView view() { return catalog.snapshot().lxd(); }

    /** The ready items a blob under {@code /lxd/} belongs to; empty for any other digest. */
    public Optional<LxdItems> servable(Digest digest) { return Optional.ofNullable(servable.get(digest)); }

    /** Every digest any row names, ready or not: recovery must not take these blobs for stray layer files. */
    public Set<Digest> recordedBlobs() {
        Set<Digest> out = new HashSet<>();
        for (LxdItemDao.Row row : items.all()) {
            row.meta().ifPresent(out::add);
            row.disk().ifPresent(out::add);
        }
        return out;
    }

    // ------------------------------------------------------------------ which images get items

    /**
     * Brings jobs in line with the catalog: a job for each wanted image whose items are not ready,
     * and the view in the catalog snapshot, which lists only wanted images (the items of an image
     * that fell out of the newest N, or was deleted, stay stored until garbage collection removes
     * them). Cheap when nothing changed.
     */
    public synchronized void reconcile() {
        CatalogService.Snapshot snapshot = catalog.snapshot();
        Instant now = clock.instant();
        boolean due = dirty || snapshot.generation() != reconciledGeneration || now.isAfter(reconciledAt.plus(REFRESH));
        if (!due) return;
        dirty = false;
        Map<Digest, Image> wanted = wanted(snapshot);
        Map<Digest, LxdItemDao.Row> rows = new HashMap<>();
        for (LxdItemDao.Row row : items.all()) rows.put(row.image(), row);
        Map<String, Job> jobsByImage = new HashMap<>();
        for (Job job : jobs.ofKind(KIND)) jobsByImage.put(job.target(), job);

        Map<Digest, LxdStatus> statuses = new LinkedHashMap<>();
        boolean added = false;
        for (Image image : wanted.values()) {
            LxdItemDao.Row row = rows.get(image.fingerprint());
            Optional<LxdItems> ready = row == null ? Optional.empty() : row.items();
            if (ready.isPresent()) {
                statuses.put(image.fingerprint(), LxdStatus.ready(ready.get()));
                continue;
            }
            if (!enabled) continue;
            Job job = jobsByImage.get(image.fingerprint().hex());
            if (job == null || job.state() == Job.State.DONE) {
                // New, or done while its row was dropped or changed (e.g. it came back into the newest N).
                jobs.enqueue(KIND, image.fingerprint().hex(), true);
                added = true;
                statuses.put(image.fingerprint(), new LxdStatus(LxdStatus.State.PREPARING, Optional.empty(), Optional.empty(), 0));
            } else if (job.state() == Job.State.FAILED) {
                statuses.put(image.fingerprint(), new LxdStatus(LxdStatus.State.FAILED, Optional.empty(), job.lastError(), job.attempts()));
            } else {
                statuses.put(image.fingerprint(), new LxdStatus(LxdStatus.State.PREPARING, Optional.empty(), job.lastError(), job.attempts()));
            }
        }
        LxdView view = new LxdView(enabled, message, config.versions(), statuses);
        Map<Digest, LxdItems> blobs = new HashMap<>();
        for (LxdStatus status : statuses.values()) {
            status.items().ifPresent(i -> {
                blobs.put(i.meta(), i);
                blobs.put(i.disk(), i);
            });
        }
        servable = Map.copyOf(blobs);
        catalog.lxdChanged(view);
        reconciledGeneration = catalog.snapshot().generation();
        reconciledAt = now;
        if (added && worker != null) worker.wake();
    }

    /** The newest {@code versions} visible versions of each product (snapshot order: product, then newest first). */
    private Map<Digest, Image> wanted(CatalogService.Snapshot snapshot) {
        Map<Digest, Image> out = new LinkedHashMap<>();
        if (config.versions() == 0) return out;
        Map<String, Integer> taken = new HashMap<>();
        for (Image image : snapshot.images()) {
            int n = taken.merge(image.product().id(), 1, Integer::sum);
            if (n <= config.versions()) out.put(image.fingerprint(), image);
        }
        return out;
    }

    // ------------------------------------------------------------------ the job

    @Override public String kind() { return KIND; }

    @Override
    public void changed(Job job) {
        dirty = true;
        reconcile();
    }

    @Override
    public void run(Job job, Lease lease) throws Exception {
        Digest fingerprint = new Digest(job.target());
        Image image = wanted(catalog.snapshot()).get(fingerprint);
        if (image == null) return; // deleted, hidden or no longer among the newest: nothing to make
        String key = fingerprint.hex();
        LxdItemDao.Row row = items.find(key).orElse(null);

        byte[] meta = MetadataTarball.of(image);
        Digest metaDigest = sha256(meta);
        if (row == null || !row.meta().equals(Optional.of(metaDigest)) || !store.exists(metaDigest)) {
            items.setMeta(key, metaDigest.hex(), meta.length, now());
            Path temp = store.newTempFile("lxd-meta-");
            try {
                Files.write(temp, meta);
                fsync(temp);
                store.commit(temp, metaDigest);
            } finally {
                Files.deleteIfExists(temp);
            }
        }

        Optional<Digest> stored = row == null ? Optional.empty() : row.disk().filter(store::exists);
        Digest disk;
        long diskSize;
        Digest combined;
        if (stored.isPresent()) {
            disk = stored.get();
            diskSize = row.diskSize();
            combined = combinedOfStored(meta, disk);
        } else {
            long free = store.usableSpace();
            long needed = image.downloadSize() + minFreeBytes;
            if (free < needed) {
                throw new IOException("not enough free space to flatten: " + free + " bytes free, needs " + needed
                        + " (the chain's " + image.downloadSize() + " bytes plus --min-free)");
            }
            Path temp = store.newTempFile("lxd-disk-");
            try {
                Digest top = image.chain().get(image.chain().size() - 1);
                long started = System.nanoTime();
                flattener.flatten(registryUrl + "/layers/" + top.fileName(), temp, lease::lost);
                if (lease.lost()) throw new IOException("stopped: the job's lease was lost");
                fsync(temp);
                Digest[] both = hashes(meta, temp);
                disk = both[0];
                combined = both[1];
                diskSize = Files.size(temp);
                items.setDisk(key, disk.hex(), diskSize, now());
                store.commit(temp, disk);
                LOG.info("flattened {} {} ({} layers, {} bytes) into {} bytes in {} ms", image.product().id(), image.version(),
                        image.chain().size(), image.downloadSize(), diskSize, (System.nanoTime() - started) / 1_000_000);
            } finally {
                Files.deleteIfExists(temp);
            }
        }
        if (lease.lost()) return;
        if (items.setReady(key, metaDigest.hex(), disk.hex(), combined.hex(), now()) == 0) {
            throw new IOException("the LXD items of " + key + " changed while they were made; making them again");
        }
    }

    // ------------------------------------------------------------------ garbage collection

    /** A blob garbage collection removed (or would remove). */
    public record Collected(Digest digest, long size) {}

    /**
     * For garbage collection, with the catalog held still: drops the rows (and jobs) of images that
     * no longer get LXD items (deleted, or older than the newest {@code --lxd-versions}), then the
     * blobs no remaining row names. {@code layers} are the digests of the layers that stay: a blob
     * equal to a layer's bytes is that layer's file too and stays.
     */
    public List<Collected> collect(Set<Digest> layers, boolean dryRun) throws IOException {
        Set<Digest> liveImages = wanted(catalog.snapshot()).keySet();
        List<LxdItemDao.Row> all = items.all();
        Set<Digest> stillNamed = new HashSet<>();
        List<LxdItemDao.Row> gone = new ArrayList<>();
        for (LxdItemDao.Row row : all) {
            if (liveImages.contains(row.image())) {
                row.meta().ifPresent(stillNamed::add);
                row.disk().ifPresent(stillNamed::add);
            } else {
                gone.add(row);
            }
        }
        Map<Digest, Long> garbage = new LinkedHashMap<>();
        for (LxdItemDao.Row row : gone) {
            row.meta().filter(d -> !stillNamed.contains(d) && !layers.contains(d)).ifPresent(d -> garbage.put(d, row.metaSize()));
            row.disk().filter(d -> !stillNamed.contains(d) && !layers.contains(d)).ifPresent(d -> garbage.put(d, row.diskSize()));
        }
        List<Collected> removed = new ArrayList<>();
        for (Map.Entry<Digest, Long> blob : garbage.entrySet()) {
            if (!store.exists(blob.getKey())) continue;
            removed.add(new Collected(blob.getKey(), blob.getValue()));
        }
        if (!dryRun) {
            // Blobs first, rows last: a crash in between leaves a row of a deleted image naming a missing
            // blob (never served, removed next time), never a blob no row names.
            for (Collected blob : removed) store.delete(blob.digest());
            for (LxdItemDao.Row row : gone) {
                items.delete(row.image().hex());
                jobs.forget(KIND, row.image().hex());
            }
            // The next reconcile tick refreshes the view; not from here: garbage collection holds the catalog's
            // lock, and reconcile takes this object's lock before the catalog's.
            if (!gone.isEmpty()) dirty = true;
        }
        return removed;
    }

    // ------------------------------------------------------------------ helpers

    /** [sha256(disk), sha256(meta ‖ disk)] in one read of the disk file. */
    private static Digest[] hashes(byte[] meta, Path disk) throws IOException {
        MessageDigest alone = io.strata.layer.Digest.sha256();
        MessageDigest combined = io.strata.layer.Digest.sha256();
        combined.update(meta);
        ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
        try (FileChannel channel = FileChannel.open(disk, StandardOpenOption.READ)) {
            while (channel.read(buffer) > 0) {
                buffer.flip();
                alone.update(buffer.duplicate());
                combined.update(buffer);
                buffer.clear();
            }
        }
        return new Digest[] {Digest.of(alone.digest()), Digest.of(combined.digest())};
    }

    /** sha256(meta ‖ disk) with the disk read back from the store (a job resumed after the disk was committed). */
    private Digest combinedOfStored(byte[] meta, Digest disk) throws IOException {
        MessageDigest combined = io.strata.layer.Digest.sha256();
        combined.update(meta);
        LayerStore.LayerContent content = store.open(disk);
        try (java.io.InputStream in = content.stream(0, content.size())) {
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) combined.update(buffer, 0, n);
        }
        return Digest.of(combined.digest());
    }

    private static Digest sha256(byte[] bytes) { return Digest.of(io.strata.layer.Digest.sha256().digest(bytes)); }

    private static void fsync(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.force(true);
        }
    }

    private String now() { return clock.instant().truncatedTo(ChronoUnit.MILLIS).toString(); }
}
