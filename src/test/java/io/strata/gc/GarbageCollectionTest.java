package io.strata.gc;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.RawHttp;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Garbage collection removes what nothing needs, and never what a push in progress needs. */
class GarbageCollectionTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path dir;
    TestRegistry registry;
    LayerFactory layers;

    @BeforeEach
    void start() throws IOException {
        layers = new LayerFactory(dir);
        registry = TestRegistry.start(dir.resolve("data"));
    }

    @AfterEach
    void stop() { registry.close(); }

    void upload(Digest... digests) { layers.uploadTo(registry, digests); }

    void publish(String variant, Digest top) {
        String body = "{\"os\":\"debian\",\"release\":\"12\",\"arch\":\"amd64\",\"variant\":\"" + variant
                + "\",\"version\":\"20261122_1000\",\"layer\":\"" + top.hex() + "\"}";
        assertEquals(201, registry.send(registry.authed("/api/v1/images", registry.publishToken)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build()).statusCode());
    }

    JsonNode gc(String query) throws IOException {
        HttpResponse<String> response = registry.send(registry.authed("/api/v1/gc?" + query, registry.adminToken)
                .POST(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(200, response.statusCode(), response.body());
        return JSON.readTree(response.body());
    }

    static List<String> removed(JsonNode report) {
        List<String> out = new ArrayList<>();
        report.get("removed").forEach(n -> out.add(n.asText()));
        out.sort(null);
        return out;
    }

    boolean served(Digest d) {
        return registry.send(registry.request("/layers/" + d.fileName()).method("HEAD", HttpRequest.BodyPublishers.noBody()).build())
                .statusCode() == 200;
    }

    @Test
    void removes_only_layers_no_image_needs_once_they_are_older_than_the_grace_age() throws IOException {
        Digest base = layers.base(), a = layers.child(base), b = layers.child(base), orphan = layers.base();
        upload(base, a, b, orphan);
        publish("a", a);
        publish("b", b);
        String index = registry.send(registry.request("/index.json").build()).body();
        assertEquals(204, registry.send(registry.authed("/api/v1/images/" + b.hex(), registry.publishToken).DELETE().build()).statusCode());
        String indexAfterDelete = registry.send(registry.request("/index.json").build()).body();

        assertEquals(List.of(), removed(gc("min_age=1h")), "everything is younger than an hour");
        JsonNode dry = gc("min_age=0s&dry_run=true");
        List<String> expected = new ArrayList<>(List.of(b.hex(), orphan.hex()));
        expected.sort(null);
        assertEquals(expected, removed(dry));
        assertTrue(served(b) && served(orphan), "a dry run removes nothing");

        JsonNode real = gc("min_age=0s");
        assertEquals(expected, removed(real));
        assertEquals(layers.size(b) + layers.size(orphan), real.get("bytes_freed").asLong());
        assertTrue(!served(b) && !served(orphan));
        assertTrue(served(base) && served(a), "the published chain stays");
        assertEquals(indexAfterDelete, registry.send(registry.request("/index.json").build()).body(), "the index does not change");
        assertTrue(index.contains(b.hex()));
        assertEquals(List.of(), removed(gc("min_age=0s")), "a second run finds nothing");
        assertEquals(201, registry.putLayer(layers.bytes(orphan)).statusCode(), "a collected layer can be uploaded again");
    }

    @Test
    void never_removes_the_parent_of_an_upload_in_flight_or_of_an_open_session() throws Exception {
        Digest oldBase = layers.base(), sessionBase = layers.base();
        upload(oldBase, sessionBase);
        Digest child = layers.child(oldBase);
        byte[] childBytes = layers.bytes(child);

        // A monolithic upload of a child, its first bytes sent, the rest still to come.
        try (RawHttp inFlight = RawHttp.begin(registry.uri("/"), "PUT", "/api/v1/layers/" + child.hex(),
                Map.of("Authorization", "Bearer " + registry.pushToken, "Content-Length", Integer.toString(childBytes.length)),
                Arrays.copyOf(childBytes, 4096))) {
            // An idle resumable session whose first chunk names another parent.
            Digest sessionChild = layers.child(sessionBase);
            HttpResponse<String> started = registry.send(registry.authed("/api/v1/uploads", registry.pushToken)
                    .POST(HttpRequest.BodyPublishers.noBody()).build());
            String location = started.headers().firstValue("Location").orElseThrow();
            assertEquals(202, registry.send(registry.authed(location, registry.pushToken)
                    .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(Arrays.copyOf(layers.bytes(sessionChild), 4096))).build()).statusCode());
            Thread.sleep(300);

            assertEquals(List.of(), removed(gc("min_age=0s")));
            assertTrue(served(oldBase) && served(sessionBase));

            inFlight.send(Arrays.copyOfRange(childBytes, 4096, childBytes.length));
            assertTrue(inFlight.responseHead().startsWith("HTTP/1.1 201"), "the upload completes on its parent");
        }
    }

    @Test
    void defers_while_a_session_has_not_yet_said_which_parent_it_needs() throws IOException {
        Digest orphan = layers.base();
        upload(orphan);
        HttpResponse<String> started = registry.send(registry.authed("/api/v1/uploads", registry.pushToken)
                .POST(HttpRequest.BodyPublishers.noBody()).build());
        String location = started.headers().firstValue("Location").orElseThrow();
        registry.send(registry.authed(location, registry.pushToken)
                .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(Arrays.copyOf(layers.bytes(orphan), 10))).build());
        JsonNode report = gc("min_age=0s");
        assertEquals(List.of(), removed(report));
        assertTrue(report.get("deferred").asText().contains("1 open upload session"), report.toString());
        assertTrue(served(orphan));

        registry.send(registry.authed(location, registry.pushToken).DELETE().build());
        assertEquals(List.of(orphan.hex()), removed(gc("min_age=0s")));
    }

    @Test
    void needs_the_admin_scope() {
        HttpResponse<String> push = registry.send(registry.authed("/api/v1/gc", registry.pushToken).POST(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(403, push.statusCode());
        HttpResponse<String> bad = registry.send(registry.authed("/api/v1/gc?min_age=soon", registry.adminToken)
                .POST(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(400, bad.statusCode());
    }
}
