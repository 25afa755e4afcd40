package io.strata.upload;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.auth.Scope;
import io.strata.auth.TokenService;
import io.strata.config.AccessConfig;
import io.strata.config.ServerConfig;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Issue 10: a push token's open upload sessions are bounded, and so (optionally) are its bytes not yet in a published image. */
class UploadBoundsTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path dir;
    TestRegistry registry;
    LayerFactory layers;

    @BeforeEach
    void start() throws IOException {
        layers = new LayerFactory(dir);
        registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data")).withAccess(AccessConfig.defaults().withMaxOpenUploads(3)));
    }

    @AfterEach
    void stop() { registry.close(); }

    HttpResponse<String> startUpload(String token) {
        return registry.send(registry.authed("/api/v1/uploads", token).POST(HttpRequest.BodyPublishers.noBody()).build());
    }

    HttpResponse<String> put(String token, Digest digest) {
        return registry.send(registry.authed("/api/v1/layers/" + digest.hex(), token)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(layers.bytes(digest))).build());
    }

    String quotaToken(long bytes) {
        return registry.server().services().tokens().create("quota", List.of(Scope.parse("push:*")),
                Optional.of(Instant.now().plus(Duration.ofDays(1))), OptionalLong.of(bytes)).secret();
    }

    @Test
    void a_token_past_its_open_session_limit_gets_429_until_it_cancels_one() throws IOException {
        String token = registry.token("push:*");
        List<String> locations = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> started = startUpload(token);
            assertEquals(202, started.statusCode());
            locations.add(started.headers().firstValue("Location").orElseThrow());
        }

        HttpResponse<String> refused = startUpload(token);
        assertEquals(429, refused.statusCode());
        JsonNode error = JSON.readTree(refused.body()).at("/errors/0");
        assertEquals("TOO_MANY_UPLOADS", error.get("code").asText());
        assertEquals(3, error.at("/detail/limit").asInt());
        assertEquals(3, registry.uploadFiles().size(), "nothing was opened");
        assertEquals(202, startUpload(registry.pushToken).statusCode(), "another token is not affected");

        assertEquals(204, registry.send(registry.authed(locations.get(0), token).DELETE().build()).statusCode());
        assertEquals(202, startUpload(token).statusCode(), "a cancelled session stops counting");
    }

    @Test
    void a_session_belongs_to_the_token_that_started_it() {
        String owner = registry.token("push:*");
        String other = registry.token("push:*");
        String location = startUpload(owner).headers().firstValue("Location").orElseThrow();
        for (HttpRequest.Builder request : List.of(registry.authed(location, other).GET(), registry.authed(location, other).DELETE(),
                registry.authed(location, other).method("PATCH", HttpRequest.BodyPublishers.ofByteArray(new byte[16])))) {
            assertEquals(404, registry.send(request.build()).statusCode());
        }
        assertEquals(200, registry.send(registry.authed(location, owner).GET().build()).statusCode());
        assertEquals(204, registry.send(registry.authed(location, owner).DELETE().build()).statusCode());
    }

    @Test
    void a_finished_session_stops_counting() throws IOException {
        String token = registry.token("push:*");
        Digest layer = layers.base();
        String location = startUpload(token).headers().firstValue("Location").orElseThrow();
        startUpload(token);
        startUpload(token);
        assertEquals(429, startUpload(token).statusCode());
        HttpResponse<String> finished = registry.send(registry.authed(location + "?digest=sha256:" + layer.hex(), token)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(layers.bytes(layer))).build());
        assertEquals(201, finished.statusCode(), finished.body());
        assertEquals(202, startUpload(token).statusCode());
    }

    @Test
    void a_quota_counts_uploaded_bytes_until_a_published_image_uses_them() throws IOException {
        Digest first = layers.base(), second = layers.base();
        String token = quotaToken(layers.size(first) + layers.size(second) / 2);

        assertEquals(201, put(token, first).statusCode());
        HttpResponse<String> over = put(token, second);
        assertEquals(507, over.statusCode(), over.body());
        JsonNode error = JSON.readTree(over.body()).at("/errors/0");
        assertEquals("QUOTA_EXCEEDED", error.get("code").asText());
        assertEquals(layers.size(first), error.at("/detail/used").asLong());
        assertEquals(layers.size(second), error.at("/detail/requested").asLong());
        assertEquals(1, registry.layerFiles().size(), "nothing of the refused upload was stored");
        assertEquals(0, registry.uploadFiles().size());

        String body = "{\"os\":\"debian\",\"release\":\"12\",\"arch\":\"amd64\",\"variant\":\"cloud\",\"version\":\"20261201_1000\",\"layer\":\""
                + first.hex() + "\"}";
        assertEquals(201, registry.send(registry.authed("/api/v1/images", registry.publishToken)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build()).statusCode());

        assertEquals(201, put(token, second).statusCode(), "a published layer no longer counts");
    }

    @Test
    void a_quota_bounds_the_chunks_of_resumable_sessions_too() throws IOException {
        Digest layer = layers.base();
        String token = quotaToken(layers.size(layer) - 1);
        String location = startUpload(token).headers().firstValue("Location").orElseThrow();
        HttpResponse<String> chunk = registry.send(registry.authed(location, token)
                .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(layers.bytes(layer))).build());
        assertEquals(507, chunk.statusCode(), chunk.body());
        assertEquals(0, JSON.readTree(registry.send(registry.authed(location, token).build()).body()).get("received").asLong());
    }

    @Test
    void a_token_without_a_quota_is_unbounded() {
        TokenService tokens = registry.server().services().tokens();
        assertTrue(tokens.list().stream().filter(t -> t.name().equals("test-push")).findFirst().orElseThrow().quotaBytes().isEmpty());
    }
}
