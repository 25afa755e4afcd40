package io.strata.metrics;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The route a request belongs to, as the template it was registered with in
 * {@link io.strata.http.Routes} ({@code /layers/{file}}, {@code /api/v1/uploads/{id}},
 * {@code /index.json}), never the path itself: a label per path would make one time series per
 * layer, upload and typo a client sends. Every path no template matches is {@link #OTHER}.
 *
 * <p>Templates use Javalin's syntax: {@code {name}} is one non-empty path segment, {@code <name>}
 * the rest of the path (slashes included). Like Javalin, a request takes the first template, in
 * the order given, registered for its method; a path that only a route of another method has
 * (a 404 or 405 then) takes the first template that matches it. Matching allocates nothing: it
 * runs for every request, on the I/O thread for the hot reads.
 */
public final class RouteTemplates {
    /** The route of every path that matches no template. */
    public static final String OTHER = "other";
    /** Methods with an index (and a metrics label) of their own; any other is {@link #OTHER}. */
    private static final String[] METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    static final int METHOD_COUNT = METHODS.length + 1;

    /** One registered route: a method ({@code GET}, ...) and the template of its path. */
    public record Route(String method, String template) {
        public Route {
            if (!template.startsWith("/") || template.contains("*")) {
                throw new IllegalArgumentException("not a route template: '" + template + "' (a path starting with '/', no wildcard)");
            }
        }
    }

    /** Paths without parameters, by path: the same label whatever the method. */
    private final Map<String, Integer> exact = new HashMap<>();
    private final Template[] templates;
    /** Labels by index; the last is {@link #OTHER}. */
    private final String[] labels;

    private RouteTemplates(String[] labels, Template[] templates) {
        this.labels = labels;
        this.templates = templates;
        for (int i = 0; i < labels.length - 1; i++) {
            if (!isTemplate(labels[i])) exact.put(labels[i], i);
        }
    }

    public static RouteTemplates of(List<Route> routes) {
        Map<String, Integer> methodsByTemplate = new LinkedHashMap<>();
        for (Route route : routes) methodsByTemplate.merge(route.template(), 1 << method(route.method()), (a, b) -> a | b);
        List<String> labels = new ArrayList<>(methodsByTemplate.keySet());
        List<Template> compiled = new ArrayList<>();
        for (int i = 0; i < labels.size(); i++) {
            if (isTemplate(labels.get(i))) compiled.add(Template.parse(labels.get(i), i, methodsByTemplate.get(labels.get(i))));
        }
        labels.add(OTHER);
        return new RouteTemplates(labels.toArray(String[]::new), compiled.toArray(Template[]::new));
    }

    /** The index of a request method, {@link #method(int) labelled} {@link #OTHER} for one without its own. */
    static int method(String method) {
        for (int i = 0; i < METHODS.length; i++) {
            // Jetty hands over its cached method strings, so this is usually an identity hit.
            if (METHODS[i].equals(method)) return i;
        }
        return METHODS.length;
    }

    static String method(int index) { return index < METHODS.length ? METHODS[index] : OTHER; }

    /** The index of the route of {@code path} for a method index, {@link #label(int) labelled} {@link #OTHER} when none. */
    public int match(int method, String path) {
        if (path == null) return labels.length - 1;
        Integer found = exact.get(path);
        if (found != null) return found;
        int otherMethod = -1;
        for (Template template : templates) {
            if (!template.matches(path)) continue;
            if ((template.methods & (1 << method)) != 0) return template.index;
            if (otherMethod < 0) otherMethod = template.index;
        }
        return otherMethod >= 0 ? otherMethod : labels.length - 1;
    }

    public String label(int index) { return labels[index]; }

    /** How many routes there are, {@link #OTHER} included: every index {@link #match} returns is below it. */
    public int size() { return labels.length; }

    private static boolean isTemplate(String path) { return path.contains("{") || path.contains("<"); }

    /** A template split at '/': literal segments, one-segment parameters, and at most one rest at the end. */
    private record Template(String[] literals, byte[] kinds, int index, int methods) {
        static final byte LITERAL = 0;
        static final byte SEGMENT = 1;
        static final byte REST = 2;

        static Template parse(String template, int index, int methods) {
            String[] parts = template.substring(1).split("/", -1);
            byte[] kinds = new byte[parts.length];
            for (int i = 0; i < parts.length; i++) {
                // A segment that mixes text and a parameter ({file}.qcow2) counts as a parameter: coarser, never unbounded.
                kinds[i] = parts[i].contains("<") ? REST : parts[i].contains("{") ? SEGMENT : LITERAL;
                if (kinds[i] == REST && i != parts.length - 1) {
                    throw new IllegalArgumentException("route template '" + template + "': a <rest> parameter must be the last segment");
                }
            }
            return new Template(parts, kinds, index, methods);
        }

        /** Walks the path segment by segment; a trailing '/' is ignored, as Javalin ignores it. */
        boolean matches(String path) {
            int length = path.length();
            if (length == 0 || path.charAt(0) != '/') return false;
            int position = 1;
            for (int i = 0; i < kinds.length; i++) {
                if (position > length) return false;
                if (kinds[i] == REST) return position < length;
                int end = path.indexOf('/', position);
                if (end < 0) end = length;
                if (kinds[i] == SEGMENT) {
                    if (end == position) return false;
                } else {
                    String literal = literals[i];
                    if (end - position != literal.length() || !path.regionMatches(position, literal, 0, literal.length())) return false;
                }
                position = end + 1;
            }
            return position >= length;
        }
    }
}
