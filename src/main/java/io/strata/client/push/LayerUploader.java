package io.strata.client.push;

import io.strata.client.Backoff;
import io.strata.client.ClientException;
import io.strata.client.Console;
import io.strata.client.Human;
import io.strata.client.Progress;
import io.strata.client.RegistryClient;
import io.strata.client.RegistryException;
import io.strata.client.Timings;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Uploads one canonical layer with the resumable API (DESIGN §6): a session, chunks sent with
 * {@code Content-Range: bytes a-b/*}, then {@code PUT ?digest=}. After a failure the registry is
 * asked how many bytes it holds ({@code Upload-Offset}) and the upload continues from there, so
 * a dropped connection costs at most the chunk in flight. As for downloads, an attempt that moved
 * the offset resets the count; {@code maxAttempts} attempts in a row without progress give up.
 */
final class LayerUploader {
    private final RegistryClient registry;
    private final Progress progress;
    private final Console console;
    private final int maxAttempts;
    private final Backoff backoff;
    private final long chunkBytes;

    LayerUploader(RegistryClient registry, Progress progress, Console console, int maxAttempts, Backoff backoff, long chunkBytes) {
        this.registry = registry;
        this.progress = progress;
        this.console = console;
        this.maxAttempts = maxAttempts;
        this.backoff = backoff;
        this.chunkBytes = chunkBytes;
    }

    void upload(CanonicalLayer layer) throws IOException, InterruptedException {
        String name = layer.digest().shortHex() + " (" + layer.local().file().getFileName() + ")";
        Timings timings = Timings.of("push-upload " + name + " " + Human.bytes(layer.size()));
        URI location = null;
        long offset = 0;       // bytes the registry is known to hold
        long shown = 0;        // bytes the progress display counts for this layer
        int stalls = 0;
        while (true) {
            long before = offset;
            AtomicLong sent = new AtomicLong();
            String problem;
            try {
                if (location == null) {
                    location = registry.startUpload();
                    offset = 0;
                    before = 0;
                }
                if (offset == layer.size()) {
                    long finishing = timings.start();
                    registry.finishUpload(location, layer.digest());
                    timings.add("finish", finishing);
                    timings.report();
                    return;
                }
                long from = offset;
                long length = Math.min(chunkBytes, layer.size() - offset);
                long sending = timings.start();
                offset = registry.plain()
                        ? registry.appendChunk(location, from, length, layer.firstCluster(), layer.local().file(), n -> {
                            sent.addAndGet(n);
                            progress.advance(n);
                        })
                        : registry.appendChunk(location, from, length, () -> counting(layer, from, length, sent, progress));
                timings.add("chunks", sending);
                shown = settle(shown + sent.get(), offset);
                stalls = 0;
                continue;
            } catch (RegistryException e) {
                problem = e.getMessage();
                if (e.code().equals("UPLOAD_UNKNOWN")) {
                    // The session is gone: expired, or finished by a PUT whose answer was lost.
                    if (offset == layer.size() && storedAlready(layer)) return;
                    location = null;
                    offset = 0;
                } else if (e.code().equals("RANGE_INVALID") && e.uploadOffset().isPresent()) {
                    offset = e.uploadOffset().getAsLong();
                } else if (e.code().equals("CONFLICT")) {
                    // The registry is still finishing the request a dropped connection cut short: wait, then ask.
                    Thread.sleep(backoff.delay(1).toMillis());
                    offset = askOffset(location, offset);
                } else if (!e.isTransient()) {
                    if (location != null) registry.cancelUpload(location);
                    String hint = e.code().equals("DIGEST_INVALID")
                            ? "; the file changed while it was being pushed? Push again once nothing writes to the chain" : "";
                    throw new ClientException("uploading layer " + name + ": " + e.getMessage() + hint, e);
                } else {
                    offset = askOffset(location, offset);
                }
            } catch (ClientException e) {
                throw e;
            } catch (IOException | UncheckedIOException e) {
                problem = e instanceof IOException io ? RegistryClient.describe(io) : e.getCause().getMessage();
                offset = askOffset(location, offset);
            }
            shown = settle(shown + sent.get(), offset);
            boolean progressed = offset > before;
            stalls = progressed ? 0 : stalls + 1;
            if (stalls >= maxAttempts) {
                throw new ClientException("uploading layer " + name + ": giving up after " + stalls
                        + " attempts in a row without progress (last: " + problem + "); run the same push again"
                        + " (layers already uploaded are skipped)");
            }
            console.info("push: layer " + name + ": " + problem + "; continuing at " + Human.bytes(offset) + " of "
                    + Human.bytes(layer.size()) + (progressed ? "" : " (" + stalls + "/" + maxAttempts + ")"));
            if (!progressed) backoff.sleep(stalls);
        }
    }

    private boolean storedAlready(CanonicalLayer layer) throws InterruptedException {
        try {
            return registry.hasLayer(layer.digest());
        } catch (IOException e) {
            return false; // start a new session; the registry answers a duplicate layer as already stored
        }
    }

    /** Brings the progress display for this layer from {@code shown} to {@code offset}, the bytes the registry holds. */
    private long settle(long shown, long offset) {
        if (offset > shown) progress.skip(offset - shown);
        else if (offset < shown) progress.rewind(shown - offset);
        return offset;
    }

    /** Where the upload stands after a failure; if the registry cannot be asked either, resend from {@code fallback}. */
    private long askOffset(URI location, long fallback) throws InterruptedException {
        if (location == null) return 0;
        try {
            return registry.uploadOffset(location);
        } catch (IOException e) {
            return fallback; // a wrong guess is answered with 416 and the real offset
        }
    }

    /** The chunk's bytes, counted as the HTTP client reads them, so the display moves while a chunk is sent. */
    private static InputStream counting(CanonicalLayer layer, long from, long length, AtomicLong sent, Progress progress) {
        try {
            return new FilterInputStream(layer.open(from, length)) {
                @Override public int read() throws IOException {
                    int b = super.read();
                    if (b >= 0) {
                        sent.incrementAndGet();
                        progress.advance(1);
                    }
                    return b;
                }

                @Override public int read(byte[] buffer, int offset, int count) throws IOException {
                    int n = super.read(buffer, offset, count);
                    if (n > 0) {
                        sent.addAndGet(n);
                        progress.advance(n);
                    }
                    return n;
                }
            };
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
