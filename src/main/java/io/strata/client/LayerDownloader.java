package io.strata.client;

import io.strata.client.RemoteIndex.ChainLayer;
import io.strata.layer.Digest;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodySubscriber;
import java.net.http.HttpResponse.ResponseInfo;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Downloads one layer into the cache: into {@code <sha256>.qcow2.part}, resuming from the bytes
 * already there with {@code Range: bytes=<have>-} and {@code If-Range: "<sha256>"} (a 200 answer
 * means the registry sends the whole file again, so the part starts over), then verifies the
 * sha256 and renames the part to {@code <sha256>.qcow2}. Bytes that fail verification are deleted,
 * never kept. The caller holds the layer's exclusive lock.
 *
 * <p>Attempts: a dropped connection, a stall longer than the idle timeout, or a 5xx answer is
 * retried with exponential backoff. An attempt that brought new bytes resets the count, so a long
 * download over a flaky link keeps going as long as it moves; {@code maxAttempts} attempts in a
 * row without progress, or {@code maxAttempts} failed verifications, give up. The part is kept
 * when giving up, so running the pull again resumes it.
 */
final class LayerDownloader {
    /** An attempt that added fewer bytes than this did not make progress (it does not reset the count). */
    static final long PROGRESS_BYTES = 64 * 1024;
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");
    private static final int HASH_CHUNK = 1 << 20;

    private final RegistryClient registry;
    private final CacheLayout cache;
    private final Progress progress;
    private final Console console;
    private final int maxAttempts;
    private final Backoff backoff;
    private final Duration idleTimeout;

    LayerDownloader(RegistryClient registry, CacheLayout cache, Progress progress, Console console, int maxAttempts,
                    Backoff backoff, Duration idleTimeout) {
        this.registry = registry;
        this.cache = cache;
        this.progress = progress;
        this.console = console;
        this.maxAttempts = maxAttempts;
        this.backoff = backoff;
        this.idleTimeout = idleTimeout;
    }

    /** Downloads and verifies {@code layer}; on return {@code cache.layer(digest)} is complete. */
    void download(ChainLayer layer) throws IOException, InterruptedException {
        Digest digest = layer.digest();
        Path part = cache.part(digest);
        URI url = registry.resolve(layer.path());
        Hasher hasher = new Hasher();
        int stalls = 0;
        int corrupt = 0;
        String lastProblem = "";
        long counted = sizeOf(part); // what the progress display already counts for this layer
        while (true) {
            long have = sizeOf(part);
            if (have > layer.size()) {
                // More bytes than the layer has: not a prefix of it. Start over.
                Files.deleteIfExists(part);
                progress.rewind(counted);
                counted = 0;
                have = 0;
            }
            hasher.catchUp(part, have);
            if (have == layer.size()) {
                String actual = hasher.hex();
                if (actual.equals(digest.hex())) {
                    commit(part, cache.layer(digest));
                    return;
                }
                Files.deleteIfExists(part);
                hasher.reset();
                progress.rewind(counted);
                counted = 0;
                corrupt++;
                lastProblem = "the bytes received hash to " + actual.substring(0, 12) + "…, not " + digest.shortHex() + "…";
                if (corrupt >= maxAttempts) {
                    throw new ClientException("layer " + digest.shortHex() + " failed verification " + corrupt + " times: "
                            + lastProblem + "; the bad downloads were deleted. The registry's copy of the layer is damaged"
                            + " (or something between you and it changes bytes): tell the registry's operator to run"
                            + " 'strata verify', then pull again");
                }
                console.warn("layer " + digest.shortHex() + ": " + lastProblem + "; deleted it, downloading again ("
                        + corrupt + "/" + maxAttempts + ")");
                backoff.sleep(corrupt);
                continue;
            }

            AttemptResult result = attempt(url, digest, layer.size(), part, hasher, have);
            counted += result.gained();
            if (result.restarted()) counted = result.gained();
            if (result.problem() == null) continue; // complete or a clean end: the loop verifies or asks again
            lastProblem = result.problem();
            boolean progressed = result.gained() >= PROGRESS_BYTES;
            stalls = progressed ? 0 : stalls + 1;
            if (stalls >= maxAttempts) {
                long kept = sizeOf(part);
                throw new ClientException("layer " + digest.shortHex() + ": giving up after " + stalls
                        + " attempts in a row without progress (last: " + lastProblem + "); "
                        + (kept > 0 ? Human.bytes(kept) + " are kept in " + part + ", so running the same pull again resumes there"
                        : "run the same pull again when the registry is reachable"));
            }
            console.info("layer " + digest.shortHex() + ": " + lastProblem + "; resuming at " + Human.bytes(sizeOf(part))
                    + " of " + Human.bytes(layer.size()) + (progressed ? "" : " (" + stalls + "/" + maxAttempts + ")"));
            if (!progressed) backoff.sleep(stalls);
        }
    }

    private record AttemptResult(long gained, boolean restarted, String problem) {}

    /** One request. Fatal answers (404, other 4xx, a mismatched size) throw; retryable ones return a problem. */
    private AttemptResult attempt(URI url, Digest digest, long size, Path part, Hasher hasher, long have)
            throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(url).timeout(idleTimeout).GET();
        if (have > 0) request.header("Range", "bytes=" + have + "-").header("If-Range", "\"" + digest.hex() + "\"");
        try (FileChannel channel = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            Sink sink = new Sink(channel, hasher, progress, have);
            CompletableFuture<HttpResponse<Long>> future = registry.http().sendAsync(request.build(),
                    info -> sink.subscriberFor(info, digest, size, have));
            String problem = null;
            try {
                while (true) {
                    try {
                        HttpResponse<Long> response = future.get(250, TimeUnit.MILLISECONDS);
                        problem = sink.problemWith(response.statusCode());
                        break;
                    } catch (TimeoutException e) {
                        if (sink.idleNanos() > idleTimeout.toNanos()) {
                            sink.abort();
                            future.cancel(true);
                            problem = "no data for " + Human.seconds(idleTimeout) + " after " + Human.bytes(sink.written());
                            break;
                        }
                    }
                }
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof ClientException fatal) throw fatal;
                if (cause instanceof java.net.ConnectException) {
                    problem = "cannot connect to " + registry.name();
                } else if (cause instanceof java.net.http.HttpTimeoutException) {
                    problem = "no answer within " + Human.seconds(idleTimeout);
                } else {
                    problem = (cause instanceof IOException io ? IndexCache.describe(io) : String.valueOf(cause))
                            + " after " + Human.bytes(sink.written());
                }
            } catch (InterruptedException e) {
                sink.abort();
                future.cancel(true);
                throw e;
            } finally {
                sink.close();
            }
            if (sink.written() > 0) channel.force(false); // what is counted as kept survives a crash
            if (sink.fatal() != null) throw sink.fatal();
            return new AttemptResult(sink.written(), sink.restarted(), problem);
        }
    }

    private void commit(Path part, Path target) throws IOException {
        try (FileChannel channel = FileChannel.open(part, StandardOpenOption.WRITE)) {
            channel.force(true);
        }
        Files.move(part, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        RefStore.fsyncDirectory(target.getParent());
    }

    static long sizeOf(Path file) throws IOException {
        try {
            return Files.size(file);
        } catch (NoSuchFileException e) {
            return 0;
        }
    }

    /**
     * Receives one response body into the part file at the position the request asked for,
     * hashing as it writes. Everything runs under the sink's lock so that an abort from the
     * waiting thread (idle timeout, interrupt) stops all further writes before the part is
     * looked at again.
     */
    private static final class Sink {
        private final FileChannel channel;
        private final Hasher hasher;
        private final Progress progress;
        private long position;
        private long written;
        private boolean restarted;
        private boolean closed;
        private ClientException fatal;
        private String unexpected;
        private Flow.Subscription subscription;
        private volatile long lastActivity = System.nanoTime();

        Sink(FileChannel channel, Hasher hasher, Progress progress, long position) {
            this.channel = channel;
            this.hasher = hasher;
            this.progress = progress;
            this.position = position;
        }

        synchronized BodySubscriber<Long> subscriberFor(ResponseInfo info, Digest digest, long size, long have) {
            lastActivity = System.nanoTime();
            int status = info.statusCode();
            if (status == 206) {
                String range = info.headers().firstValue("Content-Range").orElse("");
                Matcher m = CONTENT_RANGE.matcher(range);
                if (!m.matches() || Long.parseLong(m.group(1)) != have) {
                    unexpected = "the registry answered range " + have + "- with '" + range + "'";
                    return HttpResponse.BodySubscribers.replacing(0L);
                }
                if (!m.group(3).equals("*") && Long.parseLong(m.group(3)) != size) {
                    fatal = sizeMismatch(digest, size, Long.parseLong(m.group(3)));
                    return HttpResponse.BodySubscribers.replacing(0L);
                }
                return subscriber();
            }
            if (status == 200) {
                long length = info.headers().firstValueAsLong("Content-Length").orElse(-1);
                if (length >= 0 && length != size) {
                    fatal = sizeMismatch(digest, size, length);
                    return HttpResponse.BodySubscribers.replacing(0L);
                }
                if (have > 0) {
                    // If-Range did not match or a cache in between ignored Range: the whole file comes again.
                    try {
                        channel.truncate(0);
                    } catch (IOException e) {
                        fatal = new ClientException("cannot truncate the partial download: " + e.getMessage(), e);
                        return HttpResponse.BodySubscribers.replacing(0L);
                    }
                    hasher.reset();
                    progress.rewind(have);
                    position = 0;
                    restarted = true;
                }
                return subscriber();
            }
            if (status == 404 || status == 410) {
                fatal = new ClientException("the registry no longer has layer " + digest.shortHex() + " (" + status
                        + "); the image may have been deleted since the index was fetched: run the pull again to get the current index");
            } else if (status == 416) {
                unexpected = "the registry refused range " + have + "- (416)";
            } else if (status >= 500 || status == 408 || status == 429) {
                unexpected = "the registry answered " + status;
            } else {
                fatal = new ClientException("GET " + digest.fileName() + ": the registry answered " + status
                        + "; check the --registry URL (a proxy in between may need configuring)");
            }
            return HttpResponse.BodySubscribers.replacing(0L);
        }

        private static ClientException sizeMismatch(Digest digest, long expected, long actual) {
            return new ClientException("the registry serves layer " + digest.shortHex() + " with " + actual
                    + " bytes but its index says " + expected + "; the registry is inconsistent: tell its operator to run 'strata verify'");
        }

        String problemWith(int status) {
            synchronized (this) {
                if (unexpected != null) return unexpected;
                if (status == 206 || status == 200) return null;
                return "the registry answered " + status;
            }
        }

        private BodySubscriber<Long> subscriber() {
            CompletableFuture<Long> body = new CompletableFuture<>();
            return new BodySubscriber<>() {
                @Override public CompletionStage<Long> getBody() { return body; }

                @Override public void onSubscribe(Flow.Subscription s) {
                    synchronized (Sink.this) {
                        subscription = s;
                        if (closed) {
                            s.cancel();
                            return;
                        }
                    }
                    s.request(1);
                }

                @Override public void onNext(List<ByteBuffer> buffers) {
                    synchronized (Sink.this) {
                        if (closed) return;
                        try {
                            for (ByteBuffer buffer : buffers) {
                                ByteBuffer forHash = buffer.duplicate();
                                int length = buffer.remaining();
                                while (buffer.hasRemaining()) position += channel.write(buffer, position);
                                hasher.update(forHash);
                                written += length;
                                progress.advance(length);
                            }
                        } catch (IOException e) {
                            closed = true;
                            subscription.cancel();
                            fatal = new ClientException("cannot write the download to " + channel + ": " + e.getMessage()
                                    + "; check the cache's disk (free space, permissions)", e);
                            body.completeExceptionally(fatal);
                            return;
                        }
                        lastActivity = System.nanoTime();
                    }
                    subscription.request(1);
                }

                @Override public void onError(Throwable error) { body.completeExceptionally(error); }

                @Override public void onComplete() { body.complete(written()); }
            };
        }

        long idleNanos() { return System.nanoTime() - lastActivity; }

        synchronized long written() { return written; }

        synchronized boolean restarted() { return restarted; }

        synchronized ClientException fatal() { return fatal; }

        /** Stops the transfer: no byte is written after this returns. */
        void abort() {
            Flow.Subscription s;
            synchronized (this) {
                closed = true;
                s = subscription;
            }
            if (s != null) s.cancel();
        }

        synchronized void close() { closed = true; }
    }

    /** A running sha256 of the part file's first {@code length} bytes. */
    static final class Hasher {
        private MessageDigest digest = newDigest();
        private long length;

        /** Makes the hash cover exactly the first {@code have} bytes of {@code part}, reading what it has not seen. */
        void catchUp(Path part, long have) throws IOException {
            if (length > have) reset();
            if (length == have) return;
            try (FileChannel channel = FileChannel.open(part, StandardOpenOption.READ)) {
                ByteBuffer buffer = ByteBuffer.allocate(HASH_CHUNK);
                while (length < have) {
                    buffer.clear().limit((int) Math.min(buffer.capacity(), have - length));
                    int n = channel.read(buffer, length);
                    if (n < 0) throw new IOException(part + " shrank while being read");
                    buffer.flip();
                    digest.update(buffer);
                    length += n;
                }
            }
        }

        void update(ByteBuffer bytes) {
            length += bytes.remaining();
            digest.update(bytes);
        }

        void reset() {
            digest = newDigest();
            length = 0;
        }

        /** The hex sha256 so far; the running state is kept, so more bytes can still follow. */
        String hex() {
            try {
                return HexFormat.of().formatHex(((MessageDigest) digest.clone()).digest());
            } catch (CloneNotSupportedException e) {
                throw new IllegalStateException(e);
            }
        }

        private static MessageDigest newDigest() {
            try {
                return MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
