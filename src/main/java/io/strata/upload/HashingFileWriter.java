package io.strata.upload;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import io.strata.layer.LayerStore;

import java.security.MessageDigest;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Copies a request body into a store {@link LayerStore.Upload} (a file, or an object-store
 * multipart upload) while computing its sha256, with the work spread over
 * threads so that the slowest step alone sets the pace:
 *
 * <ul>
 *   <li>the request thread reads from the socket and writes to the upload;</li>
 *   <li>a hasher thread runs SHA-256 over the same buffers, in order;</li>
 *   <li>a flusher thread asks the upload to make bytes durable ({@link LayerStore.Upload#flushHint}) every {@value #FLUSH_EVERY_BYTES} bytes, so the disk writes
 *       while data still arrives instead of all at the final fsync (Linux would otherwise hold
 *       gigabytes of dirty pages until the end).</li>
 * </ul>
 *
 * Memory stays bounded: {@value #BUFFERS} buffers of {@value #CHUNK_BYTES} bytes per writer,
 * whatever the body size. Not thread-safe: one writer serves one request at a time.
 */
final class HashingFileWriter {
    static final int CHUNK_BYTES = 256 * 1024;
    static final int BUFFERS = 4;
    /**
     * Small enough that the final sync of a request (a resumable upload's chunk ends with one)
     * waits for little: with 32 MiB a 64 MiB PATCH spent ~10 ms in it, with 8 MiB 2–3 ms.
     */
    static final long FLUSH_EVERY_BYTES = 8L << 20;
    static final long FIRST_FLUSH_BYTES = 1L << 20;

    private static final ExecutorService WORKERS = Executors.newCachedThreadPool(runnable -> {
        Thread thread = new Thread(runnable, "strata-ingest");
        thread.setDaemon(true);
        return thread;
    });
    private static final Chunk END = new Chunk(new byte[0], 0);
    /**
     * Idle buffer sets kept for the next body. A resumable upload is many requests (one per chunk),
     * and a fresh set of {@value #BUFFERS} x {@value #CHUNK_BYTES} bytes for each was the largest
     * allocation on the upload path, feeding the GC for nothing. Bounded, so the memory kept stays
     * {@value #POOLED_SETS} sets however many uploads once ran at the same time.
     */
    static final int POOLED_SETS = 8;
    private static final BlockingQueue<byte[][]> POOL = new ArrayBlockingQueue<>(POOLED_SETS);

    private record Chunk(byte[] bytes, int length) {}

    /** Told about the first bytes of the file as they arrive, so a bad header is refused before the rest is read. */
    interface HeadListener {
        /** @param totalWritten bytes in the file so far, counted from its start */
        void written(byte[] bytes, int offset, int length, long fileOffset) throws IOException;
    }

    private final LayerStore.Upload upload;
    private final MessageDigest digest;
    private final AtomicLong position;
    private final long maxFileBytes;
    /** A cut connection seen after part of a buffer arrived: that part is kept, the cut reported on the next read. */
    private IOException pendingFailure;

    /**
     * @param upload        where the bytes go, at its current offset
     * @param digest        sha256 state covering every byte already in the upload
     * @param maxFileBytes  the upload may not grow past this; more body bytes fail with {@link TooLargeException}
     */
    HashingFileWriter(LayerStore.Upload upload, MessageDigest digest, long maxFileBytes) {
        this.upload = upload;
        this.digest = digest;
        this.position = new AtomicLong(upload.offset());
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

    /** Bytes in the file (all hashed once {@link #transfer} returns or throws). */
    long position() { return position.get(); }

    /**
     * Appends {@code in} until it ends (or {@code maxBody} bytes), hashing and flushing as it goes.
     * Always waits for the hasher before returning or throwing, so the digest state matches
     * {@link #position()} even after a failure (a cut connection keeps what arrived, for resuming).
     * The caller still has to {@code sync} the upload before relying on the bytes.
     */
    long transfer(InputStream in, HeadListener head) throws IOException {
        byte[][] buffers = borrowBuffers();
        BlockingQueue<byte[]> free = new ArrayBlockingQueue<>(BUFFERS);
        for (byte[] buffer : buffers) free.add(buffer);
        BlockingQueue<Chunk> toHash = new ArrayBlockingQueue<>(BUFFERS + 1);
        CompletableFuture<Void> hasher = CompletableFuture.runAsync(() -> hashLoop(toHash, free), WORKERS);
        Flusher flusher = new Flusher();
        CompletableFuture<Void> flushing = CompletableFuture.runAsync(flusher, WORKERS);
        long start = position.get();
        IOException failure = null;
        try {
            while (true) {
                byte[] buffer = free.take();
                int length = readFully(in, buffer);
                if (length <= 0) {
                    free.add(buffer);
                    break;
                }
                if (position.get() + length > maxFileBytes) {
                    free.add(buffer);
                    throw new TooLargeException(maxFileBytes);
                }
                long at = position.get();
                write(buffer, length);
                toHash.put(new Chunk(buffer, length));
                position.addAndGet(length);
                flusher.advance(position.get());
                if (head != null) head.written(buffer, 0, length, at);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failure = new InterruptedIOException("upload interrupted");
        } catch (IOException e) {
            failure = e;
        } finally {
            putUninterruptibly(toHash, END);
            flusher.stop();
            try {
                hasher.get();
                flushing.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException e) {
                if (failure == null) failure = new IOException("ingest worker failed", e.getCause());
            }
            // Only a finished hasher has let go of every buffer; otherwise leave them to the GC.
            if (hasher.isDone()) POOL.offer(buffers);
        }
        if (failure != null) throw failure;
        return position.get() - start;
    }

    private static byte[][] borrowBuffers() {
        byte[][] buffers = POOL.poll();
        if (buffers != null) return buffers;
        buffers = new byte[BUFFERS][];
        for (int i = 0; i < BUFFERS; i++) buffers[i] = new byte[CHUNK_BYTES];
        return buffers;
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

    private void write(byte[] buffer, int length) throws IOException {
        upload.write(buffer, 0, length);
    }

    private void hashLoop(BlockingQueue<Chunk> toHash, BlockingQueue<byte[]> free) {
        try {
            while (true) {
                Chunk chunk = toHash.take();
                if (chunk == END) return;
                digest.update(chunk.bytes, 0, chunk.length);
                free.add(chunk.bytes);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("hasher interrupted", e);
        }
    }

    private static <T> void putUninterruptibly(BlockingQueue<T> queue, T item) {
        boolean interrupted = false;
        while (true) {
            try {
                queue.put(item);
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    /** fsyncs in the background whenever another {@value #FLUSH_EVERY_BYTES} bytes have been written. */
    private final class Flusher implements Runnable {
        private final long start = position.get();
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
