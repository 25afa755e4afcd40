package io.strata.metrics;

import java.nio.file.Path;
import java.util.Optional;

/**
 * Where the access log goes ({@code serve --access-log PATH|-|off}): nowhere, standard output,
 * or appended to a file.
 *
 * @param enabled whether requests are logged at all
 * @param file    the file to append to; empty means standard output
 */
public record AccessLogTarget(boolean enabled, Optional<Path> file) {
    public static final AccessLogTarget OFF = new AccessLogTarget(false, Optional.empty());
    public static final AccessLogTarget STDOUT = new AccessLogTarget(true, Optional.empty());

    public AccessLogTarget {
        if (!enabled && file.isPresent()) throw new IllegalArgumentException("an access log that is off has no file");
    }

    public static AccessLogTarget file(Path path) { return new AccessLogTarget(true, Optional.of(path)); }

    /** {@code off}, {@code -} (standard output) or a file path. */
    public static AccessLogTarget parse(String text) {
        String value = text == null ? "" : text.strip();
        if (value.isEmpty()) throw new IllegalArgumentException("--access-log needs PATH, - (standard output) or off");
        if (value.equals("off")) return OFF;
        if (value.equals("-")) return STDOUT;
        return file(Path.of(value).toAbsolutePath().normalize());
    }

    public String describe() { return !enabled ? "off" : file.map(Path::toString).orElse("standard output"); }
}
