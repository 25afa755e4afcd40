package io.strata.client;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Bytes done of a known total, shown while a transfer runs: bytes, percentage, rate over the last
 * few seconds and time left. Workers call {@link #advance} and {@link #rewind} from any thread;
 * a daemon thread draws. "Done" counts bytes kept (a restarted or failed download rewinds it);
 * the rate counts bytes moved, which is what the network did.
 */
public final class Progress implements AutoCloseable {
    enum Mode { BAR, LINES, QUIET }

    private static final Duration BAR_PERIOD = Duration.ofMillis(200);
    private static final Duration LINE_PERIOD = Duration.ofSeconds(5);
    private static final long RATE_WINDOW_NANOS = Duration.ofSeconds(5).toNanos();
    private static final int BAR_WIDTH = 30;

    private final Console console;
    private final String verb;
    private final Mode mode;
    private final long total;
    private final AtomicLong done = new AtomicLong();
    private final AtomicLong moved = new AtomicLong();
    private final long startNanos = System.nanoTime();
    private final ArrayDeque<long[]> samples = new ArrayDeque<>();
    private final ScheduledExecutorService ticker;

    Progress(Console console, String verb, long total, Mode mode) {
        this.console = console;
        this.verb = verb;
        this.mode = mode;
        this.total = total;
        if (mode == Mode.QUIET) {
            ticker = null;
        } else {
            ticker = Executors.newSingleThreadScheduledExecutor(runnable -> {
                Thread thread = new Thread(runnable, "strata-progress");
                thread.setDaemon(true);
                return thread;
            });
            long period = (mode == Mode.BAR ? BAR_PERIOD : LINE_PERIOD).toMillis();
            ticker.scheduleAtFixedRate(this::tick, period, period, TimeUnit.MILLISECONDS);
        }
    }

    Mode mode() { return mode; }

    /** {@code bytes} more arrived (or were sent) and are kept. */
    public void advance(long bytes) {
        done.addAndGet(bytes);
        moved.addAndGet(bytes);
    }

    /** {@code bytes} already counted were thrown away and will be moved again. */
    public void rewind(long bytes) {
        done.addAndGet(-bytes);
    }

    /** Counts bytes that were already there (resumed from disk) as done without moving them. */
    public void skip(long bytes) {
        done.addAndGet(bytes);
    }

    public long done() { return done.get(); }

    /** Bytes that went over the network, including any thrown away. */
    public long moved() { return moved.get(); }

    public Duration elapsed() { return Duration.ofNanos(System.nanoTime() - startNanos); }

    private synchronized double rate() {
        long now = System.nanoTime();
        samples.addLast(new long[] {now, moved.get()});
        while (samples.size() > 2 && now - samples.peekFirst()[0] > RATE_WINDOW_NANOS) samples.removeFirst();
        long[] first = samples.peekFirst();
        double seconds = (now - first[0]) / 1e9;
        if (seconds < 0.1) {
            seconds = (now - startNanos) / 1e9;
            return seconds <= 0 ? 0 : moved.get() / seconds;
        }
        return (moved.get() - first[1]) / seconds;
    }

    private void tick() {
        try {
            String status = status();
            if (mode == Mode.BAR) console.draw(status);
            else console.print(status);
        } catch (RuntimeException e) {
            // a display problem must never fail a transfer
        }
    }

    private String status() {
        long all = Math.max(total, 1);
        long now = Math.max(0, Math.min(done.get(), all));
        double rate = rate();
        // All bytes moved but not yet verified and on disk (or, for a push, not yet acknowledged).
        String eta = now >= all ? "finishing" : rate > 0 ? "ETA " + Human.clock(Duration.ofSeconds((long) ((all - now) / rate))) : "ETA --:--";
        int percent = (int) (now * 100 / all);
        String numbers = String.format(Locale.ROOT, "%s / %s  %3d%%  %s  %s", Human.bytes(now), Human.bytes(all), percent,
                Human.rate(rate), eta);
        if (mode == Mode.LINES) return verb + ": " + numbers;
        int filled = (int) ((long) BAR_WIDTH * now / all);
        return verb + " [" + "#".repeat(filled) + ".".repeat(BAR_WIDTH - filled) + "] " + numbers;
    }

    @Override
    public void close() {
        if (ticker != null) {
            ticker.shutdownNow();
            try {
                ticker.awaitTermination(1, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (mode == Mode.BAR) console.endBar(status());
        }
        console.ended(this);
    }
}
