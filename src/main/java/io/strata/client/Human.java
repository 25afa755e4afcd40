package io.strata.client;

import java.time.Duration;
import java.util.Locale;

/** Sizes, rates and durations as people read them on a terminal. */
public final class Human {
    private Human() {}

    /** 1536 → "1.5 KiB". */
    public static String bytes(long bytes) {
        if (bytes < 1024) return bytes + " B";
        String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB"};
        double value = bytes;
        int unit = -1;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        return String.format(Locale.ROOT, value >= 100 ? "%.0f %s" : "%.1f %s", value, units[unit]);
    }

    public static String rate(double bytesPerSecond) {
        return bytes((long) bytesPerSecond) + "/s";
    }

    /** 65 s → "1:05", 2 h → "2:00:00". */
    public static String clock(Duration duration) {
        long seconds = Math.max(0, duration.toSeconds());
        if (seconds >= 3600) return String.format(Locale.ROOT, "%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60);
        return String.format(Locale.ROOT, "%d:%02d", seconds / 60, seconds % 60);
    }

    /** Elapsed time with a tenth of a second: "3.2 s". */
    public static String seconds(Duration duration) {
        return String.format(Locale.ROOT, "%.1f s", duration.toMillis() / 1000.0);
    }
}
