package io.strata.layer;

import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.LoadingCache;
import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.cluster.ClusterLocks;
import io.strata.layer.qcow2.Qcow2Exception;
import io.strata.layer.qcow2.Qcow2Info;
import io.strata.layer.qcow2.Qcow2Inspector;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The rules for what becomes a stored layer (DESIGN §2) and the lookups readers need.
 * Uploads hand over a verified-length temp file; this class checks the header, digest and parent,
 * then moves the file into the {@link LayerStore} and commits the row, in that order, so a
 * crash at any point leaves either nothing visible or a complete layer.
 */
public final class LayerService {
    private final LayerStore store;
    private final LayerDao dao;
    private final boolean allowEncryption;
    /** Readers look layers up on every request; rows never change once written, so cache them (misses briefly). */
    private final LoadingCache<Digest, Optional<LayerRecord>> records;
    /** Commits (parent check, move, row) share it; garbage collection takes it alone, so it never deletes a parent mid-commit. */
    private final ReentrantReadWriteLock commitLock = new ReentrantReadWriteLock();
    /** Parents of uploads in flight, with a count each: garbage collection must not remove them. */
    private final ConcurrentHashMap<Digest, AtomicInteger> pins = new ConcurrentHashMap<>();
    /** The commit lock's cross-process half, for replicas sharing one database. */
    private final ClusterLocks cluster;
    /** Pins other replicas can see; empty when this is the only process (SQLite). */
    private final Optional<PinDao> sharedPins;
    /** A pin row older than this belongs to a replica that died mid-upload. */
    private static final Duration PIN_LIFETIME = Duration.ofDays(1);

    /** The most guest-visible bytes a layer may declare, and the most layers its chain may have (itself included). */
    private final long maxVirtualSize;
    private final int maxChainDepth;

    public LayerService(LayerStore store, LayerDao dao, boolean allowEncryption) {
        this(store, dao, allowEncryption, Long.MAX_VALUE, Integer.MAX_VALUE);
    }

    public LayerService(LayerStore store, LayerDao dao, boolean allowEncryption, long maxVirtualSize, int maxChainDepth) {
        this(store, dao, allowEncryption, maxVirtualSize, maxChainDepth, ClusterLocks.singleProcess(), Optional.empty());
    }

    public LayerService(LayerStore store, LayerDao dao, boolean allowEncryption, long maxVirtualSize, int maxChainDepth,
                        ClusterLocks cluster, Optional<PinDao> sharedPins) {
        this.cluster = cluster;
        this.sharedPins = sharedPins;
        this.store = store;
        this.dao = dao;
        this.allowEncryption = allowEncryption;
        this.maxVirtualSize = maxVirtualSize;
        this.maxChainDepth = maxChainDepth;
        this.records = Caffeine.newBuilder().maximumSize(100_000).executor(Runnable::run) // maintenance on the reader: see FsLayerStore
                .expireAfter(new com.github.benmanes.caffeine.cache.Expiry<Digest, Optional<LayerRecord>>() {
                    @Override public long expireAfterCreate(Digest key, Optional<LayerRecord> value, long now) {
                        return value.isPresent() ? Long.MAX_VALUE : Duration.ofSeconds(1).toNanos();
                    }
                    @Override public long expireAfterUpdate(Digest key, Optional<LayerRecord> value, long now, long current) {
                        return expireAfterCreate(key, value, now);
                    }
                    @Override public long expireAfterRead(Digest key, Optional<LayerRecord> value, long now, long current) {
                        return current;
                    }
                })
                .build(digest -> dao.find(digest.hex()));
    }

    public LayerStore store() { return store; }

    public Optional<LayerRecord> find(Digest digest) { return records.get(digest); }

    /** The layer's record if it is cached (no database query); empty when unknown or not yet looked up. */
    public Optional<LayerRecord> cached(Digest digest) {
        Optional<LayerRecord> record = records.getIfPresent(digest);
        return record == null ? Optional.empty() : record;
    }

    /** Outcome of {@link #accept}: the layer, and whether this upload created it or it was already there. */
    public record Accepted(LayerRecord layer, boolean created) {}

    /**
     * Checks the first bytes of an upload (DESIGN §2 header rules). With {@code complete} the
     * head is the whole file; otherwise it holds at least {@link Qcow2Inspector#MAX_HEADER_BYTES}
     * bytes or the first cluster, whichever the header needs.
     */
    public Qcow2Info inspect(ByteBuffer head, boolean complete) {
        Qcow2Info info;
        try {
            info = Qcow2Inspector.inspect(head, complete, allowEncryption);
        } catch (Qcow2Exception e) {
            throw new ApiException(ErrorCode.QCOW2_INVALID, e.getMessage(), Map.of("check", e.check().id()));
        }
        checkLimits(info);
        return info;
    }

    /**
     * The registry's own bounds on what a publisher can make clients open (serve
     * --max-virtual-size, --max-chain-depth), checked with the header, so that an upload is refused
     * after its first bytes. Refused like a bad header (QCOW2_INVALID, nothing kept), with their
     * own {@code detail.check}.
     */
    private void checkLimits(Qcow2Info info) {
        if (info.virtualSize() > maxVirtualSize) {
            Map<String, Object> detail = new LinkedHashMap<>();
            detail.put("check", "max_virtual_size");
            detail.put("virtual_size", info.virtualSize());
            detail.put("limit", maxVirtualSize);
            throw new ApiException(ErrorCode.QCOW2_INVALID, "the layer's virtual size of " + info.virtualSize()
                    + " bytes is larger than this registry accepts (" + maxVirtualSize + " bytes, serve --max-virtual-size)", detail);
        }
        Optional<Digest> parent = info.parent();
        if (parent.isEmpty()) return;
        // Depth of the stored chain under the parent; an unknown parent is reported by accept as PARENT_UNKNOWN.
        int depth = 1;
        for (Optional<Digest> next = parent; next.isPresent() && depth <= maxChainDepth; depth++) {
            Optional<LayerRecord> record = find(next.get());
            if (record.isEmpty()) return;
            next = record.get().parent();
        }
        if (depth > maxChainDepth) {
            Map<String, Object> detail = new LinkedHashMap<>();
            detail.put("check", "max_chain_depth");
            detail.put("parent", parent.get().hex());
            detail.put("limit", maxChainDepth);
            throw new ApiException(ErrorCode.QCOW2_INVALID, "the layer would make a backing chain longer than this registry accepts ("
                    + maxChainDepth + " layers, serve --max-chain-depth); flatten the chain (qemu-img convert) and publish that", detail);
        }
    }

    /**
     * Makes a fully received, synced upload a stored layer, or refuses it. The upload is consumed
     * either way: completed into the store, or aborted.
     */
    public Accepted accept(LayerStore.Upload upload, Digest claimed, Digest actual, long size, Qcow2Info header) throws IOException {
        boolean[] moved = {false};
        commitLock.readLock().lock();
        try {
            return cluster.commit(() -> commit(upload, claimed, actual, size, header, moved));
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(e);
        } finally {
            commitLock.readLock().unlock();
            // Consumed either way, also when the cluster lock could not be had.
            if (!moved[0]) upload.abort();
        }
    }

    private Accepted commit(LayerStore.Upload upload, Digest claimed, Digest actual, long size, Qcow2Info header, boolean[] moved)
            throws IOException {
        if (!claimed.equals(actual)) {
            Map<String, Object> detail = new LinkedHashMap<>();
            detail.put("claimed", claimed.hex());
            detail.put("actual", actual.hex());
            detail.put("size", size);
            throw new ApiException(ErrorCode.DIGEST_INVALID,
                    "the received bytes have sha256 " + actual.hex() + ", not the claimed " + claimed.hex()
                            + "; check that the file was not changed and the whole body was sent", detail);
        }
        inspectEnd(upload.seal(), size, header);
        Optional<Digest> parent = header.parent();
        if (parent.isPresent() && dao.find(parent.get().hex()).isEmpty()) {
            throw new ApiException(ErrorCode.PARENT_UNKNOWN,
                    "the backing file " + parent.get().fileName() + " is not a stored layer; upload the parent layer first",
                    Map.of("parent", parent.get().hex()));
        }
        upload.complete(actual);
        moved[0] = true;
        Instant now = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        int inserted = dao.insert(actual.hex(), size, header.virtualSize(), parent.map(Digest::hex).orElse(null),
                header.version(), now.toString());
        records.invalidate(actual);
        LayerRecord record = dao.find(actual.hex()).orElseThrow();
        return new Accepted(record, inserted == 1);
    }

    /** The inspector's checks that need the whole file (its length and last bytes), before it is stored. */
    private static void inspectEnd(LayerStore.Positional bytes, long size, Qcow2Info header) throws IOException {
        try {
            Qcow2Inspector.inspectEnd(header, size, bytes::read);
        } catch (Qcow2Exception e) {
            throw new ApiException(ErrorCode.QCOW2_INVALID, e.getMessage(), Map.of("check", e.check().id()));
        }
    }

    /** Keeps {@code parent} from garbage collection until the returned pin is closed. */
    public AutoCloseable pin(Digest parent) {
        pins.computeIfAbsent(parent, d -> new AtomicInteger()).incrementAndGet();
        AutoCloseable local = () -> pins.computeIfPresent(parent, (d, count) -> count.decrementAndGet() == 0 ? null : count);
        if (sharedPins.isEmpty()) return local;
        String id = java.util.UUID.randomUUID().toString();
        sharedPins.get().insert(id, parent.hex(), Instant.now().truncatedTo(ChronoUnit.MILLIS).toString());
        return () -> {
            local.close();
            try {
                sharedPins.get().delete(id);
            } catch (RuntimeException e) {
                // The upload's outcome matters more; a row left behind stops counting after PIN_LIFETIME.
                org.slf4j.LoggerFactory.getLogger(LayerService.class).warn("could not remove the pin of {}: {}", parent, e.getMessage());
            }
        };
    }

    /** Layers pinned by uploads in flight, right now, in this process and (on a shared database) every other. */
    public Set<Digest> pinned() {
        if (sharedPins.isEmpty()) return Set.copyOf(pins.keySet());
        String cutoff = Instant.now().minus(PIN_LIFETIME).truncatedTo(ChronoUnit.MILLIS).toString();
        sharedPins.get().deleteBefore(cutoff);
        Set<Digest> all = new java.util.HashSet<>(pins.keySet());
        for (String parent : sharedPins.get().parentsSince(cutoff)) all.add(new Digest(parent));
        return Set.copyOf(all);
    }

    /**
     * Runs {@code work} with no commit in progress and none starting; for garbage collection,
     * which must not remove a parent between a commit's parent check and its row.
     */
    public <T> T exclusively(java.util.concurrent.Callable<T> work) throws Exception {
        commitLock.writeLock().lock();
        try {
            return cluster.exclusive(work);
        } finally {
            commitLock.writeLock().unlock();
        }
    }

    /** Forgets a cached lookup after rows change outside {@link #accept} (recovery, garbage collection). */
    public void invalidate(Digest digest) { records.invalidate(digest); }

    /** Forgets every cached lookup: another replica may have removed rows (it bumped the catalog generation). */
    public void invalidateAll() { records.invalidateAll(); }
}
