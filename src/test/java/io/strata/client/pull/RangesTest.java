package io.strata.client.pull;

import io.strata.client.pull.PartState.Segment;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How a running range is split for a spare connection: what each half gets, and what may not be split. */
class RangesTest {
    private static final long MIB = 1 << 20;

    @Test
    void a_receiving_range_is_halved_and_the_rest_goes_to_a_new_range_after_it() {
        Segment whole = new Segment(0, 100 * MIB, 10 * MIB);
        whole.receiving = true;
        Ranges ranges = new Ranges(List.of(whole));
        List<Segment> started = new ArrayList<>();

        assertTrue(ranges.split(16 * MIB, started::add));

        assertEquals(1, started.size());
        Segment rest = started.get(0);
        assertEquals(55 * MIB, whole.end, "halfway through what was left, on a 64 KiB boundary");
        assertEquals(55 * MIB, rest.start);
        assertEquals(100 * MIB, rest.end);
        assertEquals(0, rest.done.get());
        assertEquals(List.of(whole, rest), ranges.list());
        assertEquals(10 * MIB, ranges.prefix(), "the new range's bytes do not count until the hole before them is filled");
        assertTrue(ranges.holeBefore(rest), "so the resume record is written before it writes");
        List<long[]> snapshot = ranges.snapshot();
        assertArrayEquals(new long[] {0, 55 * MIB, 10 * MIB}, snapshot.get(0));
        assertArrayEquals(new long[] {55 * MIB, 100 * MIB, 0}, snapshot.get(1));
    }

    @Test
    void the_range_with_the_most_left_is_split_and_one_too_short_or_not_receiving_is_not() {
        Segment head = new Segment(0, 40 * MIB, 0);
        Segment tail = new Segment(40 * MIB, 100 * MIB, 0);
        Ranges ranges = new Ranges(List.of(head, tail));
        assertEquals(0, ranges.splittable(16 * MIB), "no request is receiving: nothing to split");
        assertFalse(ranges.split(16 * MIB, s -> {}));

        head.receiving = true;
        tail.receiving = true;
        assertEquals(60 * MIB, ranges.splittable(16 * MIB));
        assertTrue(ranges.split(16 * MIB, s -> {}));
        assertEquals(70 * MIB, tail.end, "the longer range was split");
        assertEquals(40 * MIB, ranges.splittable(16 * MIB));
        assertTrue(ranges.split(16 * MIB, s -> {}));
        assertEquals(20 * MIB, head.end);
        assertEquals(0, ranges.splittable(16 * MIB), "every range has less than two halves of 16 MiB left");
        assertEquals(4, ranges.size());
    }

    @Test
    void a_split_whose_request_cannot_start_is_undone() {
        Segment whole = new Segment(0, 100 * MIB, 0);
        whole.receiving = true;
        Ranges ranges = new Ranges(List.of(whole));

        assertFalse(ranges.split(16 * MIB, s -> { throw new java.util.concurrent.RejectedExecutionException("pull stopping"); }));

        assertEquals(100 * MIB, whole.end);
        assertEquals(List.of(whole), ranges.list());
    }
}
