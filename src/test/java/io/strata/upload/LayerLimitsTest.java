package io.strata.upload;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.config.Limits;
import io.strata.config.ServerConfig;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** serve --max-virtual-size and --max-chain-depth bound what a publisher can make clients open. */
class LayerLimitsTest {
    static final long MAX_VIRTUAL = 1L << 30;
    static final int MAX_DEPTH = 3;
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir static Path dir;
    static TestRegistry registry;
    static LayerFactory layers;

    @BeforeAll
    static void start() throws IOException {
        QemuImg.assumeAvailable();
        registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data"))
                .withLimits(Limits.defaults().withLayerLimits(MAX_VIRTUAL, MAX_DEPTH)));
        layers = new LayerFactory(Files.createDirectories(dir.resolve("made")));
    }

    @AfterAll
    static void stop() {
        if (registry != null) registry.close();
    }

    @Test
    void a_layer_larger_than_the_virtual_size_limit_is_refused_and_not_stored() throws IOException {
        Path big = dir.resolve("big.qcow2");
        QemuImg.create(big, "2G");
        byte[] bytes = Files.readAllBytes(big);
        HttpResponse<String> put = registry.putLayer(bytes);
        assertRefused(put, "max_virtual_size");
        assertEquals(MAX_VIRTUAL, JSON.readTree(put.body()).path("errors").path(0).path("detail").path("limit").asLong());
        assertEquals(404, registry.send(registry.request("/layers/" + TestRegistry.sha256(bytes).fileName()).build()).statusCode());

        // The same through a resumable session: refused with the header, the session gone.
        String location = registry.send(registry.authed("/api/v1/uploads", registry.pushToken)
                .POST(HttpRequest.BodyPublishers.noBody()).build()).headers().firstValue("Location").orElseThrow();
        HttpResponse<String> finish = registry.send(registry.authed(location + "?digest=sha256:" + TestRegistry.sha256(bytes).hex(),
                registry.pushToken).PUT(HttpRequest.BodyPublishers.ofByteArray(bytes)).build());
        assertRefused(finish, "max_virtual_size");
        assertEquals(404, registry.send(registry.authed(location, registry.pushToken).GET().build()).statusCode());

        Path fits = dir.resolve("fits.qcow2");
        QemuImg.create(fits, "1G");
        assertEquals(201, registry.putLayer(Files.readAllBytes(fits)).statusCode(), "exactly the limit is accepted");
    }

    @Test
    void a_layer_that_would_make_the_chain_deeper_than_the_limit_is_refused() {
        Digest base = layers.base();
        Digest second = layers.child(base);
        Digest third = layers.child(second);
        Digest fourth = layers.child(third);
        layers.uploadTo(registry, base, second, third);
        int before = registry.server().services().database().dao(io.strata.layer.LayerDao.class).all().size();

        HttpResponse<String> put = registry.putLayer(layers.bytes(fourth));
        assertRefused(put, "max_chain_depth");
        assertEquals(before, registry.server().services().database().dao(io.strata.layer.LayerDao.class).all().size());
        assertEquals(201, registry.putLayer(layers.bytes(layers.child(second))).statusCode(), "a sibling at the limit is accepted");
    }

    static void assertRefused(HttpResponse<String> response, String check) {
        assertEquals(400, response.statusCode(), response.body());
        try {
            JsonNode error = JSON.readTree(response.body()).path("errors").path(0);
            assertEquals("QCOW2_INVALID", error.path("code").asText(), response.body());
            assertEquals(check, error.path("detail").path("check").asText(), response.body());
            assertTrue(error.path("message").asText().contains("serve --max-"), "the message names the option: " + response.body());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
