package io.strata.http;

import io.strata.config.AccessConfig;
import io.strata.config.ServerConfig;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code serve --private}: every read needs a token, as Bearer or as the Basic password; /healthz stays public. */
class PrivateModeTest {
    @TempDir Path dir;
    TestRegistry registry;
    LayerFactory layers;
    Digest layer;

    @BeforeEach
    void start() throws IOException {
        layers = new LayerFactory(dir);
        registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data")).withAccess(AccessConfig.defaults().withPrivateMode(true)));
        layer = layers.base();
        layers.uploadTo(registry, layer);
        String body = "{\"os\":\"debian\",\"release\":\"12\",\"arch\":\"amd64\",\"variant\":\"cloud\",\"version\":\"20261201_1000\",\"layer\":\""
                + layer.hex() + "\",\"aliases\":[\"debian/12\"]}";
        assertEquals(201, registry.send(registry.authed("/api/v1/images", registry.publishToken)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build()).statusCode());
    }

    @AfterEach
    void stop() { registry.close(); }

    List<String> reads() {
        return List.of("/index.json", "/streams/v1/index.json", "/streams/v1/images.json", "/index.json.minisig", "/strata.pub",
                "/layers/" + layer.fileName(),
                "/api/v1/layers/" + layer.hex(), "/api/v1/images/" + layer.hex(), "/api/v1/images/debian/12",
                "/api/v1/alias-history/debian/12", "/");
    }

    static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void every_read_without_a_token_answers_401_and_shows_nothing_of_the_registry() {
        for (String path : reads()) {
            for (String method : List.of("GET", "HEAD")) {
                HttpResponse<String> response = registry.send(registry.request(path).method(method, HttpRequest.BodyPublishers.noBody()).build());
                assertEquals(401, response.statusCode(), method + " " + path + " -> " + response.body());
                assertEquals("Bearer realm=\"strata\"", response.headers().firstValue("WWW-Authenticate").orElse(""), path);
                assertFalse(response.body().contains(layer.hex()), path + " leaks the catalog: " + response.body());
                assertFalse(response.body().contains("debian"), path + " leaks the catalog: " + response.body());
            }
        }
    }

    @Test
    void the_catalog_page_without_a_token_is_a_401_whose_body_is_the_page_that_asks_for_one() {
        HttpResponse<String> page = registry.send(registry.request("/").build());
        assertEquals(401, page.statusCode());
        assertTrue(page.headers().firstValue("Content-Type").orElse("").startsWith("text/html"));
        assertTrue(page.body().contains("app.js"), page.body());
        // The page's code and styles hold no registry data and cannot carry a Bearer token: they stay public.
        assertEquals(200, registry.send(registry.request("/app.js").build()).statusCode());
        assertEquals(200, registry.send(registry.request("/app.css").build()).statusCode());
    }

    @Test
    void health_stays_public_and_says_nothing_sensitive() {
        HttpResponse<String> health = registry.send(registry.request("/healthz").build());
        assertEquals(200, health.statusCode());
        assertFalse(health.body().contains("debian") || health.body().contains(layer.hex()), health.body());
    }

    @ParameterizedTest
    @ValueSource(strings = {"read", "push:*", "publish:ubuntu", "admin"})
    void any_valid_token_reads_as_bearer_or_as_the_basic_password(String scope) {
        String token = registry.token(scope);
        for (String path : reads()) {
            assertEquals(200, registry.send(registry.authed(path, token).build()).statusCode(), "Bearer " + path);
            assertEquals(200, registry.send(registry.request(path).header("Authorization", basic("x", token)).build()).statusCode(),
                    "Basic " + path);
        }
        HttpResponse<String> range = registry.send(registry.request("/layers/" + layer.fileName())
                .header("Authorization", basic("anyone", token)).header("Range", "bytes=0-3").build());
        assertEquals(206, range.statusCode());
    }

    @Test
    void a_wrong_basic_password_or_a_mistyped_token_is_refused() {
        String token = registry.token("read");
        String typo = token.substring(0, 15) + (token.charAt(15) == 'A' ? 'B' : 'A') + token.substring(16);
        for (String path : List.of("/index.json", "/layers/" + layer.fileName(), "/api/v1/images/" + layer.hex())) {
            HttpResponse<String> wrong = registry.send(registry.request(path).header("Authorization", basic("x", "hunter2")).build());
            assertEquals(401, wrong.statusCode(), path);
            assertTrue(wrong.body().contains("malformed"), wrong.body());
            assertEquals(401, registry.send(registry.authed(path, typo).build()).statusCode(), path);
        }
    }

    @Test
    void writes_still_need_their_scope_on_a_private_registry() {
        HttpResponse<String> denied = registry.send(registry.authed("/api/v1/uploads", registry.token("read"))
                .POST(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(403, denied.statusCode());
    }

    @Test
    void qemu_img_reads_a_private_registry_with_the_token_as_its_password_secret() {
        String token = registry.token("read");
        String url = registry.url("/layers/" + layer.fileName());
        String json = "json:{\"file.driver\":\"http\",\"file.url\":\"" + url + "\",\"file.username\":\"x\",\"file.password-secret\":\"s\"}";
        String info = QemuImg.runOrFail(List.of("qemu-img", "info", "--output=json", "--object", "secret,id=s,data=" + token, json));
        assertTrue(info.contains("\"virtual-size\""), info);

        QemuImg.Result refused = QemuImg.run(List.of("qemu-img", "info", url));
        assertTrue(refused.exitCode() != 0, "without the secret qemu-img cannot open it: " + refused.stdout());
    }
}
