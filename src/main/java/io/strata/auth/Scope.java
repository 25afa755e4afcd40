package io.strata.auth;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * One thing a token may do (DESIGN §11): {@code admin}, {@code read}, or an action on the products
 * matching {@code <os>:<release>:<arch>:<variant>}, each segment a name or {@code *}. Trailing
 * segments left out mean {@code *}: {@code publish:debian} is {@code publish:debian:*:*:*}.
 *
 * @param action   what is allowed
 * @param segments the product pattern, four segments; empty for {@code admin} and {@code read}
 */
public record Scope(Action action, List<String> segments) {
    public static final String ANY = "*";
    private static final Pattern SEGMENT = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}|\\*");

    public enum Action {
        /** Everything, including maintenance, the audit log and tokens of any scope. */
        ADMIN,
        /** Reads, needed for every read on a private registry; every other scope includes it. */
        READ,
        /** Upload layers (any push scope: layers belong to no product); the pattern bounds nothing else today. */
        PUSH,
        /** Publish versions and move aliases of the matching products. */
        PUBLISH,
        /** Unpublish (delete) versions of the matching products. */
        DELETE;

        public String id() { return name().toLowerCase(Locale.ROOT); }

        boolean onProducts() { return this == PUSH || this == PUBLISH || this == DELETE; }
    }

    public static final Scope ADMIN = new Scope(Action.ADMIN, List.of());
    public static final Scope READ = new Scope(Action.READ, List.of());

    public Scope {
        segments = List.copyOf(segments);
        if (action.onProducts() ? segments.size() != 4 : !segments.isEmpty()) {
            throw new IllegalArgumentException("scope " + action.id() + " takes " + (action.onProducts() ? "four" : "no") + " product segments");
        }
    }

    /** {@code action} on every product. */
    public static Scope all(Action action) { return new Scope(action, action.onProducts() ? List.of(ANY, ANY, ANY, ANY) : List.of()); }

    /** {@code action} on exactly one product id {@code os:release:arch:variant}. */
    public static Scope on(Action action, String productId) { return new Scope(action, List.of(productId.split(":", -1))); }

    /**
     * Parses {@code admin}, {@code read} or {@code push|publish|delete[:os[:release[:arch[:variant]]]]}.
     * Also the words stored by registries before scoped tokens: {@code push} and {@code publish} alone
     * mean {@code push:*} and {@code publish:*}.
     *
     * @throws IllegalArgumentException with a message that says what a scope looks like
     */
    public static Scope parse(String text) {
        String trimmed = text == null ? "" : text.strip();
        String[] parts = trimmed.split(":", -1);
        Action action = Arrays.stream(Action.values()).filter(a -> a.id().equals(parts[0])).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown scope '" + trimmed + "': " + SYNTAX));
        if (!action.onProducts()) {
            if (parts.length > 1) throw new IllegalArgumentException("scope '" + action.id() + "' takes no product pattern: " + SYNTAX);
            return action == Action.ADMIN ? ADMIN : READ;
        }
        if (parts.length > 5) throw new IllegalArgumentException("scope '" + trimmed + "' has more than four product segments: " + SYNTAX);
        List<String> segments = new ArrayList<>(4);
        for (int i = 1; i < 5; i++) {
            String segment = i < parts.length ? parts[i] : ANY;
            if (!SEGMENT.matcher(segment).matches()) {
                throw new IllegalArgumentException("scope '" + trimmed + "': segment '" + segment + "' is neither a name nor '*': " + SYNTAX);
            }
            segments.add(segment);
        }
        return new Scope(action, segments);
    }

    private static final String SYNTAX = "use admin, read, or push|publish|delete:<os>:<release>:<arch>:<variant> "
            + "with '*' for any segment (e.g. publish:debian:*, push:*, delete:debian:12:amd64:cloud)";

    /** The canonical text, every segment written out: {@code publish:debian:*:*:*}. */
    public String id() { return segments.isEmpty() ? action.id() : action.id() + ":" + String.join(":", segments); }

    /**
     * Whether holding this scope grants {@code needed}: admin grants everything, every scope grants
     * read, and otherwise the action matches and each segment is {@code *} or the same name. A
     * {@code *} in {@code needed} is only granted by {@code *}: this is the subset rule for tokens
     * making tokens.
     */
    public boolean covers(Scope needed) {
        if (action == Action.ADMIN || needed.action == Action.READ) return true;
        if (action != needed.action) return false;
        for (int i = 0; i < segments.size(); i++) {
            String mine = segments.get(i);
            if (!mine.equals(ANY) && !mine.equals(needed.segments.get(i))) return false;
        }
        return true;
    }

    @Override public String toString() { return id(); }
}
