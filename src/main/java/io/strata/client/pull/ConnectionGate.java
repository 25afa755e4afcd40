package io.strata.client.pull;

import io.strata.client.Human;
import io.strata.client.Timings;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The connection slots all downloads of a pull share ({@code --jobs}), opened only when more
 * connections help. A pull starts with one connection and watches its first
 * {@link #PROBE_NANOS}: if the connection spent most of that time waiting for the network, the
 * link (or a per-connection limit on it) is what is slow, and the other slots open so layers and
 * ranges come in parallel. If instead it spent its time writing and hashing, the local disk and
 * CPU are the limit, and more connections would only compete for them (measured on a 2-core
 * machine: a loopback pull with four connections took 1.6x as long as with one while the machine
 * was busy), so the pull goes on with one.
 *
 * <p><b>Spare slots split running downloads.</b> Every layer starts as one request for all of it.
 * Once the slots are open, a slot that no request waits for goes to the running download with the
 * most bytes left in one range: that range is split in two ({@link Ranges#split}) and a new
 * request fetches the second half. So a pull that stays on one connection asks for each layer
 * once, exactly as {@code --jobs 1} does, and one that opens keeps every slot busy to the end (a
 * plan made before the first byte left slots idle once the smaller layers were done).
 */
final class ConnectionGate {
    /** A running download that can give part of what it has left to another connection. */
    interface Splittable {
        /** Bytes left in the range a split would halve; 0 when none can be split. */
        long splittable();

        /** Splits that range and starts a request for its second half, which holds the slot it is given; false if it could not. */
        boolean split();
    }

    /**
     * How long the first connection's transfer is watched before deciding. A slow link is
     * recognised within it, so the other connections start with little delay; and on a fast one
     * it spans enough to judge. Watching the first 32 MiB instead, 35–70 ms on a 2-core loopback,
     * opened the slots in one loopback pull in six (69% of that time waiting, against 1–15% in the
     * others: the registry, sharing the cores with the client starting up, fell behind for a moment),
     * and that pull then split its layers and competed with itself for the disk and the cores.
     */
    static final long PROBE_NANOS = 200_000_000L;
    /** A request that ends with fewer bytes than this before the probe is up is too small to judge by. */
    static final long SMALL_BYTES = 8L << 20;
    /**
     * How long, from the gate's start, a layer's request waits for the layers before it in the
     * pull's order to ask for a slot. Their threads start at once but in no fixed order, and
     * without this the first to run took the first slot: the pull's order (largest first) then
     * held only for the slots freed later, and on a 2-core loopback pull the layer fetched first
     * changed from run to run (124, 300 or 600 MiB of the bench chain), and with it the time (2.7
     * to 3.8 s for the same pull). A layer that never asks (complete already, or waiting for another
     * pull's lock) delays the others by this much once.
     */
    static final long ARRIVAL_NANOS = 100_000_000L;

    private final int jobs;
    /** Which of the pull's layers (by their place in its order) have asked for a slot. */
    private final boolean[] arrived;
    private final long started = System.nanoTime();
    private final AtomicBoolean decided;
    private final Object lock = new Object();
    /** Waiting requests: {layer, range, arrival}. */
    private final List<long[]> waiting = new ArrayList<>();
    /** The downloads running now, which a spare slot may split (under the lock). */
    private final List<Splittable> running = new ArrayList<>();
    private long arrivals;
    private int free;
    private boolean open;

    /** {@code layers}: how many layers the pull downloads, numbered 0.. in its order. */
    ConnectionGate(int jobs, int layers) {
        this.jobs = jobs;
        this.arrived = new boolean[layers];
        this.free = 1;
        this.decided = new AtomicBoolean(jobs <= 1);
    }

    /**
     * Takes a slot, waiting for one. Which waiting request goes first depends on the decision:
     * while one connection is all the pull uses, the layer started first ({@code layer}, the
     * pull's order) is finished before the next starts, range by range, so one hasher at a time
     * works and none waits for a range that comes after every other layer (measured: letting each
     * layer's first range go first made a 2-core loopback pull with --jobs 4 1.4x slower than with
     * one job); a layer also waits, for at most {@link #ARRIVAL_NANOS}, for the layers before it to
     * ask. With the slots open, every layer's first range goes before later ranges, so each
     * layer's hasher, which needs its layer from the start, gets bytes at once.
     */
    void acquire(int layer, int range) throws InterruptedException {
        synchronized (lock) {
            long[] me = {layer, range, arrivals++};
            waiting.add(me);
            if (layer < arrived.length && !arrived[layer]) {
                arrived[layer] = true;
                lock.notifyAll();
            }
            try {
                while (true) {
                    if (free > 0 && next() == me) {
                        long early = open ? 0 : earlierToArrive(layer);
                        if (early <= 0) break;
                        lock.wait(Math.max(1, early / 1_000_000));
                    } else {
                        lock.wait();
                    }
                }
            } catch (InterruptedException e) {
                waiting.remove(me);
                lock.notifyAll();
                throw e;
            }
            waiting.remove(me);
            free--;
            lock.notifyAll();
        }
    }

    /** One connection: the layer started first, range by range. */
    private static final Comparator<long[]> LAYER_FIRST =
            Comparator.<long[]>comparingLong(w -> w[0]).thenComparingLong(w -> w[1]).thenComparingLong(w -> w[2]);
    /** Slots open: every layer's first range, then the later ones. */
    private static final Comparator<long[]> RANGE_FIRST =
            Comparator.<long[]>comparingLong(w -> w[1]).thenComparingLong(w -> w[0]).thenComparingLong(w -> w[2]);

    /**
     * Nanoseconds left for a layer before {@code layer} in the pull's order to ask for its first
     * slot; 0 when all have asked or the time for it is up (under the lock).
     */
    private long earlierToArrive(int layer) {
        for (int i = 0; i < Math.min(layer, arrived.length); i++) {
            if (!arrived[i]) return Math.max(0, started + ARRIVAL_NANOS - System.nanoTime());
        }
        return 0;
    }

    /** The waiting request that goes first (under the lock). */
    private long[] next() {
        return waiting.stream().min(open ? RANGE_FIRST : LAYER_FIRST).orElse(null);
    }

    void release() {
        synchronized (lock) {
            free++;
            lock.notifyAll();
            lend();
        }
    }

    /** A layer's download runs: spare slots may split it from now on. */
    void register(Splittable download) {
        synchronized (lock) {
            running.add(download);
        }
    }

    /** A layer's download ended: no split reaches it after this returns. */
    void unregister(Splittable download) {
        synchronized (lock) {
            running.remove(download);
        }
    }

    /** A request began to receive its body: its range can be split now, if a slot is spare. */
    void receiving() {
        synchronized (lock) {
            lend();
        }
    }

    /**
     * Gives each slot that no waiting request will take to the download with the most bytes left
     * in one range, which splits it (under the lock).
     */
    private void lend() {
        while (open && free > waiting.size()) {
            Splittable best = null;
            long most = 0;
            for (Splittable download : running) {
                long left = download.splittable();
                if (left > most) {
                    best = download;
                    most = left;
                }
            }
            if (best == null) return;
            free--;
            if (!best.split()) {
                free++;
                return;
            }
        }
    }

    /** A connection has received {@code bytes} in {@code elapsedNanos}, of which it waited {@code waitedNanos} for the network. */
    void observe(long bytes, long waitedNanos, long elapsedNanos) {
        if (elapsedNanos >= PROBE_NANOS && !decided.get()) decide(waitedNanos * 2 > elapsedNanos, bytes, waitedNanos, elapsedNanos);
    }

    /**
     * A request ended (well or not) with what it observed: decides if nothing has yet. Too little
     * to judge (a small layer, a failure) opens the slots, as many small layers fetch faster in parallel.
     */
    void ended(long bytes, long waitedNanos, long elapsedNanos) {
        if (decided.get()) return;
        decide(bytes < SMALL_BYTES || waitedNanos * 2 > elapsedNanos, bytes, waitedNanos, elapsedNanos);
    }

    private void decide(boolean open, long bytes, long waitedNanos, long elapsedNanos) {
        if (!decided.compareAndSet(false, true)) return;
        if (open) {
            synchronized (lock) {
                this.open = true;
                free += jobs - 1;
                lock.notifyAll();
                lend();
            }
        }
        Timings.note(String.format(java.util.Locale.ROOT, "connections: %s after %s in %.3fs, %.0f%% of it waiting for the network",
                open ? jobs + " (opened)" : "1 (the network is not the limit)", Human.bytes(bytes), elapsedNanos / 1e9,
                elapsedNanos > 0 ? 100.0 * waitedNanos / elapsedNanos : 0));
    }
}
