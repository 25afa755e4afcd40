package io.strata.client.pull;

import io.strata.client.Backoff;
import io.strata.client.ClientException;
import io.strata.client.Console;
import io.strata.client.Human;
import io.strata.client.PlainHttp;
import io.strata.client.Progress;
import io.strata.client.RegistryClient;
import io.strata.client.Timings;
import io.strata.client.cache.CacheLayout;
import io.strata.client.pull.PartState.Segment;
import io.strata.client.RemoteIndex.ChainLayer;
import io.strata.layer.Digest;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.ResponseInfo;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Downloads one layer into the cache: into {@code <sha256>.qcow2.part}, then verifies its sha256
 * and renames it to {@code <sha256>.qcow2}. Bytes that fail verification are deleted, never kept.
 * The caller holds the layer's exclusive lock.
 *
 * <p><b>Resume.</b> After a dropped connection, a stall longer than the idle timeout or a 5xx
 * answer, the download continues from the bytes on disk with {@code Range: bytes=<have>-} and
 * {@code If-Range: "<sha256>"}; a 200 answer means the registry sends the whole file again, so the
 * part starts over. A part left by an earlier pull is resumed the same way.
 *
 * <p><b>Attempts.</b> An attempt that brought new bytes resets the count, so a long download over
 * a flaky link keeps going as long as it moves; {@code maxAttempts} attempts in a row without
 * progress give up (keeping the part for the next pull), and so do {@code maxAttempts} failed
 * verifications. Waits between attempts grow exponentially.
 *
 * <p><b>Ranges in parallel.</b> A layer starts as one request. When the pull has a connection to
 * spare, the gate splits the range with the most bytes left: its request stops halfway through
 * what it has left, and a new request fetches the rest ({@link Ranges#split}). The part then has
 * holes, and {@link PartState} records how far each range got. A {@link PrefixHasher} hashes the
 * part from the start as it becomes contiguous, so verification overlaps the transfer whether or
 * not the layer is split.
 */
final class LayerDownload {
    /** An attempt that added fewer bytes than this did not make progress. */
    static final long PROGRESS_BYTES = 64 * 1024;
    /** Bytes read from the socket per write to the part: large writes cost the least per byte. */
    private static final int RECEIVE_BUFFER = 1 << 20;
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");
    private static final String TOO_MUCH = "the registry sent more bytes than the range holds";

    /**
     * How downloads behave.
     *
     * @param connections the connection slots all downloads of a pull share ({@code --jobs}), opened as they help
     * @param splitBytes  the smallest range a layer is split into
     */
    record Policy(int maxAttempts, Backoff backoff, Duration idleTimeout, ConnectionGate connections, long splitBytes) {}

    private final RegistryClient registry;
    private final CacheLayout cache;
    private final Progress progress;
    private final Console console;
    private final Policy policy;
    private final ExecutorService threads;

    LayerDownload(RegistryClient registry, CacheLayout cache, Progress progress, Console console, Policy policy,
                  ExecutorService threads) {
        this.registry = registry;
        this.cache = cache;
        this.progress = progress;
        this.console = console;
        this.policy = policy;
        this.threads = threads;
    }

    /**
     * Downloads and verifies {@code layer}, over as many connections as the gate lends it;
     * {@code ordinal} is its place in the pull's order, which decides who gets a freed connection slot.
     */
    void run(ChainLayer layer, int ordinal) throws IOException, InterruptedException {
        Digest digest = layer.digest();
        long size = layer.size();
        Path part = cache.part(digest);
        Path record = cache.partState(digest);
        URI url = registry.resolve(layer.path());
        Timings timings = Timings.of("pull " + digest.shortHex() + " " + Human.bytes(size));
        int corrupt = 0;
        while (true) {
            Ranges ranges = new Ranges(PartState.plan(part, record, digest, size));
            progress.skip(ranges.done());
            PrefixHasher hasher = new PrefixHasher(part, record, digest, size, ranges, timings);
            Future<?> hashing = threads.submit(hasher);
            String actual;
            try {
                new Fetch(url, digest, size, ordinal, ranges, hasher, timings).run();
                long waited = timings.start();
                actual = hasher.awaitDigest();
                timings.add("verify-after-last-byte", waited);
            } catch (IOException | InterruptedException | RuntimeException e) {
                hasher.stop();
                waitQuietly(hashing);
                hasher.persist(); // what arrived is kept, with a record of where each range got to
                throw e;
            }
            hasher.stop();
            waitQuietly(hashing);
            if (actual.equals(digest.hex())) {
                Files.deleteIfExists(record);
                LayerFiles.commit(part, cache.layer(digest), timings);
                timings.report();
                return;
            }
            Files.deleteIfExists(part);
            Files.deleteIfExists(record);
            progress.rewind(size);
            corrupt++;
            String problem = "the bytes received hash to " + actual.substring(0, 12) + "…, not " + digest.shortHex() + "…";
            if (corrupt >= policy.maxAttempts()) {
                throw new ClientException("layer " + digest.shortHex() + " failed verification " + corrupt + " times: "
                        + problem + "; the bad downloads were deleted. The registry's copy of the layer is damaged"
                        + " (or something between you and it changes bytes): tell the registry's operator to run"
                        + " 'strata verify', then pull again");
            }
            console.warn("layer " + digest.shortHex() + ": " + problem + "; deleted it, downloading again ("
                    + corrupt + "/" + policy.maxAttempts() + ")");
            policy.backoff().sleep(corrupt);
        }
    }

    /**
     * One pass over a layer's ranges: a worker per unfinished range, and one more each time the
     * gate lends a spare slot and splits a range (see {@link ConnectionGate}). The first failure
     * stops the others.
     */
    private final class Fetch implements ConnectionGate.Splittable {
        private final URI url;
        private final Digest digest;
        private final long size;
        private final int ordinal;
        private final Ranges ranges;
        private final PrefixHasher hasher;
        private final Timings timings;
        private final List<Future<?>> workers = new ArrayList<>(); // under this
        private int unfinished; // under this
        private Throwable failure; // under this
        private volatile boolean closed;

        Fetch(URI url, Digest digest, long size, int ordinal, Ranges ranges, PrefixHasher hasher, Timings timings) {
            this.url = url;
            this.digest = digest;
            this.size = size;
            this.ordinal = ordinal;
            this.ranges = ranges;
            this.hasher = hasher;
            this.timings = timings;
        }

        void run() throws IOException, InterruptedException {
            synchronized (this) {
                for (Segment segment : ranges.list()) {
                    if (!segment.complete()) start(segment, false);
                }
            }
            policy.connections().register(this);
            Throwable failed;
            try {
                synchronized (this) {
                    // A split adds a worker only while the range it splits is receiving, which its
                    // worker stops before it ends: once none is left, none will be added.
                    while (unfinished > 0 && failure == null) wait();
                    failed = failure;
                }
            } finally {
                closed = true;
                policy.connections().unregister(this);
                List<Future<?>> started;
                synchronized (this) {
                    started = List.copyOf(workers);
                }
                for (Future<?> worker : started) worker.cancel(true);
                for (Future<?> worker : started) waitQuietly(worker);
            }
            if (failed instanceof IOException io) throw io;
            if (failed instanceof InterruptedException interrupted) throw interrupted;
            if (failed instanceof RuntimeException runtime) throw runtime;
            if (failed != null) throw new IOException(failed);
        }

        @Override
        public long splittable() {
            return closed ? 0 : ranges.splittable(policy.splitBytes());
        }

        @Override
        public synchronized boolean split() {
            return !closed && ranges.split(policy.splitBytes(), rest -> start(rest, true));
        }

        /** Starts a worker for {@code segment}; {@code granted}: the gate gave it a slot already. Under this. */
        private void start(Segment segment, boolean granted) {
            unfinished++;
            Future<?> worker;
            try {
                worker = threads.submit(() -> {
                    try {
                        fetchRange(url, digest, size, segment, ordinal, granted, ranges, hasher, timings);
                    } catch (Throwable e) {
                        synchronized (this) {
                            if (failure == null) failure = e;
                        }
                    } finally {
                        synchronized (this) {
                            unfinished--;
                            notifyAll();
                        }
                    }
                    return null;
                });
            } catch (RuntimeException e) {
                unfinished--; // the pull is stopping: the pool takes no more work
                throw e;
            }
            workers.add(worker);
        }
    }

    private void fetchRange(URI url, Digest digest, long size, Segment segment, int ordinal, boolean granted, Ranges ranges,
                            PrefixHasher hasher, Timings timings)
            throws IOException, InterruptedException {
        int stalls = 0;
        boolean held = granted;
        ByteBuffer buffer = null;
        while (!segment.complete()) {
            Attempt attempt;
            boolean whole;
            try {
                if (!held) policy.connections().acquire(ordinal, ranges.indexOf(segment));
                held = true;
                if (buffer == null) buffer = ByteBuffer.allocateDirect(RECEIVE_BUFFER);
                hasher.rangeStarting(segment); // records the segments before this range's bytes could leave a hole
                whole = ranges.size() == 1;
                attempt = attempt(url, digest, size, segment, whole, hasher, buffer, timings);
            } finally {
                if (held) policy.connections().release();
                held = false;
            }
            if (attempt.problem() == null) continue;
            boolean progressed = attempt.gained() >= PROGRESS_BYTES || segment.complete();
            stalls = progressed ? 0 : stalls + 1;
            if (stalls >= policy.maxAttempts()) {
                throw new ClientException("layer " + digest.shortHex() + ": giving up after " + stalls
                        + " attempts in a row without progress (last: " + attempt.problem() + "); "
                        + (segment.next() > 0 ? "what was downloaded is kept in " + cache.part(digest)
                        + ", so running the same pull again resumes there" : "run the same pull again when the registry is reachable"));
            }
            console.info("layer " + digest.shortHex() + ": " + attempt.problem() + "; resuming at "
                    + (whole ? Human.bytes(segment.next()) + " of " + Human.bytes(size)
                    : "byte " + segment.next() + " of range " + segment.start + "-" + (segment.end - 1))
                    + (progressed ? "" : " (" + stalls + "/" + policy.maxAttempts() + ")"));
            if (!progressed) policy.backoff().sleep(stalls);
        }
        if (held) policy.connections().release(); // granted for a range that was done before it began
    }

    /** What one request achieved: bytes added, or the retryable problem that ended it (null when it ended well). */
    private record Attempt(long gained, String problem) {}

    /**
     * One request for the rest of a range. Fatal answers (404, other 4xx, a size that contradicts
     * the index) throw; retryable ones (a cut, a stall, 5xx, 416) return a problem. Plain
     * {@code http://} goes over {@link PlainHttp}; https, and answers it does not take (a redirect,
     * a chunked body), go over the JDK client.
     */
    private Attempt attempt(URI url, Digest digest, long size, Segment segment, boolean whole, PrefixHasher hasher,
                            ByteBuffer buffer, Timings timings) throws IOException, InterruptedException {
        long from = segment.next();
        long last = segment.end - 1;
        Map<String, String> headers = new LinkedHashMap<>(registry.readAuth());
        if (from > 0 || !whole) {
            headers.put("Range", "bytes=" + from + "-" + (whole ? "" : Long.toString(last)));
            headers.put("If-Range", "\"" + digest.hex() + "\"");
        }
        if ("http".equalsIgnoreCase(url.getScheme())) {
            long asked = timings.start();
            PlainHttp get;
            try {
                get = PlainHttp.open(url, headers, policy.idleTimeout());
            } catch (IOException e) {
                return new Attempt(0, describe(e, 0));
            }
            try (get) {
                timings.add("head", asked);
                if (get.status() / 100 != 3 && get.plainBody()) {
                    Verdict verdict = judge(get.status(), get::header, digest, size, from, last, whole);
                    if (verdict.problem() != null) return new Attempt(0, verdict.problem());
                    return receive(digest, segment, last + 1, verdict.restart(), get, hasher, buffer, timings);
                }
            }
        }
        HttpRequest.Builder request = HttpRequest.newBuilder(url).timeout(policy.idleTimeout()).GET();
        headers.forEach(request::header);
        BodyQueue body = new BodyQueue();
        CompletableFuture<HttpResponse<Void>> response = registry.http().sendAsync(request.build(), body::subscriberFor);
        try {
            ResponseInfo info;
            long asked = timings.start();
            try {
                info = body.awaitHead(response, policy.idleTimeout());
                timings.add("head", asked);
            } catch (ExecutionException e) {
                return new Attempt(0, describe(e.getCause(), 0));
            } catch (TimeoutException e) {
                return new Attempt(0, "no answer within " + Human.seconds(policy.idleTimeout()));
            }
            Verdict verdict = judge(info.statusCode(), info.headers()::firstValue, digest, size, from, last, whole);
            if (verdict.problem() != null) return new Attempt(0, verdict.problem());
            return receive(digest, segment, last + 1, verdict.restart(), body, hasher, timings);
        } finally {
            body.cancel();
            response.cancel(true);
        }
    }

    /** What an answer's head means: a retryable problem, or go on (restart: the whole file comes again from byte 0). */
    private record Verdict(String problem, boolean restart) {}

    /** Judges the status and headers of an answer to a request for bytes {@code from..last}; throws for fatal answers. */
    private static Verdict judge(int status, Function<String, Optional<String>> header, Digest digest, long size, long from,
                                 long last, boolean whole) throws ClientException {
        if (status == 206) {
            String range = header.apply("Content-Range").orElse("");
            Matcher m = CONTENT_RANGE.matcher(range);
            if (!m.matches() || Long.parseLong(m.group(1)) != from || Long.parseLong(m.group(2)) != last) {
                return new Verdict("the registry answered range " + from + "-" + last + " with '" + range + "'", false);
            }
            if (!m.group(3).equals("*") && Long.parseLong(m.group(3)) != size) {
                throw sizeMismatch(digest, size, Long.parseLong(m.group(3)));
            }
            return new Verdict(null, false);
        } else if (status == 200) {
            long length = header.apply("Content-Length").map(String::strip).filter(v -> v.matches("[0-9]{1,18}"))
                    .map(Long::parseLong).orElse(-1L);
            if (length >= 0 && length != size) throw sizeMismatch(digest, size, length);
            if (!whole) return new Verdict("the registry answered a range request with the whole file (200)", false);
            return new Verdict(null, from > 0); // If-Range did not match or something in between ignored Range: the whole file again
        } else if (status == 404 || status == 410) {
            throw new ClientException("the registry no longer has layer " + digest.shortHex() + " (" + status
                    + "); the image may have been deleted since the index was fetched: run the pull again to get the current index");
        } else if (status == 416 || status >= 500 || status == 408 || status == 429) {
            return new Verdict("the registry answered " + status, false);
        } else {
            throw new ClientException("GET " + digest.fileName() + ": the registry answered " + status
                    + "; check the --registry URL (a proxy in between may need configuring)");
        }
    }

    /** The registry sends the whole file again (a 200 to a range): what this range had is dropped, the hash starts over. */
    private void restartFromZero(Segment segment, PrefixHasher hasher, FileChannel channel) throws IOException {
        long had = segment.done.getAndSet(0);
        hasher.reset();
        channel.truncate(0);
        progress.rewind(had);
    }

    /**
     * Reads the body from the socket into {@code buffer} (as much as is ready, up to its size) and
     * writes it at the range's next byte; returns what this request added. {@code asked}: the end
     * of the bytes requested, which the range's end may have moved below since (a split).
     */
    private Attempt receive(Digest digest, Segment segment, long asked, boolean restart, PlainHttp get, PrefixHasher hasher,
                            ByteBuffer buffer, Timings timings) throws IOException, InterruptedException {
        Path part = cache.part(digest);
        long written = 0;
        String problem = null;
        try (FileChannel channel = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            if (restart) restartFromZero(segment, hasher, channel);
            startReceiving(segment);
            try {
                boolean ended = false;
                long began = System.nanoTime();
                while (!ended && !segment.complete()) {
                    buffer.clear();
                    long receiving = timings.start();
                    try {
                        int n = get.read(buffer);
                        while (n >= 0 && buffer.hasRemaining() && (n = get.readReady(buffer)) > 0) {
                            // fill the buffer with what has arrived: fewer, larger writes
                        }
                        ended = n < 0;
                    } catch (java.net.http.HttpTimeoutException e) {
                        problem = "no data for " + Human.seconds(policy.idleTimeout()) + " after " + Human.bytes(written);
                        ended = true;
                    } catch (IOException e) {
                        problem = describe(e, written);
                        ended = true;
                    }
                    timings.add("receive", receiving);
                    buffer.flip();
                    long length = take(segment, asked, buffer.remaining(), channel, hasher, timings, buffer);
                    if (length < 0) {
                        problem = TOO_MUCH;
                        break;
                    }
                    written += length;
                    policy.connections().observe(written, get.waitedNanos(), System.nanoTime() - began);
                }
                policy.connections().ended(written, get.waitedNanos(), System.nanoTime() - began);
                if (problem == null && !segment.complete()) problem = "the response ended after " + Human.bytes(written) + ", before the range did";
            } finally {
                stopReceiving(segment);
            }
        } catch (IOException e) {
            throw new ClientException("cannot write the download to " + part + ": " + e.getMessage()
                    + "; check the cache's disk (free space, permissions)", e);
        }
        return new Attempt(written, problem);
    }

    /** Writes the body the JDK client receives into the range and hands it to the hasher; returns what this request added. */
    private Attempt receive(Digest digest, Segment segment, long asked, boolean restart, BodyQueue body, PrefixHasher hasher,
                            Timings timings) throws IOException, InterruptedException {
        Path part = cache.part(digest);
        long written = 0;
        String problem = null;
        try (FileChannel channel = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            if (restart) restartFromZero(segment, hasher, channel);
            startReceiving(segment);
            try {
                long began = System.nanoTime();
                long waited = 0;
                while (!segment.complete()) {
                    long polled = System.nanoTime();
                    Object next = body.poll();
                    waited += System.nanoTime() - polled;
                    timings.add("receive-wait", polled);
                    if (next == null) {
                        if (body.idleNanos() > policy.idleTimeout().toNanos()) {
                            problem = "no data for " + Human.seconds(policy.idleTimeout()) + " after " + Human.bytes(written);
                            break;
                        }
                        continue;
                    }
                    if (next == BodyQueue.END) {
                        problem = "the response ended after " + Human.bytes(written) + ", before the range did";
                        break;
                    }
                    if (next instanceof Throwable error) {
                        problem = describe(error, written);
                        break;
                    }
                    @SuppressWarnings("unchecked")
                    ByteBuffer[] buffers = ((List<ByteBuffer>) next).toArray(ByteBuffer[]::new);
                    long length = 0; // what the queue handed over: all of it is consumed, even past a split
                    for (ByteBuffer buffer : buffers) length += buffer.remaining();
                    long kept = take(segment, asked, length, channel, hasher, timings, buffers);
                    if (kept < 0) {
                        problem = TOO_MUCH;
                        break;
                    }
                    written += kept;
                    body.consumed(length);
                    policy.connections().observe(written, waited, System.nanoTime() - began);
                }
                policy.connections().ended(written, waited, System.nanoTime() - began);
            } finally {
                stopReceiving(segment);
            }
        } catch (IOException e) {
            throw new ClientException("cannot write the download to " + part + ": " + e.getMessage()
                    + "; check the cache's disk (free space, permissions)", e);
        }
        return new Attempt(written, problem);
    }

    /** The range's body flows from now on: the gate may split it (see {@link Ranges#split}). */
    private void startReceiving(Segment segment) {
        synchronized (segment) {
            segment.receiving = true;
        }
        policy.connections().receiving();
    }

    private static void stopReceiving(Segment segment) {
        synchronized (segment) {
            segment.receiving = false;
        }
    }

    /**
     * Writes what a request received, {@code length} bytes in {@code buffers}, into its range
     * ({@link #writeInto}), counts it and wakes the hasher; returns the bytes written, or -1
     * (writing nothing) if that is more than the request asked for ({@code asked}: the end of its bytes).
     */
    private long take(Segment segment, long asked, long length, FileChannel channel, PrefixHasher hasher, Timings timings,
                      ByteBuffer... buffers) throws IOException {
        if (length > asked - segment.next()) return -1;
        long writing = timings.start();
        long kept = writeInto(segment, channel, buffers);
        timings.add("write", writing);
        progress.advance(kept);
        hasher.poke();
        return kept;
    }

    /**
     * Writes the buffers at the range's next byte, under its lock, as far as they still belong to
     * it: a split may have moved its end down since they were asked for, and what lies past it is
     * the new range's, which its own request fetches (this one stops there). Returns the bytes written.
     */
    private static long writeInto(Segment segment, FileChannel channel, ByteBuffer... buffers) throws IOException {
        synchronized (segment) {
            long room = segment.end - segment.next();
            long keep = 0;
            int count = 0;
            while (count < buffers.length && keep < room) {
                ByteBuffer buffer = buffers[count++];
                if (buffer.remaining() > room - keep) buffer.limit(buffer.position() + (int) (room - keep));
                keep += buffer.remaining();
            }
            channel.position(segment.next());
            for (long left = keep; left > 0; ) left -= channel.write(buffers, 0, count);
            segment.done.addAndGet(keep);
            return keep;
        }
    }

    private String describe(Throwable error, long written) {
        if (error instanceof java.net.ConnectException) return "cannot connect to " + registry.name();
        if (error instanceof java.net.http.HttpTimeoutException) return "no answer within " + Human.seconds(policy.idleTimeout());
        String what = error instanceof IOException io ? RegistryClient.describe(io) : String.valueOf(error);
        return written > 0 ? what + " after " + Human.bytes(written) : what;
    }

    private static ClientException sizeMismatch(Digest digest, long expected, long actual) {
        return new ClientException("the registry serves layer " + digest.shortHex() + " with " + actual
                + " bytes but its index says " + expected + "; the registry is inconsistent: tell its operator to run 'strata verify'");
    }

    private static void waitQuietly(Future<?> future) {
        try {
            future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | CancellationException e) {
            // its outcome is reported elsewhere
        }
    }
}
