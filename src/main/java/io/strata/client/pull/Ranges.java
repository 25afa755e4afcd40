package io.strata.client.pull;

import io.strata.client.pull.PartState.Segment;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The segments of one layer's download as they change: the range writers, the {@link PrefixHasher}
 * and the connection gate's splits share them. A split shortens a range that is receiving and
 * inserts the rest after it as a new range, under this object's lock and the range's, so the
 * hasher's prefix and the resume record never see the two overlap or a gap between them.
 *
 * <p>Lock order: the gate, then this, then a segment. A writer holds only its segment's lock.
 */
final class Ranges {
    /** A split point is rounded down to this, so the writes on both sides start aligned. */
    private static final long ALIGN = 64 * 1024;

    private final List<Segment> segments;

    Ranges(List<Segment> planned) {
        this.segments = new ArrayList<>(planned);
    }

    synchronized int size() { return segments.size(); }

    synchronized List<Segment> list() { return List.copyOf(segments); }

    /** The range's place in the layer, from 0: the gate lets a layer's first range go before later ones. */
    synchronized int indexOf(Segment segment) { return segments.indexOf(segment); }

    /** Whether a range before {@code segment} is unfinished, so that its bytes leave a hole in the part. */
    synchronized boolean holeBefore(Segment segment) {
        for (Segment before : segments) {
            if (before == segment) return false;
            if (!before.complete()) return true;
        }
        return false;
    }

    /** Bytes from the start of the layer that are written with no gap. */
    synchronized long prefix() {
        long prefix = 0;
        for (Segment segment : segments) {
            prefix = segment.next();
            if (!segment.complete()) break;
        }
        return prefix;
    }

    synchronized long done() {
        return segments.stream().mapToLong(s -> s.done.get()).sum();
    }

    synchronized List<long[]> snapshot() { return PartState.snapshot(segments); }

    /** Bytes left in the receiving range with the most left, if it can be split into two of at least {@code min}; else 0. */
    synchronized long splittable(long min) {
        Segment best = largestReceiving(min);
        return best == null ? 0 : best.end - best.next();
    }

    /**
     * Splits the receiving range with the most bytes left in two halves of at least {@code min}:
     * the range now ends halfway, its request stops there, and {@code start} gets the new range
     * of the rest (called under the locks, before the old range's writer can finish). False if no
     * range can be split, or if {@code start} throws (the split is undone).
     */
    synchronized boolean split(long min, Consumer<Segment> start) {
        Segment best = largestReceiving(min);
        if (best == null) return false;
        synchronized (best) {
            long next = best.next();
            long end = best.end;
            if (!best.receiving || end - next < 2 * min) return false; // its request ended meanwhile
            long at = next + (end - next) / 2;
            if (at / ALIGN * ALIGN > next) at = at / ALIGN * ALIGN;
            Segment rest = new Segment(at, end, 0);
            // The new range goes in first, then the old one is shortened: in between they overlap,
            // which prefix() reads as the old range unfinished (it is), never as a gap closed.
            segments.add(segments.indexOf(best) + 1, rest);
            best.end = at;
            try {
                start.accept(rest);
            } catch (RuntimeException e) {
                best.end = end;
                segments.remove(rest);
                return false;
            }
            return true;
        }
    }

    private Segment largestReceiving(long min) {
        Segment best = null;
        for (Segment segment : segments) {
            long left = segment.end - segment.next();
            if (segment.receiving && left >= 2 * min && (best == null || left > best.end - best.next())) best = segment;
        }
        return best;
    }
}
