package io.strata.client.pull;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How --jobs connection slots open, from what the first connection measured, and who gets a freed slot. */
class ConnectionGateTest {
    private static final long MS = 1_000_000L;
    /** What the first connection received by the time the probe is up. */
    private static final long PROBE = 32L << 20;

    @Test
    void a_first_connection_that_mostly_waited_for_the_network_opens_every_slot() throws Exception {
        ConnectionGate gate = new ConnectionGate(4, 1);
        gate.acquire(0, 0);
        gate.observe(PROBE, 900 * MS, 1000 * MS);
        assertEquals(3, slotsFreeWithin(gate, 3), "the other three slots are free at once");
    }

    @Test
    void a_first_connection_that_was_busy_writing_keeps_the_pull_at_one_connection() throws Exception {
        ConnectionGate gate = new ConnectionGate(4, 1);
        gate.acquire(0, 0);
        gate.observe(PROBE, 10 * MS, 300 * MS);
        gate.ended(4 * PROBE, 10 * MS, 1200 * MS);
        assertEquals(0, slotsFreeWithin(gate, 1), "no second slot while the first is held");
        gate.release();
        assertEquals(1, slotsFreeWithin(gate, 2), "one slot in all");
    }

    @Test
    void a_fast_first_connection_is_judged_on_the_whole_probe_not_on_a_wait_in_its_first_bytes() throws Exception {
        ConnectionGate gate = new ConnectionGate(4, 1);
        gate.acquire(0, 0);
        gate.observe(PROBE, 40 * MS, 60 * MS); // 32 MiB in 60 ms, two thirds of it waiting: too soon to judge
        gate.observe(4 * PROBE, 45 * MS, ConnectionGate.PROBE_NANOS + MS); // then it came as fast as it was written
        assertEquals(0, slotsFreeWithin(gate, 1), "one connection");
    }

    @Test
    void a_first_request_too_small_to_judge_opens_every_slot() throws Exception {
        ConnectionGate gate = new ConnectionGate(3, 1);
        gate.acquire(0, 0);
        gate.ended(64 * 1024, 0, MS);
        assertEquals(2, slotsFreeWithin(gate, 2));
    }

    @Test
    void one_job_is_one_connection_whatever_is_measured() throws Exception {
        ConnectionGate gate = new ConnectionGate(1, 1);
        gate.acquire(0, 0);
        gate.observe(PROBE, 1000 * MS, 1000 * MS);
        gate.ended(0, 0, 0);
        assertEquals(0, slotsFreeWithin(gate, 1));
    }

    @Test
    void with_one_connection_a_freed_slot_goes_to_the_layer_started_first_range_by_range() throws Exception {
        ConnectionGate gate = new ConnectionGate(4, 3);
        gate.acquire(0, 0); // the probe: one slot, held
        gate.observe(PROBE, 10 * MS, 300 * MS); // busy writing: stays at one connection
        List<String> order = waitersServed(gate, new int[][] {{2, 0}, {1, 0}, {0, 1}, {1, 1}});
        assertEquals(List.of("0/1", "1/0", "1/1", "2/0"), order, "finish a layer before the next, whatever the arrival order");
    }

    @Test
    void before_deciding_a_freed_slot_goes_to_the_layer_started_first() throws Exception {
        ConnectionGate gate = new ConnectionGate(4, 2);
        gate.acquire(0, 0); // undecided: one slot, held
        List<String> order = waitersServed(gate, new int[][] {{1, 0}, {0, 1}});
        assertEquals(List.of("0/1", "1/0"), order);
    }

    @Test
    void with_the_slots_open_every_layers_first_range_goes_before_later_ranges() throws Exception {
        ConnectionGate gate = new ConnectionGate(2, 3);
        gate.acquire(0, 0);
        gate.observe(PROBE, 900 * MS, 1000 * MS); // opened: two slots, one held
        gate.acquire(0, 1); // both held now
        List<String> order = waitersServed(gate, new int[][] {{0, 2}, {2, 0}, {1, 1}, {1, 0}});
        assertEquals(List.of("1/0", "2/0", "1/1", "0/2"), order, "lowest range index first, then the layer started first");
    }

    @Test
    void the_first_slot_goes_to_the_first_layer_even_when_a_later_one_asks_first() throws Exception {
        ConnectionGate gate = new ConnectionGate(1, 2);
        List<String> order = new CopyOnWriteArrayList<>();
        Thread later = new Thread(() -> {
            try {
                gate.acquire(1, 0);
                order.add("1/0");
                gate.release();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        later.setDaemon(true);
        later.start();
        // Parked in a timed wait for layer 0, with the slot still free.
        while (later.getState() != Thread.State.TIMED_WAITING) Thread.onSpinWait();
        gate.acquire(0, 0);
        order.add("0/0");
        gate.release();
        later.join(10_000);
        assertEquals(List.of("0/0", "1/0"), order, "the pull's order, not the threads' start order");
    }

    @Test
    void a_layer_does_not_wait_long_for_an_earlier_one_that_never_asks() throws Exception {
        ConnectionGate gate = new ConnectionGate(1, 2); // layer 0 was complete already, say
        long start = System.nanoTime();
        gate.acquire(1, 0);
        long waited = System.nanoTime() - start;
        assertTrue(waited >= ConnectionGate.ARRIVAL_NANOS / 2 && waited < 10 * ConnectionGate.ARRIVAL_NANOS + 5_000_000_000L,
                "waited " + waited / 1_000_000 + " ms for layer 0, then went ahead");
        gate.release();
    }

    @Test
    void once_open_every_slot_no_request_waits_for_splits_the_running_download() throws Exception {
        ConnectionGate gate = new ConnectionGate(4, 1);
        Download running = running(gate, 3);
        gate.observe(PROBE, 900 * MS, 1000 * MS); // opened: three slots spare
        assertEquals(3, running.splits.get(), "each spare slot went to a split");
        assertEquals(0, slotsFreeWithin(gate, 1), "the splits hold the slots");
        gate.release(); // a split's request ended: the slot is spare again, but nothing is left to split
        assertEquals(1, slotsFreeWithin(gate, 2));
    }

    @Test
    void a_waiting_request_gets_its_slot_before_a_split_does() throws Exception {
        ConnectionGate gate = new ConnectionGate(3, 2);
        Download running = running(gate, 10);
        Thread waiter = taker(gate, 1);
        while (waiter.getState() != Thread.State.WAITING) Thread.sleep(1);
        gate.observe(PROBE, 900 * MS, 1000 * MS); // opened: two slots spare, one request waits
        waiter.join(10_000);
        assertFalse(waiter.isAlive(), "layer 1's first request got a slot");
        assertEquals(1, running.splits.get(), "the other spare slot split the running download");
    }

    @Test
    void while_one_connection_is_all_the_pull_uses_nothing_is_split() throws Exception {
        ConnectionGate gate = new ConnectionGate(4, 1);
        Download running = running(gate, 10);
        gate.observe(PROBE, 10 * MS, 300 * MS); // busy writing: one connection
        gate.receiving();
        gate.release();
        assertEquals(0, running.splits.get(), "--jobs 4 asks for the layer once, as --jobs 1 does");
    }

    @Test
    void a_download_that_ended_is_not_split() throws Exception {
        ConnectionGate gate = new ConnectionGate(4, 1);
        Download running = running(gate, 10);
        gate.unregister(running);
        gate.observe(PROBE, 900 * MS, 1000 * MS);
        assertEquals(0, running.splits.get());
    }

    /** Layer 0's first request takes its slot and its download registers, with {@code splits} splits in it. */
    private static Download running(ConnectionGate gate, int splits) throws InterruptedException {
        gate.acquire(0, 0);
        Download running = new Download(splits);
        gate.register(running);
        return running;
    }

    /** A running download with {@code left} splits in it; each split takes the slot the gate gives it. */
    private static final class Download implements ConnectionGate.Splittable {
        final java.util.concurrent.atomic.AtomicInteger splits = new java.util.concurrent.atomic.AtomicInteger();
        private final int left;

        Download(int left) { this.left = left; }

        @Override
        public long splittable() { return splits.get() < left ? 1 << 20 : 0; }

        @Override
        public boolean split() {
            splits.incrementAndGet();
            return true;
        }
    }

    /**
     * Queues one waiter per {layer, range} in the given arrival order while every slot is held,
     * then frees one slot; each waiter takes it, records itself and frees it. Returns who went in which order.
     */
    private static List<String> waitersServed(ConnectionGate gate, int[][] arrivals) throws InterruptedException {
        List<String> order = new CopyOnWriteArrayList<>();
        CountDownLatch done = new CountDownLatch(arrivals.length);
        for (int[] arrival : arrivals) {
            Thread waiter = new Thread(() -> {
                try {
                    gate.acquire(arrival[0], arrival[1]);
                    order.add(arrival[0] + "/" + arrival[1]);
                    gate.release();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } finally {
                    done.countDown();
                }
            });
            waiter.setDaemon(true);
            waiter.start();
            while (waiter.getState() != Thread.State.WAITING) Thread.sleep(1); // queued before the next arrives
        }
        gate.release();
        assertTrue(done.await(10, TimeUnit.SECONDS));
        return order;
    }

    /** A thread that takes a slot for {@code layer}'s first range and keeps it (ends when it has it, or when interrupted). */
    private static Thread taker(ConnectionGate gate, int layer) {
        Thread taker = new Thread(() -> {
            try {
                gate.acquire(layer, 0);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        taker.setDaemon(true);
        taker.start();
        return taker;
    }

    /** Takes up to {@code max} slots from other threads and returns how many it got before one had to wait; then gives them back. */
    private static int slotsFreeWithin(ConnectionGate gate, int max) throws InterruptedException {
        int got = 0;
        for (int i = 0; i < max; i++) {
            Thread taker = taker(gate, 0);
            // It either takes a slot and ends, or parks waiting for one: no clock involved.
            while (taker.isAlive() && taker.getState() != Thread.State.WAITING) Thread.onSpinWait();
            if (taker.getState() == Thread.State.WAITING) {
                taker.interrupt();
                taker.join();
                break;
            }
            taker.join();
            got++;
        }
        for (int i = 0; i < got; i++) gate.release();
        assertFalse(Thread.currentThread().isInterrupted());
        return got;
    }
}
