package io.strata.client.pull;

import io.strata.client.Human;
import io.strata.client.Timings;

import java.util.Comparator;
import java.util.PriorityQueue;
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

    private final int jobs;
    private final AtomicBoolean decided;
    private final Object lock = new Object();
    /** Waiting requests, lowest rank first, then in arrival order. */
    private final PriorityQueue<long[]> waiting = new PriorityQueue<>(Comparator.<long[]>comparingLong(w -> w[0]).thenComparingLong(w -> w[1]));
    private long arrivals;
    private int free;

    ConnectionGate(int jobs) {
        this.jobs = jobs;
        this.free = 1;
        this.decided = new AtomicBoolean(jobs <= 1);
    }

    /**
     * Takes a slot, waiting for one; among waiting requests the lowest {@code rank} goes first (a
     * range's index in its layer), so a layer's first range comes before its later ones and the
     * hasher, which needs the layer from its start, is never left waiting behind a later range.
     */
    void acquire(int rank) throws InterruptedException {
        synchronized (lock) {
            long[] me = {rank, arrivals++};
            waiting.add(me);
            try {
                while (free == 0 || waiting.peek() != me) lock.wait();
            } catch (InterruptedException e) {
                waiting.remove(me);
                lock.notifyAll();
                throw e;
            }
            waiting.poll();
            free--;
            lock.notifyAll();
        }
    }

    void release() {
        synchronized (lock) {
            free++;
            lock.notifyAll();
        }
    }

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
        if (open) {
            synchronized (lock) {
                free += jobs - 1;
                lock.notifyAll();
            }
        }
        Timings.note(String.format(java.util.Locale.ROOT, "connections: %s after %s in %.3fs, %.0f%% of it waiting for the network",
                open ? jobs + " (opened)" : "1 (the network is not the limit)", Human.bytes(bytes), elapsedNanos / 1e9,
                elapsedNanos > 0 ? 100.0 * waitedNanos / elapsedNanos : 0));
    }
}
