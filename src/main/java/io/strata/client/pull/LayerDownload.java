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
 * <p><b>Ranges in parallel.</b> A large layer may be fetched as several ranges at once (when the
 * pull has connections to spare); the part then has holes, and {@link PartState} records how far
 * each range got. A {@link PrefixHasher} hashes the part from the start as it becomes contiguous,
 * so verification overlaps the transfer whether or not the layer is split.
 */
final class LayerDownload {
    /** An attempt that added fewer bytes than this did not make progress. */
    static final long PROGRESS_BYTES = 64 * 1024;
    /** Bytes read from the socket per write to the part: large writes cost the least per byte. */
    private static final int RECEIVE_BUFFER = 1 << 20;
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");

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
     * Downloads and verifies {@code layer} over up to {@code connections} connections at once;
     * {@code ordinal} is its place in the pull's order, which decides who gets a freed connection slot.
     */
    void run(ChainLayer layer, int connections, int ordinal) throws IOException, InterruptedException {
        Digest digest = layer.digest();
        long size = layer.size();
        Path part = cache.part(digest);
        Path record = cache.partState(digest);
        URI url = registry.resolve(layer.path());
        Timings timings = Timings.of("pull " + digest.shortHex() + " " + Human.bytes(size));
        int corrupt = 0;
        while (true) {
            List<Segment> segments = PartState.plan(part, record, digest, size, connections, policy.splitBytes());
            progress.skip(segments.stream().mapToLong(s -> s.done.get()).sum());
            PrefixHasher hasher = new PrefixHasher(part, record, digest, size, segments, timings);
            Future<?> hashing = threads.submit(hasher);
            String actual;
            try {
                fetch(url, digest, size, ordinal, segments, hasher, timings);
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

    /** Runs one worker per unfinished range; the first failure stops the others. */
    private void fetch(URI url, Digest digest, long size, int ordinal, List<Segment> segments, PrefixHasher hasher, Timings timings)
            throws IOException, InterruptedException {
        boolean whole = segments.size() == 1;
        List<Future<?>> workers = new ArrayList<>();
        for (int i = 0; i < segments.size(); i++) {
            Segment segment = segments.get(i);
            if (segment.complete()) continue;
            int range = i;
            workers.add(threads.submit(() -> {
                fetchRange(url, digest, size, segment, ordinal, range, whole, hasher, timings);
                return null;
            }));
        }
        try {
            for (Future<?> worker : workers) {
                try {
                    worker.get();
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause();
                    if (cause instanceof IOException io) throw io;
                    if (cause instanceof InterruptedException interrupted) throw interrupted;
                    if (cause instanceof RuntimeException runtime) throw runtime;
                    throw new IOException(cause);
                }
            }
        } finally {
            for (Future<?> worker : workers) worker.cancel(true);
            for (Future<?> worker : workers) waitQuietly(worker);
        }
    }

    private void fetchRange(URI url, Digest digest, long size, Segment segment, int ordinal, int range, boolean whole, PrefixHasher hasher,
                            Timings timings)
            throws IOException, InterruptedException {
        int stalls = 0;
        ByteBuffer buffer = ByteBuffer.allocateDirect(RECEIVE_BUFFER);
        while (!segment.complete()) {
            Attempt attempt;
            policy.connections().acquire(ordinal, range);
            try {
                hasher.rangeStarting(range); // records the segments before this range's bytes could leave a hole
                attempt = attempt(url, digest, size, segment, whole, hasher, buffer, timings);
            } finally {
                policy.connections().release();
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
                    return receive(digest, segment, verdict.restart(), get, hasher, buffer, timings);
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
            return receive(digest, segment, verdict.restart(), body, hasher, timings);
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
     * writes it at the range's next byte with positional writes; returns what this request added.
     */
    private Attempt receive(Digest digest, Segment segment, boolean restart, PlainHttp get, PrefixHasher hasher, ByteBuffer buffer,
                            Timings timings) throws IOException, InterruptedException {
        Path part = cache.part(digest);
        long written = 0;
        String problem = null;
        try (FileChannel channel = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            if (restart) restartFromZero(segment, hasher, channel);
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
                int length = buffer.remaining();
                if (length > segment.end - segment.next()) {
                    problem = "the registry sent more bytes than the range holds";
                    break;
                }
                long writing = timings.start();
                long position = segment.next();
                while (buffer.hasRemaining()) position += channel.write(buffer, position);
                timings.add("write", writing);
                segment.done.addAndGet(length);
                written += length;
                progress.advance(length);
                hasher.poke();
                policy.connections().observe(written, get.waitedNanos(), System.nanoTime() - began);
            }
            policy.connections().ended(written, get.waitedNanos(), System.nanoTime() - began);
            if (problem == null && !segment.complete()) problem = "the response ended after " + Human.bytes(written) + ", before the range did";
        } catch (IOException e) {
            throw new ClientException("cannot write the download to " + part + ": " + e.getMessage()
                    + "; check the cache's disk (free space, permissions)", e);
        }
        return new Attempt(written, problem);
    }

    /** Writes the body the JDK client receives into the range and hands it to the hasher; returns what this request added. */
    private Attempt receive(Digest digest, Segment segment, boolean restart, BodyQueue body, PrefixHasher hasher, Timings timings)
            throws IOException, InterruptedException {
        Path part = cache.part(digest);
        long written = 0;
        String problem = null;
        try (FileChannel channel = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            if (restart) restartFromZero(segment, hasher, channel);
            channel.position(segment.next());
            long began = System.nanoTime();
            long waited = 0;
            while (true) {
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
                    if (!segment.complete()) problem = "the response ended after " + Human.bytes(written) + ", before the range did";
                    break;
                }
                if (next instanceof Throwable error) {
                    problem = describe(error, written);
                    break;
                }
                @SuppressWarnings("unchecked")
                List<ByteBuffer> buffers = (List<ByteBuffer>) next;
                long writing = timings.start();
                long length = write(channel, buffers, segment.end - segment.next());
                timings.add("write", writing);
                if (length < 0) {
                    problem = "the registry sent more bytes than the range holds";
                    break;
                }
                segment.done.addAndGet(length);
                written += length;
                progress.advance(length);
                hasher.poke();
                body.consumed(length);
                policy.connections().observe(written, waited, System.nanoTime() - began);
            }
            policy.connections().ended(written, waited, System.nanoTime() - began);
        } catch (IOException e) {
            throw new ClientException("cannot write the download to " + part + ": " + e.getMessage()
                    + "; check the cache's disk (free space, permissions)", e);
        }
        return new Attempt(written, problem);
    }

    /** Writes the buffers at the channel's position; -1 (writing nothing) if they hold more than {@code room}. */
    private static long write(FileChannel channel, List<ByteBuffer> buffers, long room) throws IOException {
        ByteBuffer[] sources = buffers.toArray(ByteBuffer[]::new);
        long length = 0;
        for (ByteBuffer buffer : sources) length += buffer.remaining();
        if (length > room) return -1;
        long left = length;
        while (left > 0) left -= channel.write(sources);
        return length;
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
