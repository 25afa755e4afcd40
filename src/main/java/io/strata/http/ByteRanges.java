package io.strata.http;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The {@code Range} request header of RFC 9110 §14.2 for the {@code bytes} unit, resolved against
 * a representation of known length.
 *
 * <p>Three outcomes, kept apart on purpose: a header we must <em>ignore</em> (absent, another
 * unit, or syntactically invalid: RFC 9110 says to answer 200 as if it were absent), a set with
 * no satisfiable range (416), and the satisfiable ranges in request order (206). A satisfiable
 * request is never turned into a full 200, because qemu's curl driver does not check the status
 * and would read the wrong bytes.
 */
public final class ByteRanges {
    /**
     * More specs than this is a denial-of-service shape (RFC 9110 §14.2 lets a server reject it).
     * qemu and the Strata client send one range per request; 64 leaves room for any real client.
     */
    static final int MAX_RANGES = 64;
    /** RFC 9110 §14.2 names "more than two overlapping ranges" as an attack shape a server may reject. */
    static final int MAX_OVERLAPPING = 2;

    private ByteRanges() {}

    /** One satisfiable range, inclusive at both ends. */
    public record Range(long first, long last) {
        public long length() { return last - first + 1; }

        public String contentRange(long size) { return "bytes " + first + "-" + last + "/" + size; }
    }

    public sealed interface Outcome permits Ignore, Unsatisfiable, Satisfiable, TooMany, Overlapping {}

    /** Serve the whole representation with 200. */
    public record Ignore() implements Outcome {}

    /** Answer 416 with {@code Content-Range: bytes *}{@code /size}. */
    public record Unsatisfiable() implements Outcome {}

    /** Refuse a range set with too many parts. */
    public record TooMany(int count) implements Outcome {}

    /** Refuse a range set where more than {@link #MAX_OVERLAPPING} ranges overlap another (the same bytes sent many times). */
    public record Overlapping(int count) implements Outcome {}

    /** Answer 206 with these ranges (one: a plain body; several: multipart/byteranges). */
    public record Satisfiable(List<Range> ranges) implements Outcome {}

    public static Outcome parse(String header, long size) {
        if (header == null) return new Ignore();
        int equals = header.indexOf('=');
        if (equals < 0 || !header.substring(0, equals).strip().toLowerCase(Locale.ROOT).equals("bytes")) return new Ignore();
        String[] specs = header.substring(equals + 1).split(",", -1);
        if (specs.length > MAX_RANGES) return new TooMany(specs.length);
        List<Range> satisfiable = new ArrayList<>();
        int valid = 0;
        for (String raw : specs) {
            String spec = raw.strip();
            if (spec.isEmpty()) continue; // RFC 9110 list syntax allows empty elements
            int dash = spec.indexOf('-');
            if (dash < 0) return new Ignore();
            String firstText = spec.substring(0, dash);
            String lastText = spec.substring(dash + 1);
            if (!digits(firstText) && !firstText.isEmpty() || !digits(lastText) && !lastText.isEmpty()) return new Ignore();
            if (firstText.isEmpty()) {
                if (lastText.isEmpty()) return new Ignore();
                valid++;
                long suffix = number(lastText);
                if (suffix == 0 || size == 0) continue;
                satisfiable.add(new Range(Math.max(0, size - suffix), size - 1));
            } else {
                long first = number(firstText);
                long last = lastText.isEmpty() ? Long.MAX_VALUE : number(lastText);
                if (last < first) return new Ignore();
                valid++;
                if (first >= size) continue;
                satisfiable.add(new Range(first, Math.min(last, size - 1)));
            }
        }
        if (valid == 0) return new Ignore();
        if (satisfiable.isEmpty()) return new Unsatisfiable();
        int overlapping = overlapping(satisfiable);
        return overlapping > MAX_OVERLAPPING ? new Overlapping(overlapping) : new Satisfiable(List.copyOf(satisfiable));
    }

    /** How many ranges share at least one byte with another range of the set. */
    private static int overlapping(List<Range> ranges) {
        if (ranges.size() <= MAX_OVERLAPPING) return 0;
        List<Range> sorted = new ArrayList<>(ranges);
        sorted.sort(java.util.Comparator.comparingLong(Range::first));
        boolean[] overlaps = new boolean[sorted.size()];
        int reach = 0; // index of the range reaching furthest so far
        for (int i = 1; i < sorted.size(); i++) {
            if (sorted.get(i).first() <= sorted.get(reach).last()) {
                overlaps[i] = true;
                overlaps[reach] = true;
            }
            if (sorted.get(i).last() > sorted.get(reach).last()) reach = i;
        }
        int count = 0;
        for (boolean o : overlaps) if (o) count++;
        return count;
    }

    private static boolean digits(String text) {
        if (text.isEmpty()) return false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < '0' || c > '9') return false;
        }
        return true;
    }

    /** Digits that overflow a long mean "further than any file": saturate instead of failing. */
    private static long number(String digits) {
        try {
            return Long.parseLong(digits);
        } catch (NumberFormatException e) {
            return Long.MAX_VALUE;
        }
    }
}
