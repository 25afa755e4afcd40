package io.strata.testing;

import org.junit.jupiter.api.Assumptions;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The test PostgreSQL server ({@code STRATA_TEST_PG_URL}, started by {@code .ci/services.sh}). Other
 * tests and other people share it, so every test gets a database of its own, made here and dropped
 * after: nothing may assume the server is empty.
 */
public final class Postgres {
    private Postgres() { }

    /** The server's URL (a superuser, trust auth); skips the test when unset, but fails under CI=true. */
    public static String adminUrl() {
        String url = System.getenv("STRATA_TEST_PG_URL");
        if (url != null && !url.isBlank()) return url;
        String missing = "STRATA_TEST_PG_URL is not set (source /tmp/strata-services/env, or run .ci/services.sh start)";
        if ("true".equals(System.getenv("CI"))) fail(missing + "; CI=true, so the PostgreSQL tests may not be skipped");
        Assumptions.abort(missing);
        return null;
    }

    /** Creates an empty database and returns its JDBC URL. */
    public static String createDatabase() {
        String admin = adminUrl();
        String name = "strata_t_" + UUID.randomUUID().toString().replace("-", "").substring(0, 16);
        execute(admin, "CREATE DATABASE " + name);
        return withDatabase(admin, name);
    }

    /** Drops a database made by {@link #createDatabase}, closing any connection still open to it. */
    public static void dropDatabase(String url) {
        String name = databaseOf(url);
        if (!name.startsWith("strata_t_")) throw new IllegalArgumentException("not a test database: " + url);
        execute(adminUrl(), "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    }

    /** {@code url} with its database name replaced. */
    public static String withDatabase(String url, String name) {
        int slash = url.indexOf('/', "jdbc:postgresql://".length());
        int query = url.indexOf('?', slash);
        return url.substring(0, slash + 1) + name + (query < 0 ? "" : url.substring(query));
    }

    public static String databaseOf(String url) {
        int slash = url.indexOf('/', "jdbc:postgresql://".length());
        int query = url.indexOf('?', slash);
        return query < 0 ? url.substring(slash + 1) : url.substring(slash + 1, query);
    }

    public static void execute(String url, String sql) {
        try (Connection connection = DriverManager.getConnection(url); Statement statement = connection.createStatement()) {
            statement.execute(sql);
        } catch (SQLException e) {
            throw new IllegalStateException(sql + ": " + e.getMessage(), e);
        }
    }
}
