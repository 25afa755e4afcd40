package io.strata.auth;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;

/** What a bearer token may do. Reads are public and need no token. */
public enum Scope {
    /** Upload layers (monolithic and resumable). */
    PUSH,
    /** Publish and unpublish images, move aliases. */
    PUBLISH,
    /** Everything, including deletion and maintenance. */
    ADMIN;

    public String id() { return name().toLowerCase(Locale.ROOT); }

    public static Optional<Scope> parse(String id) {
        return Arrays.stream(values()).filter(s -> s.id().equals(id)).findFirst();
    }
}
