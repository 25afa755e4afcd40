package io.strata.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.config.DbConfig;
import io.strata.config.ServerConfig;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.Postgres;
import io.strata.testing.QemuImg;
import io.strata.testing.RawHttp;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two replicas in one JVM sharing one PostgreSQL database and one layer store (DESIGN §10): the
 * same registry whichever of them a client reaches. Run on a shared directory by {@link TwoReplicasTest}
 * (which adds what only a shared directory has) and on one S3 bucket by {@link TwoReplicasOnS3Test}.
 */
abstract class TwoReplicasContract {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path dir;
    String database;
    TestRegistry one;
    TestRegistry two;
    LayerFactory layers;

    @BeforeEach
    void start() throws Exception {
        QemuImg.assumeAvailable();
        database = Postgres.createDatabase();
        ServerConfig config = ServerConfig.defaults(dir.resolve("store")).withDb(DbConfig.parse(database, Map.of()));
        one = TestRegistry.start(config);
        two = TestRegistry.start(config);
        layers = new LayerFactory(dir);
    }

    @AfterEach
    void stop() {
        if (one != null) one.close();
        if (two != null) two.close();
        if (database != null) Postgres.dropDatabase(database);
    }

    @Test
    void both_replicas_sign_with_the_one_key_the_first_made() {
        HttpResponse<String> keyOne = one.send(one.request("/strata.pub").GET().build());
        HttpResponse<String> keyTwo = two.send(two.request("/strata.pub").GET().build());
        assertEquals(200, keyOne.statusCode());
        assertEquals(keyOne.body(), keyTwo.body(), "a client may reach either replica for the key");
        // The same rendering signed by either replica carries the same key id.
        String sigOne = one.send(one.request("/index.json.minisig").GET().build()).body();
        String sigTwo = two.send(two.request("/index.json.minisig").GET().build()).body();
        assertArrayEquals(Arrays.copyOfRange(java.util.Base64.getDecoder().decode(sigOne.lines().toList().get(1)), 0, 10),
                Arrays.copyOfRange(java.util.Base64.getDecoder().decode(sigTwo.lines().toList().get(1)), 0, 10));
    }

    @Test
    void a_resumable_upload_started_on_one_replica_is_finished_on_the_other() {
        Digest base = layers.base();
        byte[] bytes = layers.bytes(base);
        HttpResponse<String> started = one.send(one.authed("/api/v1/uploads", one.pushToken).POST(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(202, started.statusCode(), started.body());
        String location = started.headers().firstValue("Location").orElseThrow();
        int half = bytes.length / 2;
        HttpResponse<String> first = one.send(one.authed(location, one.pushToken)
                .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(Arrays.copyOf(bytes, half)))
                .header("Content-Range", "bytes 0-" + (half - 1) + "/*").build());
        assertEquals(202, first.statusCode(), first.body());

        HttpResponse<String> status = two.send(two.authed(location, one.pushToken).GET().build());
        assertEquals(String.valueOf(half), status.headers().firstValue("Upload-Offset").orElse(null), "the other replica knows the offset");
        HttpResponse<String> done = two.send(two.authed(location + "?digest=sha256:" + base.hex(), one.pushToken)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(Arrays.copyOfRange(bytes, half, bytes.length))).build());
        assertEquals(201, done.statusCode(), done.body());
        assertArrayEquals(bytes, one.sendBytes(one.request("/layers/" + base.fileName()).build()).body());
        assertArrayEquals(bytes, two.sendBytes(two.request("/layers/" + base.fileName()).build()).body());
    }

    @Test
    void a_session_being_written_on_one_replica_refuses_a_second_writer_on_the_other() throws Exception {
        Digest base = layers.base();
        byte[] bytes = layers.bytes(base);
        HttpResponse<String> started = one.send(one.authed("/api/v1/uploads", one.pushToken).POST(HttpRequest.BodyPublishers.noBody()).build());
        String location = started.headers().firstValue("Location").orElseThrow();
        try (RawHttp slow = RawHttp.begin(one.uri("/"), "PATCH", location,
                Map.of("Authorization", "Bearer " + one.pushToken, "Content-Length", Integer.toString(bytes.length)),
                Arrays.copyOf(bytes, 1000))) {
            Thread.sleep(300);
            HttpResponse<String> second = two.send(two.authed(location, one.pushToken)
                    .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(Arrays.copyOf(bytes, 100))).build());
            assertEquals(409, second.statusCode(), second.body());
            assertTrue(second.body().contains("another replica is writing"), second.body());
            slow.send(Arrays.copyOfRange(bytes, 1000, bytes.length));
            assertTrue(slow.responseHead().startsWith("HTTP/1.1 202"), slow.responseHead());
        }
        // The claim ends with the request: the other replica finishes the session.
        HttpResponse<String> done = two.send(two.authed(location + "?digest=sha256:" + base.hex(), one.pushToken)
                .PUT(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(201, done.statusCode(), done.body());
        assertArrayEquals(bytes, two.sendBytes(two.request("/layers/" + base.fileName()).build()).body());
    }

    @Test
    void garbage_collection_on_one_replica_keeps_the_parent_of_an_upload_in_flight_on_the_other() throws Exception {
        Digest parent = layers.base();
        layers.uploadTo(one, parent);
        Digest child = layers.child(parent);
        byte[] bytes = layers.bytes(child);
        try (RawHttp inFlight = RawHttp.begin(one.uri("/"), "PUT", "/api/v1/layers/" + child.hex(),
                Map.of("Authorization", "Bearer " + one.pushToken, "Content-Length", Integer.toString(bytes.length)), Arrays.copyOf(bytes, 4096))) {
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!two.server().services().layers().pinned().contains(parent) && System.nanoTime() < deadline) Thread.sleep(20);
            assertEquals(0, gc(two).get("removed").size(), "the parent is pinned by the other replica's upload");
            inFlight.send(Arrays.copyOfRange(bytes, 4096, bytes.length));
            assertTrue(inFlight.responseHead().startsWith("HTTP/1.1 201"), "the upload completes on its parent");
        }
        assertTrue(two.server().services().layers().pinned().isEmpty(), "the pin ends with the upload");
    }

    @Test
    void a_publish_on_one_replica_is_served_by_the_other_within_a_second() throws Exception {
        Digest base = layers.base(), top = layers.child(base);
        layers.uploadTo(one, base, top);
        String before = two.send(two.request("/index.json").build()).body();
        publish(one, "cloud", top);
        long published = System.nanoTime();
        String seen = before;
        while (seen.equals(before) && System.nanoTime() - published < 3_000_000_000L) {
            Thread.sleep(20);
            seen = two.send(two.request("/index.json").build()).body();
        }
        long millis = (System.nanoTime() - published) / 1_000_000;
        assertTrue(seen.contains(top.hex()), "the other replica lists the image");
        assertTrue(millis < 1000, "seen after " + millis + " ms");
        assertEquals(one.send(one.request("/index.json").build()).body(), seen, "both serve the same index");
        for (Digest d : List.of(base, top)) {
            assertArrayEquals(layers.bytes(d), two.sendBytes(two.request("/layers/" + d.fileName()).build()).body());
            assertArrayEquals(layers.bytes(d), one.sendBytes(one.request("/layers/" + d.fileName()).build()).body());
        }
    }

    @Test
    void garbage_collection_on_both_at_once_removes_an_unreferenced_layer_once_and_no_published_one() throws Exception {
        Digest base = layers.base(), top = layers.child(base), orphan = layers.base();
        layers.uploadTo(two, base, top, orphan);
        publish(two, "cloud", top);
        CompletableFuture<JsonNode> onOne = CompletableFuture.supplyAsync(() -> gc(one));
        CompletableFuture<JsonNode> onTwo = CompletableFuture.supplyAsync(() -> gc(two));
        List<String> removed = new ArrayList<>();
        for (JsonNode report : List.of(onOne.get(), onTwo.get())) report.get("removed").forEach(n -> removed.add(n.asText()));
        assertEquals(List.of(orphan.hex()), removed, "removed once, by one of them");
        for (TestRegistry replica : List.of(one, two)) {
            assertTrue(served(replica, base) && served(replica, top), "the published chain stays");
        }
        // The other replica forgets its cached row within a poll, so the layer can be uploaded again through it.
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (served(one, orphan) && System.nanoTime() < deadline) Thread.sleep(50);
        assertFalse(served(one, orphan));
        assertEquals(201, one.putLayer(layers.bytes(orphan)).statusCode());
        assertTrue(served(two, orphan));
    }

    @Test
    void closing_one_replica_leaves_the_other_serving_and_leading() throws Exception {
        Digest base = layers.base();
        layers.uploadTo(one, base);
        publish(one, "cloud", base);
        boolean oneLed = one.server().services().database().cluster().isLeader();
        boolean twoLed = two.server().services().database().cluster().isLeader();
        assertTrue(oneLed ^ twoLed, "exactly one leader (one: " + oneLed + ", two: " + twoLed + ")");
        TestRegistry leader = oneLed ? one : two;
        TestRegistry survivor = oneLed ? two : one;
        leader.close();
        if (leader == one) one = null; else two = null;

        assertEquals(200, survivor.send(survivor.request("/healthz").build()).statusCode());
        long seen = System.nanoTime() + 2_000_000_000L; // the publish may have been made on the replica now gone
        while (!survivor.send(survivor.request("/index.json").build()).body().contains(base.hex()) && System.nanoTime() < seen) Thread.sleep(50);
        assertTrue(survivor.send(survivor.request("/index.json").build()).body().contains(base.hex()));
        assertArrayEquals(layers.bytes(base), survivor.sendBytes(survivor.request("/layers/" + base.fileName()).build()).body());
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!survivor.server().services().database().cluster().isLeader() && System.nanoTime() < deadline) Thread.sleep(100);
        assertTrue(survivor.server().services().database().cluster().isLeader(), "the survivor takes over the background work");
    }

    @Test
    void a_leader_that_loses_its_database_connection_hands_over_to_the_other_replica() throws Exception {
        ClusterLocks first = one.server().services().database().cluster();
        ClusterLocks second = two.server().services().database().cluster();
        boolean firstLeads = first.isLeader();
        assertTrue(firstLeads ^ second.isLeader(), "exactly one leader");
        ClusterLocks leader = firstLeads ? first : second;
        ClusterLocks other = firstLeads ? second : first;
        // The server side of the leader's connection goes away (a network cut, a database restart).
        Postgres.execute(database, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                + "AND pid <> pg_backend_pid() AND query LIKE '%pg_try_advisory_lock%'");
        // pg_terminate_backend only signals: the session (and its lock) ends a moment later.
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!other.isLeader() && System.nanoTime() < deadline) Thread.sleep(50);
        assertTrue(other.isLeader(), "the other replica takes over");
        assertFalse(leader.isLeader(), "the old leader notices and stands back");
        assertEquals(200, one.send(one.request("/healthz").build()).statusCode());
        assertEquals(200, two.send(two.request("/healthz").build()).statusCode());
    }

    static void publish(TestRegistry registry, String variant, Digest top) {
        String body = "{\"os\":\"debian\",\"release\":\"12\",\"arch\":\"amd64\",\"variant\":\"" + variant
                + "\",\"version\":\"20261122_1000\",\"layer\":\"" + top.hex() + "\"}";
        HttpResponse<String> response = registry.send(registry.authed("/api/v1/images", registry.publishToken)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build());
        assertEquals(201, response.statusCode(), response.body());
    }

    static JsonNode gc(TestRegistry registry) {
        HttpResponse<String> response = registry.send(registry.authed("/api/v1/gc?min_age=0s", registry.adminToken)
                .POST(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(200, response.statusCode(), response.body());
        try {
            return JSON.readTree(response.body());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static boolean served(TestRegistry registry, Digest d) {
        return registry.send(registry.request("/layers/" + d.fileName()).method("HEAD", HttpRequest.BodyPublishers.noBody()).build())
                .statusCode() == 200;
    }
}
