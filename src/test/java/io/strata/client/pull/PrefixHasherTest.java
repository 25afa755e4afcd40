package io.strata.client.pull;

import io.strata.client.Timings;
import io.strata.client.pull.PartState.Segment;
import io.strata.layer.Digest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** When a split layer's part needs the record of its segments: only once it can have a hole. */
class PrefixHasherTest {
    private static final Digest LAYER = new Digest("ab".repeat(32));

    @Test
    void ranges_that_come_one_after_the_other_leave_a_plain_prefix_and_no_record(@TempDir Path dir) throws Exception {
        Path part = dir.resolve("layer.part");
        Path record = dir.resolve("layer.part.json");
        List<Segment> segments = List.of(new Segment(0, 100, 100), new Segment(100, 200, 50));
        PrefixHasher hasher = hasher(part, 150, record, segments);
        hasher.rangeStarting(segments.get(0));
        hasher.rangeStarting(segments.get(1)); // the range before it is complete: no hole
        hasher.persist(); // a pull that stops here
        assertFalse(Files.exists(record), "no record while the part is a prefix");
        assertEquals(150, PartState.resumable(part, record, LAYER, 200), "the next pull resumes from the part's size");
    }

    @Test
    void a_range_that_starts_before_the_one_ahead_of_it_is_done_records_the_segments_first(@TempDir Path dir) throws Exception {
        Path part = dir.resolve("layer.part");
        Path record = dir.resolve("layer.part.json");
        List<Segment> segments = List.of(new Segment(0, 100, 40), new Segment(100, 200, 0));
        PrefixHasher hasher = hasher(part, 40, record, segments);
        hasher.rangeStarting(segments.get(1));
        assertTrue(Files.exists(record), "recorded before range 1 writes past the hole at 40..100");
        segments.get(1).done.set(30); // range 1 wrote 100..130
        Files.write(part, new byte[130]);
        hasher.persist();
        assertEquals(70, PartState.resumable(part, record, LAYER, 200), "40 bytes of range 0 and 30 of range 1, not the part's size");
    }

    /** The hasher of a 200-byte layer whose part holds {@code bytes} bytes so far. */
    private static PrefixHasher hasher(Path part, int bytes, Path record, List<Segment> segments) throws Exception {
        Files.write(part, new byte[bytes]);
        return new PrefixHasher(part, record, LAYER, 200, new Ranges(segments), Timings.of("test"));
    }
}
