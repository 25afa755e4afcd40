package io.strata.cli;

import io.strata.config.Units;

import java.io.PrintStream;
import java.util.Locale;

/**
 * Progress of long work on stderr: a redrawn bar (done/total, rate, ETA) on a terminal, a plain
 * line every few seconds otherwise (logs, CI), so neither floods nor stays silent.
 */
final class Progress {
    private static final long LINE_INTERVAL_NANOS = 5_000_000_000L;
    private static final long BAR_INTERVAL_NANOS = 200_000_000L;

    private final String label;
    private final long total;
    private final PrintStream out;
    private final boolean terminal = System.console() != null;
    private final long start = System.nanoTime();
    private long lastDraw;
    private long done;

    Progress(String label, long total, PrintStream out) {
        this.label = label;
        this.total = total;
        this.out = out;
    }

    synchronized void update(long doneBytes) {
        done = doneBytes;
        long now = System.nanoTime();
        if (now - lastDraw < (terminal ? BAR_INTERVAL_NANOS : LINE_INTERVAL_NANOS)) return;
        lastDraw = now;
        draw(now);
    }

    synchronized void finish() {
        if (lastDraw != 0) {
            draw(System.nanoTime());
            if (terminal) out.println();
        }
    }

    private void draw(long now) {
        double seconds = Math.max(1e-3, (now - start) / 1e9);
        double rate = done / seconds;
        String eta = rate > 0 && total > done ? formatSeconds((total - done) / rate) : "0s";
        double fraction = total == 0 ? 1 : Math.min(1, (double) done / total);
        if (terminal) {
            int width = 30;
            int filled = (int) Math.round(fraction * width);
            out.printf(Locale.ROOT, "\r%s [%s%s] %3.0f%% %s/%s %s/s ETA %s  ", label, "#".repeat(filled), " ".repeat(width - filled),
                    fraction * 100, Units.human(done), Units.human(total), Units.human((long) rate), eta);
        } else {
            out.printf(Locale.ROOT, "%s: %3.0f%% %s of %s, %s/s, ETA %s%n", label, fraction * 100, Units.human(done), Units.human(total),
                    Units.human((long) rate), eta);
        }
        out.flush();
    }

    private static String formatSeconds(double seconds) {
        long s = (long) Math.ceil(seconds);
        return s >= 3600 ? (s / 3600) + "h" + (s % 3600 / 60) + "m" : s >= 60 ? (s / 60) + "m" + (s % 60) + "s" : s + "s";
    }
}
