package io.strata.client;

import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;

/**
 * How {@code pull}, {@code push} and {@code cache} talk to their user, always on stderr (stdout is
 * kept for the one result a script reads). {@code quiet} silences information and progress, never
 * warnings. On a terminal progress is a bar redrawn in place; elsewhere (logs, CI) it is a plain
 * line every few seconds.
 */
public final class Console {
    private final PrintWriter err;
    private final boolean quiet;
    private final boolean terminal;
    private Progress active;

    public Console(PrintWriter err, boolean quiet, boolean terminal) {
        this.err = err;
        this.quiet = quiet;
        this.terminal = terminal;
    }

    /** Talks on {@code err}; progress is a bar when stderr is a terminal. */
    public static Console on(PrintWriter err, boolean quiet) {
        return new Console(err, quiet, stderrIsTerminal());
    }

    /**
     * System.console() needs stdin and stdout on a terminal too, but {@code top=$(strata pull ...)}
     * captures stdout while stderr still shows on the terminal: on Linux, ask where fd 2 points.
     */
    static boolean stderrIsTerminal() {
        if (System.console() != null) return true;
        try {
            String target = java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (java.io.IOException | UnsupportedOperationException | SecurityException e) {
            return false;
        }
    }

    public static Console on(PrintStream err, boolean quiet) {
        return on(new PrintWriter(err, true), quiet);
    }

    /** A console that prints nothing at all (library use, tests that do not look). */
    public static Console silent() {
        return new Console(new PrintWriter(OutputStream.nullOutputStream()), true, false);
    }

    public void info(String line) {
        if (!quiet) print(line);
    }

    public void warn(String line) {
        print(line);
    }

    /** A progress display for {@code total} bytes; close it when the transfer ends. */
    public Progress progress(String verb, long total) {
        Progress progress = new Progress(this, verb, total, quiet ? Progress.Mode.QUIET
                : terminal ? Progress.Mode.BAR : Progress.Mode.LINES);
        synchronized (this) {
            active = progress;
        }
        return progress;
    }

    synchronized void ended(Progress progress) {
        if (active == progress) active = null;
    }

    /** Writes a line; a bar being drawn is cleared first and redrawn by its next tick. */
    synchronized void print(String line) {
        if (active != null && active.mode() == Progress.Mode.BAR) err.print("\r\033[K");
        err.println(line);
        err.flush();
    }

    synchronized void draw(String bar) {
        err.print("\r\033[K" + bar);
        err.flush();
    }

    synchronized void endBar(String bar) {
        err.println("\r\033[K" + bar);
        err.flush();
    }
}
