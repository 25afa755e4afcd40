package io.strata.upload;

import io.strata.layer.Digest;
import io.strata.layer.Sha256State;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The running hash of an upload that may finish after its request: order, the memory bound, the state of a checkpoint. */
class HashLaneTest {
    private static final Random RANDOM = new Random(11);

    @Test
    void bytes_handed_in_by_several_requests_are_hashed_in_order() throws IOException {
        byte[] all = new byte[40 << 20];
        RANDOM.nextBytes(all);
        HashLane lane = new HashLane(Digest.sha256(), 0);
        int at = 0;
        while (at < all.length) {
            // A request's buffers: full ones and the partial ones a socket hands over.
            byte[] buffer = lane.take();
            int length = Math.min(all.length - at, 1 + RANDOM.nextInt(buffer.length));
            System.arraycopy(all, at, buffer, 0, length);
            lane.submit(buffer, length);
            at += length;
            if (RANDOM.nextInt(50) == 0) lane.unused(lane.take()); // a body that ended with an empty read
        }
        assertEquals(all.length, lane.position());
        assertEquals(Digest.of(Digest.sha256().digest(all)), Digest.of(lane.await().digest()));
    }

    @Test
    void a_lane_continues_a_hash_restored_from_a_checkpoint() throws IOException {
        byte[] all = new byte[3 << 20];
        RANDOM.nextBytes(all);
        MessageDigest first = Digest.sha256();
        first.update(all, 0, 1 << 20);
        HashLane lane = new HashLane(first, 1 << 20);
        for (int at = 1 << 20; at < all.length; ) {
            byte[] buffer = lane.take();
            int length = Math.min(all.length - at, buffer.length);
            System.arraycopy(all, at, buffer, 0, length);
            lane.submit(buffer, length);
            at += length;
        }
        assertEquals(Digest.of(Digest.sha256().digest(all)), Digest.of(lane.await().digest()));
    }

    @Test
    void a_lane_holds_no_more_buffers_than_its_own_and_the_shared_budget_and_waits_for_one_back() throws Exception {
        HashLane lane = new HashLane(Digest.sha256(), 0);
        List<byte[]> held = new ArrayList<>();
        AtomicInteger taken = new AtomicInteger();
        int most = HashLane.BASE_BUFFERS + HashLane.LAG_BUFFERS;
        CompletableFuture<Void> taking = CompletableFuture.runAsync(() -> {
            try {
                for (int i = 0; i <= most; i++) {
                    byte[] buffer = lane.take();
                    synchronized (held) {
                        held.add(buffer);
                    }
                    taken.incrementAndGet();
                }
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        assertThrows(TimeoutException.class, () -> taking.get(500, TimeUnit.MILLISECONDS), "one more than it may hold waits");
        assertTrue(taken.get() >= HashLane.BASE_BUFFERS && taken.get() <= most, "took " + taken.get() + " of at most " + most);
        // Each buffer given back lets the taker have one more (part of the budget may be with lanes of tests running alongside).
        while (!taking.isDone()) {
            synchronized (held) {
                if (!held.isEmpty()) lane.unused(held.remove(0));
            }
            Thread.sleep(5);
        }
        taking.get(5, TimeUnit.SECONDS);
        synchronized (held) {
            for (byte[] buffer : held) lane.unused(buffer);
        }
    }

    @Test
    void the_state_of_a_checkpoint_ahead_of_the_hasher_is_that_of_exactly_its_bytes() throws Exception {
        byte[] all = new byte[(9 << 20) + 12345];
        RANDOM.nextBytes(all);
        boolean sawLater = false;
        for (int round = 0; round < 20 && !sawLater; round++) {
            HashLane lane = new HashLane(Digest.sha256(), 0);
            int checkpoint = feed(lane, all, 0, (8 << 20) + 777);
            if (lane.stateNow(checkpoint) != null) continue; // hashed already (a fast machine): try again
            sawLater = true;
            CompletableFuture<String> later = new CompletableFuture<>();
            lane.onHashed(checkpoint, later::complete);
            // The next chunk's bytes follow at once: the state must still be the checkpoint's.
            feed(lane, all, checkpoint, all.length);
            MessageDigest restored = Sha256State.restore(later.get(10, TimeUnit.SECONDS)).orElseThrow();
            restored.update(all, checkpoint, all.length - checkpoint);
            assertEquals(Digest.of(Digest.sha256().digest(all)), Digest.of(restored.digest()));
            assertEquals(Digest.of(Digest.sha256().digest(all)), Digest.of(lane.await().digest()));
        }
        assertTrue(sawLater, "8 MiB were always hashed before the checkpoint was asked for");
    }

    @Test
    void the_state_of_a_checkpoint_already_hashed_comes_at_once_and_one_passed_never() throws Exception {
        byte[] all = new byte[1000];
        RANDOM.nextBytes(all);
        HashLane lane = new HashLane(Digest.sha256(), 0);
        feed(lane, all, 0, all.length);
        lane.await();
        String now = lane.stateNow(all.length);
        assertEquals(Digest.of(Digest.sha256().digest(all)), Digest.of(Sha256State.restore(now).orElseThrow().digest()));
        String[] given = new String[1];
        lane.onHashed(all.length, state -> given[0] = state);
        assertEquals(now, given[0], "reached already: given at once");
        lane.onHashed(500, state -> { throw new AssertionError("the digest is past 500 bytes: no state for them"); });
        assertEquals(null, lane.stateNow(500));
    }

    @Test
    void waiting_for_the_hash_fails_when_the_request_thread_is_interrupted() throws Exception {
        HashLane lane = new HashLane(Digest.sha256(), 0);
        byte[] all = new byte[64 << 20];
        CompletableFuture<Throwable> waiter = new CompletableFuture<>();
        Thread thread = new Thread(() -> {
            try {
                feed(lane, all, 0, all.length);
                Thread.currentThread().interrupt();
                lane.await();
                waiter.complete(null);
            } catch (Throwable e) {
                waiter.complete(e);
            }
        });
        thread.start();
        Throwable failure = waiter.get(30, TimeUnit.SECONDS);
        // Interrupted before the hash was done: refused as interrupted; done already: the digest (both are fine).
        if (failure != null) assertTrue(failure instanceof java.io.InterruptedIOException, failure.toString());
        assertEquals(Digest.of(Digest.sha256().digest(all)), Digest.of(lane.await().digest()));
    }

    @Test
    void the_lag_budget_is_a_quarter_of_the_heap_at_most_64_mib_and_a_setting_may_not_pass_half_the_heap() {
        int mib = (1 << 20) / HashLane.BUFFER_BYTES;
        assertEquals(16 * mib, HashLane.lagBuffers(64L << 20, null));
        assertEquals(64 * mib, HashLane.lagBuffers(8L << 30, null));
        assertEquals(8 * mib, HashLane.lagBuffers(64L << 20, "8388608"));
        assertEquals(32 * mib, HashLane.lagBuffers(64L << 20, "67108864"), "64 MiB of lag in a 64 MiB heap is cut to half of it");
        assertEquals(0, HashLane.lagBuffers(64L << 20, "0"));
        assertEquals(16 * mib, HashLane.lagBuffers(64L << 20, "lots"), "not a number: the default");
    }

    private static int feed(HashLane lane, byte[] all, int from, int to) {
        try {
            int at = from;
            while (at < to) {
                byte[] buffer = lane.take();
                int length = Math.min(to - at, buffer.length);
                System.arraycopy(all, at, buffer, 0, length);
                lane.submit(buffer, length);
                at += length;
            }
            return at;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
