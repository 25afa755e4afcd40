package io.strata.upload;

import io.strata.layer.Sha256State;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.security.MessageDigest;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The running SHA-256 of one upload: the requests that write its bytes hand each buffer in, in
 * order, and a worker thread hashes them, also after the request that brought them has been
 * answered.
 *
 * <p>Why after: a resumable upload is one request per chunk. When each chunk's {@code 202} waited
 * for its hash, the hasher stood idle from that answer until the next chunk's bytes arrived (the
 * client's turn, then the next request's checks), and where SHA-256 sets the pace of ingest (it
 * does on the machines measured, README "Performance") that idle time was lost from every chunk. An
 * answer promises that the chunk's bytes are durable, and they are (the store syncs them first);
 * the hash is needed only to finish the upload, and to record the session's hash state, which may
 * follow (see {@link #onHashed}).
 *
 * <p>Memory stays bounded: a lane holds at most {@value #BASE_BUFFERS} buffers of
 * {@value #BUFFER_BYTES} bytes of its own, plus buffers from a budget every upload of the process
 * shares ({@link #LAG_BUFFERS}: a quarter of the heap, at most 64 MiB; system property
 * {@code strata.hashLagBytes}, at most half the heap). A request whose lane has no buffer to give waits for its hasher.
 */
final class HashLane {
    static final int BUFFER_BYTES = 256 * 1024;
    static final int BASE_BUFFERS = 4;
    static final int LAG_BUFFERS = lagBuffers(Runtime.getRuntime().maxMemory(), System.getProperty("strata.hashLagBytes"));
    private static final Semaphore LAG = new Semaphore(LAG_BUFFERS);
    /**
     * Idle buffers kept for the next request: while uploads run, as many as the lag budget plus 8
     * uploads' own (a chunk's lag buffers come back when its hash is done, and dropping them made a
     * resumable upload's next chunk allocate them again: 150 MiB of garbage per GiB at 64 MiB of lag);
     * {@link #TRIM_AFTER} after the last one, 8 uploads' own (8 MiB), the rest left to the GC.
     */
    private static final int IDLE_KEPT = 8 * BASE_BUFFERS;
    private static final int IDLE_KEPT_BUSY = IDLE_KEPT + LAG_BUFFERS;
    private static final long TRIM_AFTER = 10;
    private static final AtomicBoolean TRIM_PENDING = new AtomicBoolean();
    private static final java.util.concurrent.Executor TRIM =
            CompletableFuture.delayedExecutor(TRIM_AFTER, TimeUnit.SECONDS, Runnable::run);
    private static final ConcurrentLinkedQueue<byte[]> IDLE = new ConcurrentLinkedQueue<>();
    private static final AtomicInteger IDLE_COUNT = new AtomicInteger();
    /** How long an idle hasher waits for the next buffer before its thread goes back to the pool. */
    private static final long LINGER_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    static final ExecutorService WORKERS = Executors.newCachedThreadPool(runnable -> {
        Thread thread = new Thread(runnable, "strata-ingest");
        thread.setDaemon(true);
        return thread;
    });

    private record Chunk(byte[] bytes, int length) {}

    private final MessageDigest digest;
    private final ArrayDeque<Chunk> queue = new ArrayDeque<>();
    private long submitted;
    private long hashed;
    /** Buffers handed out by {@link #take} and not yet back; those past {@link #BASE_BUFFERS} each hold a permit of {@link #LAG}. */
    private int inFlight;
    private boolean running;
    private RuntimeException failure;
    private long snapshotAt = -1;
    private Consumer<String> snapshotTo;

    /** @param digest the hash of the upload's first {@code covered} bytes; the lane owns it from now on */
    HashLane(MessageDigest digest, long covered) {
        this.digest = digest;
        this.submitted = covered;
        this.hashed = covered;
    }

    /** Bytes handed in: what the digest covers once {@link #await} returns. */
    synchronized long position() { return submitted; }

    /** A buffer to fill and hand in with {@link #submit} (or back with {@link #unused}); waits while the lane holds all it may. */
    synchronized byte[] take() throws IOException {
        while (true) {
            if (failure != null) throw new IOException("hashing the upload failed", failure);
            if (inFlight < BASE_BUFFERS) break;
            if (LAG.tryAcquire()) break;
            try {
                wait();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("upload interrupted");
            }
        }
        inFlight++;
        byte[] buffer = IDLE.poll();
        if (buffer == null) return new byte[BUFFER_BYTES];
        IDLE_COUNT.decrementAndGet();
        return buffer;
    }

    /** Hands in the next {@code length} bytes of the upload; the lane hashes them and then reuses the buffer. */
    synchronized void submit(byte[] buffer, int length) {
        if (failure != null) {
            release(buffer);
            return;
        }
        queue.add(new Chunk(buffer, length));
        submitted += length;
        if (running) {
            notifyAll();
        } else {
            running = true;
            WORKERS.execute(this::drain);
        }
    }

    /** Gives back a buffer from {@link #take} that carries no bytes of the upload. */
    synchronized void unused(byte[] buffer) {
        release(buffer);
        notifyAll();
    }

    /** Waits until every byte handed in is hashed; the digest then covers {@link #position()} bytes and is the caller's to read. */
    synchronized MessageDigest await() throws IOException {
        while (hashed < submitted && failure == null) {
            try {
                wait();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("upload interrupted");
            }
        }
        if (failure != null) throw new IOException("hashing the upload failed", failure);
        return digest;
    }

    /** The saved hash state ({@link Sha256State}) of the first {@code position} bytes if they are all hashed now, else null. */
    synchronized String stateNow(long position) {
        if (hashed != position || submitted != position) return null;
        return Sha256State.save(digest).orElse(null);
    }

    /**
     * Passes the saved hash state of the first {@code position} bytes to {@code then} once the
     * hasher gets there (at once when it is there now; never when it is past). Only the newest
     * request is kept: a later checkpoint replaces an earlier one that was never reached.
     */
    void onHashed(long position, Consumer<String> then) {
        String now;
        synchronized (this) {
            if (hashed > position) return;
            if (hashed < position) {
                snapshotAt = position;
                snapshotTo = then;
                return;
            }
            now = Sha256State.save(digest).orElse(null);
        }
        if (now != null) then.accept(now);
    }

    private void drain() {
        while (true) {
            Chunk chunk;
            synchronized (this) {
                long idleSince = System.nanoTime();
                while ((chunk = queue.poll()) == null) {
                    long left = LINGER_NANOS - (System.nanoTime() - idleSince);
                    if (left <= 0) {
                        running = false;
                        return;
                    }
                    try {
                        TimeUnit.NANOSECONDS.timedWait(this, left);
                    } catch (InterruptedException e) {
                        running = false;
                        return;
                    }
                }
            }
            try {
                digest.update(chunk.bytes, 0, chunk.length);
            } catch (RuntimeException e) {
                fail(chunk, e);
                return;
            }
            Consumer<String> reached = null;
            String state = null;
            synchronized (this) {
                hashed += chunk.length;
                release(chunk.bytes);
                if (hashed == snapshotAt) {
                    // Only this thread updates the digest, so reading it here is safe.
                    state = Sha256State.save(digest).orElse(null);
                    reached = snapshotTo;
                    snapshotTo = null;
                    snapshotAt = -1;
                }
                notifyAll();
            }
            if (reached != null && state != null) reached.accept(state);
        }
    }

    private synchronized void fail(Chunk chunk, RuntimeException e) {
        failure = e;
        release(chunk.bytes);
        for (Chunk left; (left = queue.poll()) != null; ) release(left.bytes);
        running = false;
        notifyAll();
    }

    /** Caller holds the lock. */
    private void release(byte[] buffer) {
        inFlight--;
        if (inFlight >= BASE_BUFFERS) LAG.release(); // it was one past the lane's own
        if (IDLE_COUNT.incrementAndGet() <= IDLE_KEPT_BUSY) {
            IDLE.offer(buffer);
            if (IDLE_COUNT.get() > IDLE_KEPT && TRIM_PENDING.compareAndSet(false, true)) TRIM.execute(HashLane::trim);
        } else {
            IDLE_COUNT.decrementAndGet();
        }
    }

    private static void trim() {
        TRIM_PENDING.set(false);
        while (IDLE_COUNT.get() > IDLE_KEPT && IDLE.poll() != null) IDLE_COUNT.decrementAndGet();
    }

    /**
     * The shared lag budget in buffers. The property may lower it or raise it up to half the heap:
     * more lets the hashers' buffers crowd out everything else (64 MiB of lag in a 64 MiB heap ran
     * the server out of memory under load).
     */
    static int lagBuffers(long heap, String property) {
        long bytes = Math.min(heap / 4, 64L << 20);
        if (property != null) {
            try {
                bytes = Math.min(Long.parseLong(property.trim()), heap / 2);
            } catch (NumberFormatException e) {
                org.slf4j.LoggerFactory.getLogger(HashLane.class).warn(
                        "strata.hashLagBytes={} is not a number of bytes; using {}", property, bytes);
            }
        }
        return (int) Math.max(0, bytes / BUFFER_BYTES);
    }
}
