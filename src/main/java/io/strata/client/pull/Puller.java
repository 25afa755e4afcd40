package io.strata.client.pull;

import io.strata.client.Backoff;
import io.strata.client.ClientException;
import io.strata.client.Console;
import io.strata.client.Human;
import io.strata.client.Progress;
import io.strata.client.RegistryClient;
import io.strata.client.RemoteIndex.ChainLayer;
import io.strata.client.RemoteIndex.Resolved;
import io.strata.client.RemoteIndex;
import io.strata.client.cache.CacheLayout;
import io.strata.client.cache.CachedImage;
import io.strata.client.cache.FileLocks;
import io.strata.client.cache.IndexCache;
import io.strata.client.cache.IndexTrust;
import io.strata.client.cache.RefStore;
import io.strata.layer.Digest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code strata pull} (DESIGN §8): one conditional index call, the chain's missing layers and
 * their bytes, a free-space check, parallel resumable downloads verified by sha256, and a record
 * in the reference store. Every layer of the chain is held under its shared lock until the pull
 * ends, so a concurrent {@code cache prune} cannot remove it; a layer being downloaded is held
 * exclusively, so two pulls never write the same part file.
 */
public final class Puller {
    /**
     * What to pull and how.
     *
     * @param registry     the registry URL; may be empty only with {@code preferCached} and a cached image
     * @param ref          an alias, a fingerprint or a fingerprint prefix (8+ hex digits)
     * @param jobs         layers downloaded at the same time
     * @param maxAttempts  per layer: attempts in a row without progress, and failed verifications, before giving up
     * @param idleTimeout  a connection that delivers nothing for this long is dropped and resumed
     * @param freeSpace    how free disk space is measured (an interface so tests can stage a full disk)
     * @param splitBytes   the smallest range a running download is split into when a connection is to spare
     * @param token        a bearer token for a private registry (any scope reads); empty for a public one
     * @param key          the minisign public key the index must be signed with (pull --key); empty: the pinned one, else pin on first use
     */
    public record Options(CacheLayout cache, Optional<String> registry, String ref, int jobs, int maxAttempts,
                          boolean preferCached, Backoff backoff, Duration idleTimeout, FreeSpace freeSpace, long splitBytes,
                          Optional<String> token, Optional<String> key) {
        public Options {
            if (jobs < 1) throw new IllegalArgumentException("--jobs must be at least 1");
            if (maxAttempts < 1) throw new IllegalArgumentException("--max-attempts must be at least 1");
            if (splitBytes < 1) throw new IllegalArgumentException("the split size must be positive");
        }

        /** A running download's range is split in two when a connection is to spare and both halves have at least this many bytes. */
        public static final long DEFAULT_SPLIT_BYTES = 16L << 20;

        public static Options defaults(Path cacheDir, String registry, String ref) {
            return new Options(new CacheLayout(cacheDir), Optional.ofNullable(registry), ref, 4, 5, false, Backoff.DEFAULT,
                    Duration.ofSeconds(30), FreeSpace.DISK, DEFAULT_SPLIT_BYTES, Optional.empty(), Optional.empty());
        }

        public Options withJobs(int n) { return new Options(cache, registry, ref, n, maxAttempts, preferCached, backoff, idleTimeout, freeSpace, splitBytes, token, key); }

        public Options withMaxAttempts(int n) { return new Options(cache, registry, ref, jobs, n, preferCached, backoff, idleTimeout, freeSpace, splitBytes, token, key); }

        public Options withPreferCached(boolean on) { return new Options(cache, registry, ref, jobs, maxAttempts, on, backoff, idleTimeout, freeSpace, splitBytes, token, key); }

        public Options withBackoff(Backoff b) { return new Options(cache, registry, ref, jobs, maxAttempts, preferCached, b, idleTimeout, freeSpace, splitBytes, token, key); }

        public Options withIdleTimeout(Duration d) { return new Options(cache, registry, ref, jobs, maxAttempts, preferCached, backoff, d, freeSpace, splitBytes, token, key); }

        public Options withFreeSpace(FreeSpace f) { return new Options(cache, registry, ref, jobs, maxAttempts, preferCached, backoff, idleTimeout, f, splitBytes, token, key); }

        public Options withSplitBytes(long bytes) { return new Options(cache, registry, ref, jobs, maxAttempts, preferCached, backoff, idleTimeout, freeSpace, bytes, token, key); }

        public Options withKey(Optional<String> k) { return new Options(cache, registry, ref, jobs, maxAttempts, preferCached, backoff, idleTimeout, freeSpace, splitBytes, token, k); }

        public Options withToken(Optional<String> t) { return new Options(cache, registry, ref, jobs, maxAttempts, preferCached, backoff, idleTimeout, freeSpace, splitBytes, t, key); }
    }

    /**
     * What a pull produced.
     *
     * @param top        the top layer in the cache: qemu opens the whole chain from it
     * @param downloaded layers fetched by this pull (0 when all were cached)
     * @param bytes      bytes those layers hold (resumed parts included)
     * @param offline    true when {@code --prefer-cached} answered from the cache without the registry
     */
    public record Result(Path top, Digest fingerprint, List<Digest> chain, int downloaded, long bytes, boolean offline) {}

    /** A chain layer and what the cache has of it before the downloads start. */
    private record Planned(ChainLayer layer, boolean complete, long partial) {
        long missingBytes() { return complete ? 0 : layer.size() - partial; }
    }

    private final Console console;

    public Puller(Console console) { this.console = console; }

    public Result pull(Options options) throws IOException, InterruptedException {
        CacheLayout cache = options.cache().create();
        RefStore refs = new RefStore(cache, console);
        RefStore.State state = refs.recover();
        String registryName = null;
        if (options.registry().isPresent()) registryName = RegistryClient.baseUri(options.registry().get()).toString();

        if (options.preferCached()) {
            Optional<Result> cached = fromCache(cache, refs, state, registryName, options.ref());
            if (cached.isPresent()) return cached.get();
            console.info("pull: no complete cached image for '" + options.ref() + "'; asking the registry");
        }
        if (registryName == null) RegistryClient.baseUri(null); // throws the "pass --registry" advice
        RegistryClient registry = new RegistryClient(RegistryClient.baseUri(registryName), options.token(), options.idleTimeout());
        IndexCache.Fetched fetched = new IndexCache(cache, refs).fetch(registry, options.maxAttempts(), options.backoff(), console,
                new IndexTrust(cache, refs, options.key()));
        Resolved image = fetched.index().resolve(options.ref(), registry.name());

        List<Planned> plan = plan(cache, image);
        List<Planned> missing = plan.stream().filter(p -> !p.complete()).toList();
        long missingBytes = missing.stream().mapToLong(Planned::missingBytes).sum();
        long resumable = missing.stream().mapToLong(Planned::partial).sum();
        console.info("pull: " + options.ref() + " -> " + image.image().product() + " " + image.image().version() + " ("
                + image.fingerprint().shortHex() + "), " + plan.size() + " layer" + (plan.size() == 1 ? "" : "s") + ", "
                + Human.bytes(image.downloadSize()) + (fetched.notModified() ? "; index unchanged" : ""));
        if (missing.isEmpty()) {
            console.info("pull: every layer is already in the cache");
        } else {
            console.info("pull: " + missing.size() + " missing, " + Human.bytes(missingBytes) + " to download"
                    + (resumable > 0 ? " (resuming " + Human.bytes(resumable) + " already downloaded)" : ""));
            checkFreeSpace(options.freeSpace(), cache.layers(), missingBytes, missing.size());
        }

        Instant started = Instant.now();
        // Every lock the layer tasks take, released when the pull ends, whichever way it ends.
        Queue<FileLocks.Held> held = new ConcurrentLinkedQueue<>();
        AtomicInteger downloaded = new AtomicInteger();
        long moved;
        ExecutorService threads = Executors.newCachedThreadPool(runnable -> {
            Thread thread = new Thread(runnable, "strata-pull");
            thread.setDaemon(true);
            return thread;
        });
        try (Progress progress = console.progress("pull", missing.stream().mapToLong(p -> p.layer().size()).sum())) {
            LayerDownload.Policy policy = new LayerDownload.Policy(options.maxAttempts(), options.backoff(), options.idleTimeout(),
                    new ConnectionGate(options.jobs(), missing.size()), options.splitBytes());
            LayerDownload download = new LayerDownload(registry, cache, progress, console, policy, threads);
            fetchAll(cache, plan, download, threads, progress, held, downloaded);
            CachedImage entry = entry(registry, fetched.index(), image, options.ref(), Instant.now());
            refs.update(s -> RefStore.recordPull(s, entry)); // while the layers are still held: no prune in between
            moved = progress.moved();
        } finally {
            threads.shutdownNow(); // after a failure: stop the other downloads, and let them record what they kept
            threads.awaitTermination(30, TimeUnit.SECONDS);
            for (FileLocks.Held lock : held) lock.close();
        }
        if (!missing.isEmpty()) {
            Duration took = Duration.between(started, Instant.now());
            console.info("pull: downloaded " + downloaded.get() + " layer" + (downloaded.get() == 1 ? "" : "s") + ", "
                    + Human.bytes(missingBytes) + " in " + Human.seconds(took)
                    + (took.toMillis() > 0 ? " (" + Human.rate(moved * 1000.0 / took.toMillis()) + ")" : ""));
        }
        Path top = cache.layer(image.fingerprint());
        return new Result(top, image.fingerprint(), image.chain().stream().map(ChainLayer::digest).toList(), downloaded.get(),
                missingBytes + resumable, false);
    }

    /** What the cache has of each chain layer before anything is downloaded. */
    private static List<Planned> plan(CacheLayout cache, Resolved image) throws IOException {
        List<Planned> plan = new ArrayList<>();
        for (ChainLayer layer : image.chain()) {
            boolean complete = isComplete(cache, layer);
            long partial = complete ? 0 : PartState.resumable(cache.part(layer.digest()), cache.partState(layer.digest()),
                    layer.digest(), layer.size());
            plan.add(new Planned(layer, complete, partial));
        }
        return plan;
    }

    /** The reference store entry of a completed pull. */
    private static CachedImage entry(RegistryClient registry, RemoteIndex index, Resolved image, String ref, Instant now) {
        return new CachedImage(image.fingerprint().hex(), registry.name(), image.image().product(), image.image().version(),
                aliasesFor(index, image, ref), image.chain().stream().map(l -> l.digest().hex()).toList(),
                image.chain().stream().map(ChainLayer::size).toList(), now.toString(), now.toString());
    }

    /** {@code --prefer-cached}: a complete image pulled before for this ref, used without the registry. */
    private Optional<Result> fromCache(CacheLayout cache, RefStore refs, RefStore.State state, String registry, String ref)
            throws IOException, InterruptedException {
        Optional<CachedImage> match = state.images().stream()
                .filter(image -> registry == null || image.registry().equals(registry))
                .filter(image -> image.aliases().contains(ref) || (ref.matches("[0-9a-f]{8,64}") && image.fingerprint().startsWith(ref)))
                .max(Comparator.comparing(CachedImage::pulled));
        if (match.isEmpty() || refs.problem(match.get()).isPresent()) return Optional.empty();
        CachedImage image = match.get();
        List<FileLocks.Held> held = new ArrayList<>();
        try {
            for (Digest layer : image.layers()) held.add(FileLocks.shared(cache.lock(layer), this::waiting));
            if (refs.problem(image).isPresent()) return Optional.empty(); // pruned while we looked
            refs.update(s -> RefStore.touch(s, image.fingerprint(), Instant.now()));
        } finally {
            for (FileLocks.Held lock : held) lock.close();
        }
        console.warn("pull: using the cached " + RefStore.describe(image) + ", " + image.product() + " " + image.version()
                + " pulled " + image.pulled() + " from " + image.registry() + ", without asking the registry (--prefer-cached)");
        Optional<IndexCache.Copy> copy = new IndexCache(cache, refs).stored(image.registry());
        Optional<String> listed = copy.map(c -> c.index().aliases().get(ref));
        if (listed.isPresent() && !listed.get().equals(image.fingerprint())) {
            RemoteIndex.Image newer = copy.get().index().images().get(listed.get());
            console.warn("pull: the registry's index fetched at " + copy.get().fetched() + " already points '" + ref + "' at a newer image "
                    + listed.get().substring(0, 12) + (newer == null ? "" : " (" + newer.product() + " " + newer.version() + ")")
                    + "; pull without --prefer-cached to get it");
        } else {
            console.warn("pull: the registry may have a newer image for '" + ref + "'; pull without --prefer-cached to check");
        }
        return Optional.of(new Result(cache.layer(image.top()), new Digest(image.fingerprint()), image.layers(), 0, 0, true));
    }

    private void fetchAll(CacheLayout cache, List<Planned> plan, LayerDownload download,
                          ExecutorService threads, Progress progress, Queue<FileLocks.Held> held, AtomicInteger downloaded)
            throws IOException, InterruptedException {
        // Largest first: connection slots are handed out fairly in this order, so the long downloads start at once.
        // The layers to download come first, so they are the gate's layers 0..missing-1.
        List<Planned> order = plan.stream().sorted(Comparator.comparing(Planned::complete)
                .thenComparing(Comparator.comparingLong(Planned::missingBytes).reversed())).toList();
        List<Future<?>> futures = new ArrayList<>();
        for (int i = 0; i < order.size(); i++) {
            Planned planned = order.get(i);
            int ordinal = i;
            futures.add(threads.submit(() -> {
                use(cache, planned, ordinal, download, progress, downloaded, held);
                return null;
            }));
        }
        List<String> failures = new ArrayList<>();
        IOException first = null;
        for (Future<?> future : futures) {
            try {
                future.get();
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (first == null) {
                    // one layer failed: the pull fails; stop the others (what they downloaded is kept)
                    for (Future<?> other : futures) other.cancel(true);
                    first = cause instanceof IOException io ? io : new IOException(cause.toString(), cause);
                }
                if (!(cause instanceof InterruptedException)) failures.add(cause.getMessage());
            } catch (java.util.concurrent.CancellationException e) {
                // stopped because another layer failed
            }
        }
        if (first != null) {
            if (failures.size() > 1) throw new ClientException(String.join("\n  ", failures), first);
            throw first;
        }
    }

    /**
     * Makes the layer complete in the cache and leaves its shared lock in {@code held}. A download needs the
     * exclusive lock, which cannot be had while holding the shared one, so the shared lock is
     * taken again afterwards and the file checked again (a prune may have run in between).
     */
    private void use(CacheLayout cache, Planned planned, int ordinal, LayerDownload download, Progress progress,
                     AtomicInteger downloaded, Queue<FileLocks.Held> held) throws IOException, InterruptedException {
        ChainLayer layer = planned.layer();
        Path lock = cache.lock(layer.digest());
        boolean counted = !planned.complete();
        while (true) {
            FileLocks.Held shared = FileLocks.shared(lock, this::waiting);
            held.add(shared);
            if (isComplete(cache, layer)) return;
            shared.close();
            try (FileLocks.Held exclusive = FileLocks.exclusive(lock, this::waiting)) {
                if (isComplete(cache, layer)) {
                    if (counted) progress.skip(layer.size()); // another pull fetched it meanwhile
                } else {
                    download.run(layer, ordinal);
                    downloaded.incrementAndGet();
                }
                counted = false;
            }
        }
    }

    private void waiting(String why) {
        console.info("pull: waiting: " + why);
    }

    static boolean isComplete(CacheLayout cache, ChainLayer layer) {
        Path file = cache.layer(layer.digest());
        try {
            return Files.isRegularFile(file) && Files.size(file) == layer.size();
        } catch (IOException e) {
            return false;
        }
    }

    /** The aliases this pull makes point at the image: those the index gives it, and the ref if it was an alias. */
    private static List<String> aliasesFor(RemoteIndex index, Resolved image, String ref) {
        List<String> aliases = new ArrayList<>(image.aliases());
        if (index.aliases().containsKey(ref) && !aliases.contains(ref)) aliases.add(ref);
        return aliases;
    }

    static void checkFreeSpace(FreeSpace freeSpace, Path dir, long needed, int layers) throws IOException {
        long free = freeSpace.usableBytes(dir);
        if (free < needed) {
            throw new ClientException("not enough free space in " + dir + ": the " + layers + " missing layer"
                    + (layers == 1 ? "" : "s") + " need " + Human.bytes(needed) + " (" + needed + " bytes) but only "
                    + Human.bytes(free) + " (" + free + " bytes) are free; free some space (e.g. 'strata cache prune"
                    + " --max-size SIZE'), or pull into a larger disk with --cache DIR");
        }
    }
}
