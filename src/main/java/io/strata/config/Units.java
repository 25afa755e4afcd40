package io.strata.config;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Human sizes and durations on the command line: {@code 64G}, {@code 512M}, {@code 24h}, {@code 7d}. */
public final class Units {
    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*([KMGT]?)(?:I?B)?", Pattern.CASE_INSENSITIVE);
    private static final Pattern DURATION = Pattern.compile("(\\d+)\\s*([smhd])", Pattern.CASE_INSENSITIVE);

    private Units() {}

    /** Binary multiples: {@code 1K} is 1024 bytes. */
    public static long parseSize(String text) {
        Matcher m = SIZE.matcher(text.strip());
        if (!m.matches()) throw new IllegalArgumentException("not a size: '" + text + "' (examples: 1048576, 512M, 64G, 1T)");
        long value = Long.parseLong(m.group(1));
        int shift = switch (m.group(2).toUpperCase(Locale.ROOT)) {
            case "K" -> 10;
            case "M" -> 20;
            case "G" -> 30;
            case "T" -> 40;
            default -> 0;
        };
        if (shift > 0 && value > (Long.MAX_VALUE >> shift)) throw new IllegalArgumentException("size too large: " + text);
        return value << shift;
    }

    public static Duration parseDuration(String text) {
        Matcher m = DURATION.matcher(text.strip());
        if (!m.matches()) throw new IllegalArgumentException("not a duration: '" + text + "' (examples: 90s, 30m, 24h, 7d)");
        long value = Long.parseLong(m.group(1));
        return switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "s" -> Duration.ofSeconds(value);
            case "m" -> Duration.ofMinutes(value);
            case "h" -> Duration.ofHours(value);
            default -> Duration.ofDays(value);
        };
    }
}
