package io.strata.upload;

import io.strata.layer.LayerStore;

import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * Copies a request body into a store {@link LayerStore.Upload} (a file, or an object-store
 * multipart upload) and hands every buffer to the upload's {@link HashLane}, with the work spread
 * over threads so that the slowest step alone sets the pace:
 *
 * <ul>
 *   <li>the request thread reads from the socket and writes to the upload;</li>
 *   <li>the lane's hasher runs SHA-256 over the same buffers, in order, and may finish after
 *       {@link #transfer} returns;</li>
 *   <li>a flusher thread asks the upload to make bytes durable ({@link LayerStore.Upload#flushHint}) every {@value #FLUSH_EVERY_BYTES} bytes, so the disk writes
 *       while data still arrives instead of all at the final fsync (Linux would otherwise hold
 *       gigabytes of dirty pages until the end).</li>
 * </ul>
 *
 * Memory stays bounded by the lane's buffers, whatever the body size. Not thread-safe: one writer
 * serves one request at a time.
 */
final class HashingFileWriter {
    /**
     * Small enough that the final sync of a request (a resumable upload's chunk ends with one)
     * waits for little: with 32 MiB a 64 MiB PATCH spent ~10 ms in it, with 8 MiB 2–3 ms.
     */
    static final long FLUSH_EVERY_BYTES = 8L << 20;
    static final long FIRST_FLUSH_BYTES = 1L << 20;

    /** Told about the first bytes of the file as they arrive, so a bad header is refused before the rest is read. */
    interface HeadListener {
        /** @param totalWritten bytes in the file so far, counted from its start */
        void written(byte[] bytes, int offset, int length, long fileOffset) throws IOException;
    }

    private final LayerStore.Upload upload;
    private final HashLane lane;
    private long position;
    private final long maxFileBytes;
    /** A cut connection seen after part of a buffer arrived: that part is kept, the cut reported on the next read. */
    private IOException pendingFailure;

    /**
     * @param upload        where the bytes go, at its current offset
     * @param lane          the sha256 of every byte already in the upload, which the body's bytes continue
     * @param maxFileBytes  the upload may not grow past this; more body bytes fail with {@link TooLargeException}
     */
    HashingFileWriter(LayerStore.Upload upload, HashLane lane, long maxFileBytes) {
        if (lane.position() != upload.offset()) {
            throw new IllegalStateException("the hash covers " + lane.position() + " bytes, the upload has " + upload.offset());
        }
        this.upload = upload;
        this.lane = lane;
        this.position = upload.offset();
        this.maxFileBytes = maxFileBytes;
    }

    /** Thrown when the body would make the file larger than allowed. Bytes already written stay. */
    static final class TooLargeException extends IOException {
        TooLargeException(long limit) { super("larger than " + limit + " bytes"); }
    }

    /** Thrown when the body ended before its declared length. Bytes already written stay. */
    static final class BodyEndedException extends IOException {
        BodyEndedException(String message, Throwable cause) { super(message, cause); }
    }

    /** Bytes in the file, all handed to the lane (whose {@link HashLane#await} gives their hash). */
    long position() { return position; }

    /**
     * Appends {@code in} until it ends (or {@code maxBody} bytes), handing each buffer to the lane
     * and flushing as it goes. Also after a failure, {@link #position()} counts exactly the bytes
     * written and handed in (a cut connection keeps what arrived, for resuming). The caller still
     * has to {@code sync} the upload before relying on the bytes, and to await the lane for their hash.
     */
    long transfer(InputStream in, HeadListener head) throws IOException {
        Flusher flusher = new Flusher();
        // A direct write (or an object store's part) is on its way to the disk already: no thread to nudge it.
        CompletableFuture<Void> flushing = upload.wantsFlushHints()
                ? CompletableFuture.runAsync(flusher, HashLane.WORKERS) : CompletableFuture.completedFuture(null);
        long start = position;
        IOException failure = null;
        try {
            while (true) {
                byte[] buffer = lane.take();
                int length;
                try {
                    length = readFully(in, buffer);
                    if (length > 0 && position + length > maxFileBytes) throw new TooLargeException(maxFileBytes);
                    if (length > 0) upload.write(buffer, 0, length);
                } catch (IOException | RuntimeException e) {
                    lane.unused(buffer);
                    throw e;
                }
                if (length <= 0) {
                    lane.unused(buffer);
                    break;
                }
                long at = position;
                position += length;
                try {
                    // Before the lane has the buffer: once hashed, it may be reused by another upload.
                    if (head != null) head.written(buffer, 0, length, at);
                } finally {
                    lane.submit(buffer, length);
                }
                flusher.advance(position);
            }
        } catch (IOException e) {
            failure = e;
        } finally {
            flusher.stop();
            try {
                flushing.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException e) {
                if (failure == null) failure = new IOException("ingest worker failed", e.getCause());
            }
        }
        if (failure != null) throw failure;
        return position - start;
    }

    /** Reads until the buffer is full, the body ends or no more bytes are ready; a cut connection surfaces as {@link BodyEndedException} after keeping what arrived. */
    private int readFully(InputStream in, byte[] buffer) throws IOException {
        if (pendingFailure != null) throw pendingFailure;
        int filled = 0;
        while (filled < buffer.length) {
            int n;
            try {
                n = in.read(buffer, filled, buffer.length - filled);
            } catch (IOException e) {
                if (filled > 0) {
                    // Keep the partial buffer: write and hash it, then report the cut on the next call.
                    pendingFailure = new BodyEndedException("the request body was cut off: " + e.getMessage(), e);
                    return filled;
                }
                throw new BodyEndedException("the request body was cut off: " + e.getMessage(), e);
            }
            if (n < 0) break;
            filled += n;
            // Hand over what arrived rather than wait for a full buffer: the header must reach the
            // inspector (and pin its parent) even when the client pauses after its first bytes.
            if (in.available() <= 0) break;
        }
        return filled;
    }

    /** fsyncs in the background whenever another {@value #FLUSH_EVERY_BYTES} bytes have been written. */
    private final class Flusher implements Runnable {
        private final long start = position;
        private long written = start;
        private long flushed = start;
        private boolean stopped;

        synchronized void advance(long total) {
            written = total;
            if (due()) notifyAll();
        }

        /**
         * The first flush comes after {@value #FIRST_FLUSH_BYTES} bytes, the others every
         * {@value #FLUSH_EVERY_BYTES}: a resumable upload's chunk starts on a disk its previous
         * fsync left idle, so the sooner writing starts, the less of the chunk waits at the end.
         */
        private boolean due() {
            return written - flushed >= (flushed == start ? FIRST_FLUSH_BYTES : FLUSH_EVERY_BYTES);
        }

        synchronized void stop() {
            stopped = true;
            notifyAll();
        }

        @Override
        public void run() {
            while (true) {
                long target;
                synchronized (this) {
                    while (!stopped && !due()) {
                        try {
                            wait();
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                    if (stopped) return;
                    target = written;
                }
                try {
                    upload.flushHint();
                } catch (IOException e) {
                    return; // the caller's final force reports the disk error
                }
                synchronized (this) {
                    flushed = target;
                }
            }
        }
    }
}
