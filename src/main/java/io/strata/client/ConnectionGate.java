package io.strata.client;

import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The connection slots all downloads of a pull share ({@code --jobs}), opened only when more
 * connections help. A pull starts with one connection and watches its first
 * {@link #PROBE_BYTES} (or {@link #PROBE_NANOS}): if the connection spent most of that time waiting for the network, the
 * link (or a per-connection limit on it) is what is slow, and the other slots open so layers and
 * ranges come in parallel. If instead it spent its time writing and hashing, the local disk and
 * CPU are the limit, and more connections would only compete for them (measured on a 2-core
 * machine: a loopback pull with four connections took 1.6x as long as with one while the machine
 * was busy), so the pull goes on with one.
 */
final class ConnectionGate {
    /** How much of the first connection's transfer is watched before deciding: this many bytes or {@link #PROBE_NANOS}. */
    static final long PROBE_BYTES = 32L << 20;
    /** A slow link is recognised within this time, so the other connections start with little delay. */
    static final long PROBE_NANOS = 200_000_000L;

    private final Semaphore slots;
    private final int jobs;
    private final AtomicBoolean decided;

    ConnectionGate(int jobs) {
        this.jobs = jobs;
        this.slots = new Semaphore(1, true);
        this.decided = new AtomicBoolean(jobs <= 1);
    }

    void acquire() throws InterruptedException { slots.acquire(); }

    void release() { slots.release(); }

    /** A connection has received {@code bytes} in {@code elapsedNanos}, of which it waited {@code waitedNanos} for the network. */
    void observe(long bytes, long waitedNanos, long elapsedNanos) {
        if ((bytes >= PROBE_BYTES || elapsedNanos >= PROBE_NANOS) && !decided.get()) decide(waitedNanos * 2 > elapsedNanos, bytes, waitedNanos, elapsedNanos);
    }

    /**
     * A request ended (well or not) with what it observed: decides if nothing has yet. Too little
     * to judge (a small layer, a failure) opens the slots, as many small layers fetch faster in parallel.
     */
    void ended(long bytes, long waitedNanos, long elapsedNanos) {
        if (decided.get()) return;
        decide(bytes < PROBE_BYTES / 4 || waitedNanos * 2 > elapsedNanos, bytes, waitedNanos, elapsedNanos);
    }

    private void decide(boolean open, long bytes, long waitedNanos, long elapsedNanos) {
        if (!decided.compareAndSet(false, true)) return;
        if (open) slots.release(jobs - 1);
        Timings.note(String.format(java.util.Locale.ROOT, "connections: %s after %s in %.3fs, %.0f%% of it waiting for the network",
                open ? jobs + " (opened)" : "1 (the network is not the limit)", Human.bytes(bytes), elapsedNanos / 1e9,
                elapsedNanos > 0 ? 100.0 * waitedNanos / elapsedNanos : 0));
    }
}
