package io.strata.config;

import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Where the metadata lives: the embedded SQLite file in the data directory (the default), or a
 * PostgreSQL database shared by any number of replicas.
 *
 * @param url      a {@code jdbc:postgresql://host:port/db?user=...} URL; empty means SQLite in the data directory
 * @param password the PostgreSQL password, from the environment ({@code STRATA_DB_PASSWORD}, else {@code PGPASSWORD}); never from a flag
 */
public record DbConfig(Optional<String> url, Optional<String> password) {
    private static final Pattern PASSWORD_IN_URL = Pattern.compile("(?i)[?&]password=");

    public static DbConfig embedded() { return new DbConfig(Optional.empty(), Optional.empty()); }

    /**
     * Parses {@code --db} (or {@code STRATA_DB}); the password comes from {@code env}. A URL that
     * carries a password is refused: a command line is visible to every user of the machine.
     */
    public static DbConfig parse(String url, Map<String, String> env) {
        if (url == null || url.isBlank()) return embedded();
        if (!url.startsWith("jdbc:postgresql://")) {
            throw new IllegalArgumentException("--db must be a PostgreSQL JDBC URL such as jdbc:postgresql://db.example:5432/strata?user=strata"
                    + " (leave it out for the embedded SQLite database in --data), not '" + url + "'");
        }
        if (PASSWORD_IN_URL.matcher(url).find()) {
            throw new IllegalArgumentException("--db must not contain a password (command lines are visible to every user of the machine); "
                    + "remove password=... and put it in STRATA_DB_PASSWORD or PGPASSWORD instead");
        }
        String password = env.get("STRATA_DB_PASSWORD");
        if (password == null || password.isEmpty()) password = env.get("PGPASSWORD");
        return new DbConfig(Optional.of(url), Optional.ofNullable(password).filter(p -> !p.isEmpty()));
    }

    /** True when the metadata is in PostgreSQL, so other processes may share it. */
    public boolean isShared() { return url.isPresent(); }

    /** For messages: the URL (it never holds a password) or the embedded file. */
    public String describe() { return url.orElse("embedded SQLite (strata.db in the data directory)"); }

    @Override
    public String toString() { return "DbConfig[" + describe() + (password.isPresent() ? ", password set" : "") + "]"; }
}
