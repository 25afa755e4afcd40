package io.strata.http.guard;

import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.http.UriCompliance;

import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Decides whether a request path is unambiguous enough to route. Jetty rejects some ambiguous
 * forms itself (NUL, raw backslash, invalid UTF-8) but normalises others before a handler sees
 * them ({@code /layers/%2e%2e/index.json} reaches {@code /index.json}) or leaves them to the
 * servlet layer, which the fast reads run in front of. Every route of Strata is a plain path,
 * so anything a proxy, a cache or a log could read differently from Jetty is refused here.
 */
final class UriCheck {
    private UriCheck() {}

    /** The reason {@code uri} is refused, or empty when it is a plain path. */
    static Optional<String> problem(HttpURI uri) {
        if (uri.hasViolations()) {
            return Optional.of("the path is ambiguous: " + uri.getViolations().stream()
                    .map(UriCompliance.Violation::getDescription).collect(Collectors.joining("; ")));
        }
        String raw = uri.getPath();
        if (raw == null) return Optional.empty();
        if (raw.indexOf('\\') >= 0) return Optional.of("the path contains a backslash");
        if (raw.indexOf(';') >= 0) return Optional.of("the path contains ';' (path parameters are not used by this API)");
        // Every request passes here: the hot reads (/layers/<hex>.qcow2, /index.json) have no '%' and no "/.", and stop now.
        boolean encoded = raw.indexOf('%') >= 0;
        if (!encoded && !raw.contains("/.")) return Optional.empty();
        String lower = raw.toLowerCase(Locale.ROOT);
        if (lower.contains("%2f")) return Optional.of("the path contains an encoded '/' (%2F) inside a segment");
        if (lower.contains("%5c")) return Optional.of("the path contains an encoded backslash (%5C)");
        if (lower.contains("%00")) return Optional.of("the path contains an encoded NUL (%00)");
        for (String segment : lower.split("/", -1)) {
            String decoded = segment.replace("%2e", ".");
            if (decoded.equals(".") || decoded.equals("..")) return Optional.of("the path contains a '" + decoded + "' segment");
        }
        return Optional.empty();
    }
}
