package io.strata.client;

import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where the time of one layer's transfer goes, by stage (receive, write, hash, fsync, rename, ...),
 * printed as one line on stderr when the layer is done if {@code STRATA_TIMINGS=1} is set. A
 * diagnostic for benchmarks (bench/pull-push.sh), independent of {@code --quiet}; stages that run
 * in parallel threads each count their own time, so the sum may exceed the wall time.
 */
public final class Timings {
    private static final boolean ENABLED = "1".equals(System.getenv("STRATA_TIMINGS"));
    private static final Timings OFF = new Timings("", false);

    private final String what;
    private final boolean on;
    private final long started = System.nanoTime();
    private final Map<String, AtomicLong> nanos = new ConcurrentSkipListMap<>();

    private Timings(String what, boolean on) {
        this.what = what;
        this.on = on;
    }

    /** A recorder for {@code what} (e.g. "pull 3f2a… 600 MiB"), or one that records nothing when timings are off. */
    public static Timings of(String what) { return ENABLED ? new Timings(what, true) : OFF; }

    /** Prints one line of its own, e.g. a decision taken on measurements. */
    public static void note(String line) {
        if (ENABLED) System.err.println("timings: " + line);
    }

    /** The current time, for {@link #add}; 0 when off, so a disabled recorder costs no clock reads. */
    public long start() { return on ? System.nanoTime() : 0; }

    /** Adds the time since {@code start} to {@code stage}. */
    public void add(String stage, long start) {
        if (on) nanos.computeIfAbsent(stage, s -> new AtomicLong()).addAndGet(System.nanoTime() - start);
    }

    /** Prints the stages and the wall time since this recorder was made. */
    public void report() {
        if (!on) return;
        StringBuilder line = new StringBuilder("timings: ").append(what)
                .append(String.format(Locale.ROOT, " wall=%.3fs", (System.nanoTime() - started) / 1e9));
        nanos.forEach((stage, n) -> line.append(String.format(Locale.ROOT, " %s=%.3fs", stage, n.get() / 1e9)));
        System.err.println(line);
    }
}
