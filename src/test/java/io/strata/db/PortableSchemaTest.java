package io.strata.db;

import io.strata.cli.Main;
import io.strata.config.DbConfig;
import io.strata.testing.Postgres;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One set of migrations on SQLite and PostgreSQL, and the one-line startup errors of a database that cannot be used. */
class PortableSchemaTest {
    @TempDir Path dir;

    private static final List<String> TABLES = List.of("layers", "tokens", "uploads", "images", "aliases", "alias_history");

    @Test
    void the_rewritten_migrations_make_the_sqlite_schema_the_old_runner_made() throws Exception {
        // The fixture was made by the hand-written runner (V1–V3 as SQLite text); upgraded, it must equal a fresh database.
        Path old = dir.resolve("old.db");
        Files.copy(Path.of("src/test/resources/legacy-data-v3/strata.db"), old);
        Map<String, String> fresh = sqliteSchema(Database.open(dir.resolve("fresh.db")));
        Map<String, String> upgraded = sqliteSchema(Database.open(old));
        fresh.remove("flyway_schema_history");
        upgraded.remove("flyway_schema_history");
        assertEquals(fresh.keySet(), upgraded.keySet());
        for (String table : fresh.keySet()) assertEquals(upgraded.get(table), fresh.get(table), table);
        assertTrue(fresh.keySet().containsAll(TABLES));
    }

    @Test
    void a_sqlite_database_that_ran_the_migrations_before_their_rewrite_still_opens() throws Exception {
        Path file = dir.resolve("strata.db");
        Database.open(file).jdbi().useHandle(h -> h.execute("UPDATE flyway_schema_history SET checksum = checksum + 1 WHERE version IN ('1', '2', '3')"));
        Database again = Database.open(file);
        assertTrue(again.isUsable());
    }

    @Test
    void a_fresh_postgresql_database_gets_every_migration_with_64_bit_sizes() throws Exception {
        String url = Postgres.createDatabase();
        try (Database database = Database.open(DbConfig.parse(url, Map.of()), dir)) {
            List<String> versions = database.jdbi().withHandle(h -> h.createQuery(
                    "SELECT version FROM flyway_schema_history WHERE success ORDER BY installed_rank").mapTo(String.class).list());
            assertEquals("1", versions.get(0));
            assertTrue(versions.contains("4"), versions.toString());
            for (String column : List.of("layers.size", "layers.virtual_size", "uploads.received", "images.download_size",
                    "images.virtual_size", "tokens.id", "alias_history.id", "catalog_meta.generation")) {
                String[] parts = column.split("\\.");
                String type = database.jdbi().withHandle(h -> h.createQuery("SELECT data_type FROM information_schema.columns "
                        + "WHERE table_schema = current_schema() AND table_name = :t AND column_name = :c")
                        .bind("t", parts[0]).bind("c", parts[1]).mapTo(String.class).one());
                assertEquals("bigint", type, column);
            }
            // A size past 2^31 fits.
            database.jdbi().useHandle(h -> h.execute("INSERT INTO layers (digest, size, virtual_size, parent, qcow2_version, created_at) "
                    + "VALUES ('" + "a".repeat(64) + "', 68719476736, 68719476736, NULL, 3, '2026-01-01T00:00:00Z')"));
        } finally {
            Postgres.dropDatabase(url);
        }
    }

    @Test
    void opening_a_postgresql_database_twice_runs_nothing_twice() throws Exception {
        String url = Postgres.createDatabase();
        try {
            Database.open(DbConfig.parse(url, Map.of()), dir).close();
            try (Database again = Database.open(DbConfig.parse(url, Map.of()), dir)) {
                List<String> versions = again.jdbi().withHandle(h -> h.createQuery("SELECT version FROM flyway_schema_history")
                        .mapTo(String.class).list());
                assertEquals(versions.size(), versions.stream().distinct().count());
            }
        } finally {
            Postgres.dropDatabase(url);
        }
    }

    @Test
    void healthz_answers_503_while_the_database_refuses_connections_and_200_once_it_is_back() throws Exception {
        String url = Postgres.createDatabase();
        String name = Postgres.databaseOf(url);
        String admin = Postgres.adminUrl();
        try (io.strata.testing.TestRegistry registry = io.strata.testing.TestRegistry.start(
                io.strata.config.ServerConfig.defaults(dir.resolve("data")).withDb(DbConfig.parse(url, Map.of())))) {
            var up = registry.send(registry.request("/healthz").build());
            assertEquals(200, up.statusCode(), up.body());
            Postgres.execute(admin, "ALTER DATABASE " + name + " ALLOW_CONNECTIONS false");
            Postgres.execute(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + name + "'");
            var down = registry.send(registry.request("/healthz").build());
            assertEquals(503, down.statusCode(), down.body());
            assertTrue(down.body().contains("database"), down.body());
            Postgres.execute(admin, "ALTER DATABASE " + name + " ALLOW_CONNECTIONS true");
            // The pool may still hold a connection the server closed: it is dropped on use, and the next check is healthy.
            long deadline = System.nanoTime() + 15_000_000_000L;
            var back = registry.send(registry.request("/healthz").build());
            while (back.statusCode() != 200 && System.nanoTime() < deadline) back = registry.send(registry.request("/healthz").build());
            assertEquals(200, back.statusCode(), back.body());
        } finally {
            Postgres.execute(admin, "ALTER DATABASE " + name + " ALLOW_CONNECTIONS true");
            Postgres.dropDatabase(url);
        }
    }

    @Test
    void an_unreachable_database_stops_serve_with_one_line() throws Exception {
        int closed;
        try (ServerSocket socket = new ServerSocket(0)) {
            closed = socket.getLocalPort();
        }
        String err = run("serve", "--data", dir.resolve("data").toString(), "--port", "0",
                "--db", "jdbc:postgresql://127.0.0.1:" + closed + "/strata?user=strata");
        assertEquals(1, err.strip().lines().count(), err);
        assertTrue(err.startsWith("strata: cannot open the database jdbc:postgresql://127.0.0.1:" + closed), err);
        assertTrue(err.contains("refused"), err);
    }

    @Test
    void a_missing_database_is_named_in_one_line() throws Exception {
        String missing = Postgres.withDatabase(Postgres.adminUrl(), "strata_t_missing_" + System.nanoTime());
        String err = run("token", "list", "--data", dir.resolve("data").toString(), "--db", missing);
        assertEquals(1, err.strip().lines().count(), err);
        assertTrue(err.contains("does not exist"), err);
    }

    @Test
    void a_password_in_the_url_is_refused_before_connecting() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DbConfig.parse("jdbc:postgresql://db/strata?user=strata&password=secret", Map.of()));
        assertTrue(e.getMessage().contains("STRATA_DB_PASSWORD"), e.getMessage());
        assertTrue(!e.getMessage().contains("secret"), "the password is not echoed");
        assertEquals("from-env", DbConfig.parse("jdbc:postgresql://db/strata", Map.of("PGPASSWORD", "from-env")).password().orElseThrow());
        assertEquals("strata-own", DbConfig.parse("jdbc:postgresql://db/strata",
                Map.of("PGPASSWORD", "from-env", "STRATA_DB_PASSWORD", "strata-own")).password().orElseThrow());
    }

    private static String run(String... args) {
        CommandLine cli = Main.commandLine();
        StringWriter err = new StringWriter();
        cli.setErr(new PrintWriter(err, true));
        int status = cli.execute(args);
        assertEquals(2, status, err.toString());
        return err.toString();
    }

    private static Map<String, String> sqliteSchema(Database database) {
        return database.jdbi().withHandle(h -> h.createQuery("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
                .map((rs, ctx) -> Map.entry(rs.getString("name"), rs.getString("sql"))).list())
                .stream().collect(java.util.stream.Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
    }
}
