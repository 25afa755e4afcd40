package io.strata.catalog;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** DESIGN §3 and §4 through the HTTP API: publish, chains, aliases and their history, the index documents. */
class CatalogApiTest {
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
    void stop() {
        registry.close();
    }

    void upload(Digest... digests) { layers.uploadTo(registry, digests); }

    static ObjectNode body(String os, String release, String arch, String variant, String version, Digest layer, String... aliases) {
        ObjectNode body = JSON.createObjectNode();
        body.put("os", os).put("release", release).put("arch", arch).put("variant", variant).put("version", version)
                .put("layer", layer.hex()).put("release_title", os + " " + release).put("description", "test image");
        body.putArray("aliases").addAll(java.util.Arrays.stream(aliases).map(JSON.getNodeFactory()::textNode).toList());
        body.putObject("properties").put("origin", "test");
        return body;
    }

    HttpResponse<String> publish(ObjectNode body) { return publish(body.toString()); }

    HttpResponse<String> publish(String body) {
        return registry.send(registry.authed("/api/v1/images", registry.publishToken)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }

    JsonNode get(String path) throws IOException {
        HttpResponse<String> response = registry.send(registry.request(path).build());
        assertEquals(200, response.statusCode(), path + " -> " + response.body());
        return JSON.readTree(response.body());
    }

    @Test
    void a_published_image_carries_its_chain_base_first_with_sizes_and_shared_layers_appear_once() throws IOException {
        Digest base = layers.base(), mid = layers.child(base), top = layers.child(mid), other = layers.child(base);
        upload(base, mid, top, other);
        HttpResponse<String> created = publish(body("debian", "12", "amd64", "cloud", "20261122_1000", top, "debian/12", "debian/bookworm"));
        assertEquals(201, created.statusCode(), created.body());
        assertEquals(201, publish(body("debian", "12", "amd64", "minimal", "20261122_1000", other, "debian/12/minimal")).statusCode());

        JsonNode index = get("/index.json");
        assertEquals("strata-index:1.0", index.get("format").asText());
        JsonNode image = index.get("images").get(top.hex());
        assertEquals("debian:12:amd64:cloud", image.get("product").asText());
        assertEquals(List.of(base.hex(), mid.hex(), top.hex()), texts(image.get("chain")));
        assertEquals(layers.size(base) + layers.size(mid) + layers.size(top), image.get("download_size").asLong());
        assertEquals(64L << 20, image.get("virtual_size").asLong());
        assertEquals(List.of("debian/12", "debian/bookworm"), texts(image.get("aliases")));
        assertEquals(top.hex(), index.get("aliases").get("debian/bookworm").asText());
        assertEquals(other.hex(), index.get("aliases").get("debian/12/minimal").asText());

        JsonNode layerMap = index.get("layers");
        assertEquals(5 - 1, layerMap.size(), "base, mid, top, other: the shared base once");
        assertTrue(layerMap.get(base.hex()).get("parent").isNull());
        assertEquals(base.hex(), layerMap.get(mid.hex()).get("parent").asText());
        assertEquals("layers/" + top.fileName(), layerMap.get(top.hex()).get("path").asText());
        assertEquals(layers.size(top), layerMap.get(top.hex()).get("size").asLong());

        // One image for scripts, by fingerprint or by an alias containing '/'.
        assertEquals(top.hex(), get("/api/v1/images/" + top.hex()).get("fingerprint").asText());
        assertEquals(top.hex(), get("/api/v1/images/debian/bookworm").get("fingerprint").asText());
        assertEquals(404, registry.send(registry.request("/api/v1/images/debian/13").build()).statusCode());
    }

    @Test
    void a_newer_serial_moves_the_products_aliases_and_the_old_version_stays_downloadable() throws IOException {
        Digest base = layers.base(), v1 = layers.child(base), v2 = layers.child(base);
        upload(base, v1, v2);
        assertEquals(201, publish(body("debian", "12", "amd64", "cloud", "20261101_0000", v1, "debian/12")).statusCode());
        assertEquals(201, publish(body("debian", "12", "amd64", "cloud", "20261122_0000", v2)).statusCode());

        JsonNode index = get("/index.json");
        assertEquals(v2.hex(), index.get("aliases").get("debian/12").asText());
        assertTrue(index.get("images").has(v1.hex()), "the old version is still listed");
        assertEquals(List.of(), texts(index.get("images").get(v1.hex()).get("aliases")));
        assertEquals(200, registry.send(registry.request("/layers/" + v1.fileName()).build()).statusCode());

        // Publishing an older serial (a backfill) does not move the alias back.
        Digest v0 = layers.child(base);
        upload(v0);
        assertEquals(201, publish(body("debian", "12", "amd64", "cloud", "20261001_0000", v0)).statusCode());
        assertEquals(v2.hex(), get("/index.json").get("aliases").get("debian/12").asText());

        JsonNode history = get("/api/v1/alias-history/debian/12").get("history");
        assertEquals(2, history.size(), history.toString());
        assertEquals(v1.hex(), history.get(0).get("fingerprint").asText());
        assertEquals(v2.hex(), history.get(1).get("fingerprint").asText());
        assertTrue(history.get(1).get("reason").asText().contains("20261122_0000"));
    }

    @Test
    void aliases_move_between_products_are_deleted_and_every_move_is_kept() throws IOException {
        Digest base = layers.base(), a = layers.child(base), b = layers.child(base);
        upload(base, a, b);
        assertEquals(201, publish(body("debian", "12", "amd64", "cloud", "20261122_0000", a, "stable")).statusCode());
        assertEquals(201, publish(body("debian", "13", "amd64", "cloud", "20261122_0000", b)).statusCode());

        HttpResponse<String> moved = registry.send(registry.authed("/api/v1/aliases/stable", registry.publishToken)
                .PUT(HttpRequest.BodyPublishers.ofString("{\"product\":\"debian:13:amd64:cloud\"}")).build());
        assertEquals(200, moved.statusCode(), moved.body());
        assertEquals(b.hex(), get("/index.json").get("aliases").get("stable").asText());
        // A product's own publish may not steal an alias another product holds.
        Digest c = layers.child(base);
        upload(c);
        HttpResponse<String> steal = publish(body("debian", "12", "amd64", "cloud", "20261123_0000", c, "stable"));
        assertEquals(409, steal.statusCode(), steal.body());
        assertTrue(steal.body().contains("debian:13:amd64:cloud"), steal.body());

        assertEquals(204, registry.send(registry.authed("/api/v1/aliases/stable", registry.publishToken).DELETE().build()).statusCode());
        assertFalse(get("/index.json").get("aliases").has("stable"));
        assertEquals(404, registry.send(registry.authed("/api/v1/aliases/stable", registry.publishToken).DELETE().build()).statusCode());

        JsonNode history = get("/api/v1/alias-history/stable").get("history");
        assertEquals(List.of(a.hex(), b.hex(), "null"), texts(history, "fingerprint"));
        assertEquals(404, registry.send(registry.request("/api/v1/alias-history/never-existed").build()).statusCode());
    }

    @Test
    void unpublishing_an_image_keeps_the_layers_it_shares_and_aliases_fall_back() throws IOException {
        Digest base = layers.base(), mid = layers.child(base), a = layers.child(mid), b = layers.child(mid);
        upload(base, mid, a, b);
        assertEquals(201, publish(body("debian", "12", "amd64", "cloud", "20261101_0000", a, "debian/12")).statusCode());
        assertEquals(201, publish(body("debian", "12", "amd64", "cloud", "20261122_0000", b)).statusCode());
        assertEquals(b.hex(), get("/index.json").get("aliases").get("debian/12").asText());

        HttpResponse<String> denied = registry.send(registry.authed("/api/v1/images/" + b.hex(), registry.pushToken).DELETE().build());
        assertEquals(403, denied.statusCode());
        assertEquals(204, registry.send(registry.authed("/api/v1/images/" + b.hex(), registry.publishToken).DELETE().build()).statusCode());

        JsonNode index = get("/index.json");
        assertFalse(index.get("images").has(b.hex()));
        assertEquals(a.hex(), index.get("aliases").get("debian/12").asText(), "the alias falls back to the next newest version");
        assertEquals(List.of(base.hex(), mid.hex(), a.hex()), texts(index.get("images").get(a.hex()).get("chain")));
        for (Digest d : List.of(base, mid, a, b)) {
            assertEquals(200, registry.send(registry.request("/layers/" + d.fileName()).build()).statusCode(), "layers stay until gc");
        }
        assertEquals(404, registry.send(registry.authed("/api/v1/images/" + b.hex(), registry.publishToken).DELETE().build()).statusCode());
        JsonNode history = get("/api/v1/alias-history/debian/12").get("history");
        assertEquals(List.of(a.hex(), b.hex(), a.hex()), texts(history, "fingerprint"));
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @CsvSource(delimiter = '|', value = {
            "unknown arch                    | arch            | \"x86-64\"                 | 400 | BODY_INVALID",
            "version serial not a date       | version         | \"20261322_1000\"          | 400 | BODY_INVALID",
            "version serial with seconds     | version         | \"20261122_100000\"        | 400 | BODY_INVALID",
            "uppercase os                    | os              | \"Debian\"                 | 400 | BODY_INVALID",
            "os with a slash                 | os              | \"de/bian\"                | 400 | BODY_INVALID",
            "missing release                 | release         | null                       | 400 | BODY_INVALID",
            "layer not hex                   | layer           | \"not-a-digest\"           | 400 | BODY_INVALID",
            "layer not stored                | layer           | \"{unstored}\"             | 400 | CHAIN_INCOMPLETE",
            "alias with a comma              | aliases         | [\"a,b\"]                  | 400 | BODY_INVALID",
            "alias with a trailing slash     | aliases         | [\"debian/\"]              | 400 | BODY_INVALID",
            "alias listed twice              | aliases         | [\"x\",\"x\"]              | 400 | BODY_INVALID",
            "aliases not a list              | aliases         | \"debian/12\"              | 400 | BODY_INVALID",
            "description over 4096 chars     | description     | \"{long}\"                 | 400 | BODY_INVALID",
            "property value not a string     | properties      | {\"a\":{\"b\":1}}          | 400 | BODY_INVALID",
            "property name with spaces       | properties      | {\"a b\":\"c\"}            | 400 | BODY_INVALID",
            "unknown field                   | colour          | \"blue\"                   | 400 | BODY_INVALID",
    })
    void invalid_publish_bodies_are_refused_naming_the_field(String name, String field, String value, int status, String code) throws IOException {
        Digest base = layers.base();
        upload(base);
        ObjectNode body = body("debian", "12", "amd64", "cloud", "20261122_1000", base);
        String json = value.replace("{unstored}", "ab".repeat(32)).replace("{long}", "x".repeat(4097));
        body.set(field, JSON.readTree(json));
        HttpResponse<String> response = publish(body);
        assertEquals(status, response.statusCode(), response.body());
        assertTrue(response.body().contains("\"code\":\"" + code + "\""), response.body());
        assertTrue(get("/index.json").get("images").isEmpty(), "nothing was published");
    }

    @Test
    void malformed_oversized_and_duplicate_publishes_are_refused() throws IOException {
        Digest base = layers.base(), other = layers.child(base);
        upload(base, other);
        assertEquals(400, publish("{").statusCode());
        assertEquals(400, publish("").statusCode());
        assertEquals(400, publish("[]").statusCode());
        assertEquals(413, publish("{\"os\":\"" + "a".repeat(70 * 1024) + "\"}").statusCode(), "over 64 KiB");
        assertEquals(201, publish(body("debian", "12", "amd64", "cloud", "20261122_1000", base)).statusCode());
        HttpResponse<String> sameVersion = publish(body("debian", "12", "amd64", "cloud", "20261122_1000", other));
        assertEquals(409, sameVersion.statusCode(), sameVersion.body());
        HttpResponse<String> sameLayer = publish(body("debian", "13", "amd64", "cloud", "20261122_1000", base));
        assertEquals(409, sameLayer.statusCode(), sameLayer.body());
        HttpResponse<String> anonymous = registry.send(registry.request("/api/v1/images")
                .POST(HttpRequest.BodyPublishers.ofString(body("a", "1", "amd64", "b", "20261122_1000", other).toString())).build());
        assertEquals(401, anonymous.statusCode());
        HttpResponse<String> pusher = registry.send(registry.authed("/api/v1/images", registry.pushToken)
                .POST(HttpRequest.BodyPublishers.ofString(body("a", "1", "amd64", "b", "20261122_1000", other).toString())).build());
        assertEquals(403, pusher.statusCode());
        assertEquals(1, get("/index.json").get("images").size());
    }

    @Test
    void the_simplestreams_documents_have_the_shapes_and_types_lxd_parses() throws IOException {
        Digest base = layers.base(), a = layers.child(base), b = layers.child(base);
        upload(base, a, b);
        assertEquals(201, publish(body("debian", "12", "amd64", "cloud", "20261101_0000", a, "debian/12", "debian/bookworm")).statusCode());
        assertEquals(201, publish(body("debian", "12", "amd64", "cloud", "20261122_0930", b)).statusCode());

        JsonNode index = get("/streams/v1/index.json");
        assertEquals("index:1.0", index.get("format").asText());
        JsonNode entry = index.get("index").elements().next();
        assertEquals("image-downloads", entry.get("datatype").asText());
        assertEquals("streams/v1/images.json", entry.get("path").asText());
        assertEquals(List.of("debian:12:amd64:cloud"), texts(entry.get("products")));

        JsonNode products = get("/" + entry.get("path").asText());
        assertEquals("products:1.0", products.get("format").asText());
        JsonNode product = products.get("products").get("debian:12:amd64:cloud");
        assertTrue(product.get("aliases").isTextual(), "LXD reads aliases as one comma-separated string");
        assertEquals("debian/12,debian/bookworm", product.get("aliases").asText());
        assertEquals("amd64", product.get("arch").asText());
        for (String field : List.of("os", "release", "release_title", "variant")) assertTrue(product.get(field).isTextual(), field);
        JsonNode versions = product.get("versions");
        assertEquals(2, versions.size());
        versions.fieldNames().forEachRemaining(key -> assertTrue(key.matches("\\d{8}.*"), key));
        JsonNode newest = versions.get("20261122_0930");
        assertEquals(List.of(base.hex(), b.hex()), texts(newest.get("strata_chain")));
        assertTrue(newest.get("strata_download_size").isNumber());
        newest.get("items").elements().forEachRemaining(item -> {
            assertTrue(item.get("size").isIntegralNumber(), item.toString());
            assertTrue(item.get("ftype").isTextual());
            assertTrue(item.get("sha256").asText().matches("[0-9a-f]{64}"));
            assertTrue(item.get("path").asText().startsWith("layers/"));
        });
        assertEquals(b.hex(), newest.get("items").get("qcow2").get("sha256").asText());
    }

    @Test
    void index_documents_answer_304_to_their_etag_gzip_when_asked_and_change_with_the_catalog() throws IOException {
        Digest base = layers.base();
        upload(base);
        for (String path : List.of("/index.json", "/streams/v1/index.json", "/streams/v1/images.json")) {
            HttpResponse<byte[]> plain = registry.sendBytes(registry.request(path).build());
            String etag = plain.headers().firstValue("ETag").orElseThrow();
            assertTrue(etag.startsWith("\""), "strong ETag: " + etag);
            assertEquals(304, registry.sendBytes(registry.request(path).header("If-None-Match", etag).build()).statusCode());

            HttpResponse<byte[]> gzip = registry.sendBytes(registry.request(path).header("Accept-Encoding", "gzip").build());
            assertEquals("gzip", gzip.headers().firstValue("Content-Encoding").orElse(null));
            assertNotEquals(etag, gzip.headers().firstValue("ETag").orElseThrow(), "each representation has its own ETag");
            try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(gzip.body()))) {
                assertEquals(new String(plain.body()), new String(in.readAllBytes()));
            }
            assertEquals(200, registry.sendBytes(registry.request(path).header("Accept-Encoding", "gzip;q=0").build()).statusCode());
            assertTrue(registry.sendBytes(registry.request(path).header("Accept-Encoding", "gzip;q=0").build())
                    .headers().firstValue("Content-Encoding").isEmpty());
        }
        String before = registry.sendBytes(registry.request("/index.json").build()).headers().firstValue("ETag").orElseThrow();
        assertEquals(201, publish(body("debian", "12", "amd64", "cloud", "20261122_1000", base)).statusCode());
        HttpResponse<byte[]> after = registry.sendBytes(registry.request("/index.json").header("If-None-Match", before).build());
        assertEquals(200, after.statusCode(), "a publish is visible on the next request");
        assertTrue(new String(after.body()).contains(base.hex()));
    }

    @Test
    void concurrent_publishes_never_show_a_reader_a_half_applied_catalog() throws Exception {
        Digest base = layers.base();
        upload(base);
        List<Digest> tops = new ArrayList<>();
        for (int i = 0; i < 12; i++) tops.add(layers.child(base));
        upload(tops.toArray(Digest[]::new));

        List<Thread> writers = new ArrayList<>();
        List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int i = 0; i < tops.size(); i++) {
            int n = i;
            writers.add(new Thread(() -> {
                HttpResponse<String> r = publish(body("os" + (n % 3), "1", "amd64", "v", String.format("202611%02d_0000", n + 1), tops.get(n), "os" + (n % 3) + "/latest"));
                if (r.statusCode() != 201) failures.add(new AssertionError(r.body()));
            }));
        }
        writers.forEach(Thread::start);
        int reads = 0;
        while (writers.stream().anyMatch(Thread::isAlive) || reads < 20) {
            JsonNode index = get("/index.json");
            assertConsistent(index);
            reads++;
        }
        for (Thread t : writers) t.join();
        assertEquals(List.of(), failures);
        JsonNode index = get("/index.json");
        assertConsistent(index);
        assertEquals(12, index.get("images").size());
        for (int k = 0; k < 3; k++) {
            // The alias resolves to the newest serial of its product, whatever order the publishes landed in.
            String newest = null;
            for (int n = k; n < 12; n += 3) newest = tops.get(n).hex();
            assertEquals(newest, index.get("aliases").get("os" + k + "/latest").asText());
        }
    }

    static void assertConsistent(JsonNode index) {
        index.get("aliases").fields().forEachRemaining(e -> assertTrue(index.get("images").has(e.getValue().asText()), e.toString()));
        index.get("images").fields().forEachRemaining(e -> {
            long sum = 0;
            for (JsonNode d : e.getValue().get("chain")) {
                assertTrue(index.get("layers").has(d.asText()), "layer of " + e.getKey());
                sum += index.get("layers").get(d.asText()).get("size").asLong();
            }
            assertEquals(sum, e.getValue().get("download_size").asLong());
        });
    }

    static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    static List<String> texts(JsonNode array, String field) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.get(field).isNull() ? "null" : n.get(field).asText()));
        return out;
    }

}
