package io.strata.migrate;

import io.strata.cli.Main;
import io.strata.config.DbConfig;
import io.strata.config.ServerConfig;
import io.strata.db.Database;
import io.strata.layer.Digest;
import io.strata.layer.FsLayerStore;
import io.strata.testing.LayerFactory;
import io.strata.testing.Postgres;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code strata migrate}: an embedded registry moved to PostgreSQL and a store directory, resumably and idempotently. */
class MigrationTest {
    @TempDir Path dir;
    String database;

    @BeforeEach
    void create() { database = Postgres.createDatabase(); }

    @AfterEach
    void drop() { if (database != null) Postgres.dropDatabase(database); }

    @Test
    void every_table_the_migrations_make_is_copied_or_left_behind_on_purpose() {
        Database fresh = Database.open(dir.resolve("fresh.db"));
        List<String> names = fresh.jdbi().withHandle(h -> h.createQuery(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").mapTo(String.class).list());
        Set<String> tables = new TreeSet<>(names);
        Set<String> known = new TreeSet<>(Migration.NOT_COPIED.keySet());
        Migration.TABLES.forEach(t -> known.add(t.name()));
        tables.removeAll(known);
        assertEquals(Set.of(), tables, "add these tables to Migration.TABLES (or NOT_COPIED, with the reason)");
    }

    @Test
    void an_interrupted_migration_resumes_and_the_target_serves_the_same_registry() throws Exception {
        QemuImg.assumeAvailable();
        Path source = dir.resolve("source");
        LayerFactory layers = new LayerFactory(dir);
        Digest base = layers.base(), top = layers.child(base), other = layers.base(), unpublished = layers.base();
        String index;
        String history;
        String oldAdmin;
        String signingKey;
        try (TestRegistry embedded = TestRegistry.start(source)) {
            layers.uploadTo(embedded, base, top, other, unpublished);
            publish(embedded, "cloud", top, "debian/12");
            publish(embedded, "minimal", other, "debian/12/minimal");
            assertEquals(200, embedded.send(embedded.authed("/api/v1/aliases/stable", embedded.publishToken)
                    .PUT(HttpRequest.BodyPublishers.ofString("{\"product\":\"debian:12:amd64:cloud\"}")).build()).statusCode());
            index = embedded.send(embedded.request("/index.json").build()).body();
            history = embedded.send(embedded.request("/api/v1/alias-history/stable").build()).body();
            oldAdmin = embedded.adminToken;
            signingKey = embedded.send(embedded.request("/strata.pub").build()).body();
        }
        Path store = dir.resolve("store");

        // First run: stopped while the second layer is being copied (as a kill would).
        long firstLayer = Math.min(Math.min(layers.size(base), layers.size(top)), Math.min(layers.size(other), layers.size(unpublished)));
        try (Database from = Database.open(source.resolve("strata.db"));
             Database to = Database.open(DbConfig.parse(database, Map.of()), store)) {
            Migration interrupted = new Migration(from, new FsLayerStore(source), to, new FsLayerStore(store), new Migration.Listener() {
                long copied;
                @Override public void bytesCopied(long bytes) {
                    copied += bytes;
                    if (copied > firstLayer) throw new IllegalStateException("killed");
                }
            });
            assertThrows(IllegalStateException.class, interrupted::run);
            assertEquals(0, (int) to.jdbi().withHandle(h -> h.createQuery("SELECT count(*) FROM images").mapTo(Integer.class).one()),
                    "rows come after every layer");
        }
        assertEquals(1, new FsLayerStore(store).list().count(), "one layer made it before the interruption");
        if (Files.isDirectory(store.resolve("uploads"))) {
            assertEquals(List.of(), Files.list(store.resolve("uploads")).toList(), "no half-copied file is left");
        }

        String resumed = migrate(source, store);
        assertTrue(resumed.contains("layers: 4 (3 copied and verified"), resumed);
        assertTrue(resumed.contains("1 already there"), resumed);
        String again = migrate(source, store);
        assertTrue(again.contains("(0 new or changed)") && again.contains("nothing to do"), again);

        try (TestRegistry scaled = TestRegistry.start(ServerConfig.defaults(store).withDb(DbConfig.parse(database, Map.of())))) {
            assertEquals(index, scaled.send(scaled.request("/index.json").build()).body(), "the index is byte-identical");
            assertEquals(signingKey, scaled.send(scaled.request("/strata.pub").build()).body(), "signed with the key clients pinned");
            assertEquals(history, scaled.send(scaled.request("/api/v1/alias-history/stable").build()).body());
            for (Digest d : List.of(base, top, other, unpublished)) {
                assertArrayEquals(layers.bytes(d), scaled.sendBytes(scaled.request("/layers/" + d.fileName()).build()).body());
            }
            assertEquals(200, scaled.send(scaled.authed("/api/v1/gc?dry_run=true", oldAdmin)
                    .POST(HttpRequest.BodyPublishers.noBody()).build()).statusCode(), "the old tokens still work");
            // New rows get fresh ids after the copied ones (TestRegistry just made three tokens there).
            assertEquals(200, scaled.send(scaled.authed("/api/v1/aliases/testing", scaled.publishToken)
                    .PUT(HttpRequest.BodyPublishers.ofString("{\"product\":\"debian:12:amd64:minimal\"}")).build()).statusCode());
        }
    }

    @Test
    void an_embedded_registry_moves_to_postgresql_and_s3() throws Exception {
        QemuImg.assumeAvailable();
        Path source = dir.resolve("source");
        LayerFactory layers = new LayerFactory(dir);
        Digest base = layers.base(), top = layers.child(base);
        String index;
        try (TestRegistry embedded = TestRegistry.start(source)) {
            layers.uploadTo(embedded, base, top);
            publish(embedded, "cloud", top, "debian/12");
            index = embedded.send(embedded.request("/index.json").build()).body();
        }
        try (io.strata.testing.S3TestBucket bucket = io.strata.testing.S3TestBucket.create()) {
            String store = "s3://" + bucket.bucket + "/migrated/";
            String first = migrate(source, store, "--s3-endpoint", bucket.endpoint.toString());
            assertTrue(first.contains("layers: 2 (2 copied and verified"), first);
            assertTrue(migrate(source, store, "--s3-endpoint", bucket.endpoint.toString()).contains("nothing to do"));
            ServerConfig config = ServerConfig.defaults(dir.resolve("replica")).withDb(DbConfig.parse(database, Map.of()))
                    .withStore(bucket.store("migrated/"));
            try (TestRegistry scaled = TestRegistry.start(config)) {
                assertEquals(index, scaled.send(scaled.request("/index.json").build()).body(), "the index is byte-identical");
                for (Digest d : List.of(base, top)) {
                    assertArrayEquals(layers.bytes(d), scaled.sendBytes(scaled.request("/layers/" + d.fileName()).build()).body());
                }
            }
        }
    }

    @Test
    void a_source_table_migrate_does_not_know_stops_it_before_copying() throws Exception {
        Path source = dir.resolve("source");
        Files.createDirectories(source);
        Database from = Database.open(source.resolve("strata.db"));
        from.jdbi().useHandle(h -> h.execute("CREATE TABLE widgets (id TEXT PRIMARY KEY)"));
        try (Database to = Database.open(DbConfig.parse(database, Map.of()), dir.resolve("store"))) {
            Migration migration = new Migration(from, new FsLayerStore(source), to, new FsLayerStore(dir.resolve("store")), new Migration.Listener() { });
            java.io.IOException e = assertThrows(java.io.IOException.class, migration::run);
            assertTrue(e.getMessage().contains("widgets"), e.getMessage());
        }
    }

    private String migrate(Path source, Path store) {
        return migrate(source, store.toString());
    }

    private String migrate(Path source, String store, String... more) {
        CommandLine cli = Main.commandLine();
        StringWriter err = new StringWriter();
        cli.setErr(new PrintWriter(err, true));
        java.io.PrintStream saved = System.err;
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(captured, true));
        int status;
        try {
            List<String> args = new java.util.ArrayList<>(List.of("migrate", "--from-data", source.toString(), "--to-db", database,
                    "--to-store", store, "-q"));
            args.addAll(List.of(more));
            status = cli.execute(args.toArray(String[]::new));
        } finally {
            System.setErr(saved);
        }
        String out = captured + err.toString();
        assertEquals(0, status, out);
        return out;
    }

    static void publish(TestRegistry registry, String variant, Digest top, String alias) {
        String body = "{\"os\":\"debian\",\"release\":\"12\",\"arch\":\"amd64\",\"variant\":\"" + variant
                + "\",\"version\":\"20261122_1000\",\"layer\":\"" + top.hex() + "\",\"aliases\":[\"" + alias + "\"]}";
        assertEquals(201, registry.send(registry.authed("/api/v1/images", registry.publishToken)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build()).statusCode());
    }
}
