package io.strata.client.pull;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.client.cache.RefStore;
import io.strata.layer.Digest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Which byte ranges of a partial download are on disk. A part fetched as one stream needs no
 * record: its length is its progress. A part fetched as several ranges at once has holes, so its
 * segments and how far each got are kept beside it in {@code <sha256>.qcow2.part.json}, written
 * only after the bytes it counts were forced to disk: after a crash it may undercount, never overcount.
 */
final class PartState {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * One range {@code [start, end)} of the layer and how many of its bytes, from its start, are
     * written. {@code end} only ever moves down, when {@link Ranges#split} hands the rest of a range
     * that is receiving to another connection; its writer writes under the segment's lock, so no
     * byte past the new end is written into it.
     */
    static final class Segment {
        final long start;
        volatile long end;
        final AtomicLong done;
        /** A request's body is being written into it (set and cleared under the segment's lock): it may be split. */
        volatile boolean receiving;

        Segment(long start, long end, long done) {
            if (start < 0 || end < start || done < 0 || done > end - start) {
                throw new IllegalArgumentException("bad segment " + start + "-" + end + " done " + done);
            }
            this.start = start;
            this.end = end;
            this.done = new AtomicLong(done);
        }

        long length() { return end - start; }

        long next() { return start + done.get(); }

        boolean complete() { return done.get() == length(); }
    }

    /** The file as written: a JSON object. */
    private record Stored(String layer, long size, List<long[]> segments) {}

    private PartState() {}

    /**
     * The segments to download {@code size} bytes of {@code layer} into {@code part}: those
     * recorded beside the part if any, else one range of the whole layer whose done prefix is the
     * part's length. A layer is split only while it downloads, when a connection is to spare
     * ({@link Ranges#split}), so a pull that stays on one connection asks for each layer once.
     */
    static List<Segment> plan(Path part, Path record, Digest layer, long size) throws IOException {
        Optional<List<Segment>> recorded = load(record, layer, size);
        if (recorded.isPresent() && Files.exists(part)) return recorded.get();
        Files.deleteIfExists(record);
        long have = LayerFiles.sizeOf(part);
        if (have > size) {
            Files.delete(part); // longer than the layer: not a prefix of it
            have = 0;
        }
        return List.of(new Segment(0, size, have));
    }

    /** Bytes of the layer on disk that a download would keep. */
    static long resumable(Path part, Path record, Digest layer, long size) throws IOException {
        if (!Files.exists(part)) return 0;
        Optional<List<Segment>> recorded = load(record, layer, size);
        if (recorded.isPresent()) return recorded.get().stream().mapToLong(s -> s.done.get()).sum();
        long have = LayerFiles.sizeOf(part);
        return have > size ? 0 : have;
    }

    /** Records the segments, if there are several (temp + fsync + rename). */
    static void save(Path record, Digest layer, long size, List<long[]> snapshot) throws IOException {
        if (snapshot.size() <= 1) return;
        RefStore.write(record, JSON.writeValueAsBytes(new Stored(layer.hex(), size, snapshot)));
    }

    static List<long[]> snapshot(List<Segment> segments) {
        return segments.stream().map(s -> new long[] {s.start, s.end, s.done.get()}).toList();
    }

    private static Optional<List<Segment>> load(Path record, Digest layer, long size) {
        try {
            Stored stored = JSON.readValue(Files.readAllBytes(record), Stored.class);
            if (!layer.hex().equals(stored.layer()) || stored.size() != size || stored.segments() == null) return Optional.empty();
            List<Segment> segments = new ArrayList<>();
            long expectedStart = 0;
            for (long[] s : stored.segments()) {
                if (s.length != 3 || s[0] != expectedStart) return Optional.empty();
                segments.add(new Segment(s[0], s[1], s[2]));
                expectedStart = s[1];
            }
            return expectedStart == size && !segments.isEmpty() ? Optional.of(segments) : Optional.empty();
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException | RuntimeException e) {
            return Optional.empty(); // unreadable: the part is treated as a plain prefix (verification catches the rest)
        }
    }
}
