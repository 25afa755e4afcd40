package io.strata.lxd;

import com.fasterxml.jackson.databind.JsonNode;
import io.strata.layer.Digest;
import io.strata.layer.LayerStore;
import io.strata.testing.LayerFactory;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.strata.lxd.LxdFixtures.awaitReady;
import static io.strata.lxd.LxdFixtures.bytes;
import static io.strata.lxd.LxdFixtures.json;
import static io.strata.lxd.LxdFixtures.publish;
import static io.strata.lxd.LxdFixtures.sha256;
import static io.strata.lxd.LxdFixtures.status;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** DESIGN §9: every published image gets, once, a metadata tarball and a flattened disk that images.json lists exactly. */
class LxdItemsTest {
    @TempDir Path dir;

    @Test
    void a_published_image_gets_lxd_items_listed_exactly_in_images_json_and_served_whole() throws Exception {
        LayerFactory layers = new LayerFactory(dir);
        Digest base = layers.base();
        Digest top = layers.child(base);
        try (TestRegistry registry = TestRegistry.start(LxdFixtures.config(dir.resolve("data"), 2))) {
            URI root = registry.uri("/");
            layers.uploadTo(registry, base, top);
            publish(registry, "cloud", "20261122_1000", top);
            JsonNode lxd = awaitReady(root, top);

            JsonNode version = json(root, "/streams/v1/images.json").path("products").path("debian:12:amd64:cloud")
                    .path("versions").path("20261122_1000");
            JsonNode items = version.path("items");
            JsonNode meta = items.path("lxd.tar.xz");
            JsonNode incus = items.path("incus.tar.xz");
            JsonNode disk = items.path("disk-kvm.img");
            assertEquals("lxd.tar.xz", meta.path("ftype").asText());
            assertEquals("incus.tar.xz", incus.path("ftype").asText());
            assertEquals("disk-kvm.img", disk.path("ftype").asText());
            for (String field : List.of("path", "sha256", "size", "combined_disk-kvm-img_sha256")) {
                assertEquals(meta.path(field), incus.path(field), "incus.tar.xz is the same file: " + field);
            }
            // The chain items for layer-aware clients stay.
            assertEquals(top.hex(), items.path("qcow2").path("sha256").asText());
            assertEquals(base.hex(), items.path("layer-0").path("sha256").asText());

            byte[] metaBytes = bytes(root, "/" + meta.path("path").asText());
            byte[] diskBytes = bytes(root, "/" + disk.path("path").asText());
            assertEquals(metaBytes.length, meta.path("size").asLong());
            assertEquals(diskBytes.length, disk.path("size").asLong());
            assertEquals(sha256(metaBytes).hex(), meta.path("sha256").asText());
            assertEquals(sha256(diskBytes).hex(), disk.path("sha256").asText());
            byte[] both = new byte[metaBytes.length + diskBytes.length];
            System.arraycopy(metaBytes, 0, both, 0, metaBytes.length);
            System.arraycopy(diskBytes, 0, both, metaBytes.length, diskBytes.length);
            String combined = sha256(both).hex();
            assertEquals(combined, meta.path("combined_disk-kvm-img_sha256").asText());
            assertEquals(combined, lxd.path("fingerprint").asText(), "/index.json shows the LXD fingerprint");
            assertEquals("false", json(root, "/streams/v1/images.json").path("products").path("debian:12:amd64:cloud")
                    .path("lxd_requirements").path("secureboot").asText());

            // The disk is one standalone compressed qcow2 with exactly the chain's guest content.
            Path flat = dir.resolve("flat.qcow2");
            Files.write(flat, diskBytes);
            String info = QemuImg.info(flat);
            assertFalse(info.contains("backing-filename"), info);
            QemuImg.check(flat);
            QemuImg.Result compare = QemuImg.run(List.of("qemu-img", "compare", flat.toString(), registry.url("/layers/" + top.fileName())));
            assertEquals(0, compare.exitCode(), compare.stdout() + compare.stderr());

            // Served whole with 200, its length and an immutable strong ETag; unknown digests are 404.
            HttpResponse<String> head = registry.send(registry.request("/" + disk.path("path").asText())
                    .method("HEAD", HttpRequest.BodyPublishers.noBody()).build());
            assertEquals(200, head.statusCode());
            assertEquals(Long.toString(diskBytes.length), head.headers().firstValue("Content-Length").orElseThrow());
            assertEquals("\"" + disk.path("sha256").asText() + "\"", head.headers().firstValue("ETag").orElseThrow());
            assertEquals(404, status(root, "/lxd/" + top.hex() + ".qcow2"));
            assertEquals(404, status(root, "/lxd/" + meta.path("sha256").asText() + ".qcow2"), "a tarball is not served as a disk");

            // Counted in what the store holds, not listed as layers; a restart keeps them (recovery leaves them alone).
            assertEquals(2, json(root, "/index.json").path("layers").size());
            registry.restart();
            URI again = registry.uri("/");
            assertEquals(combined, awaitReady(again, top).path("fingerprint").asText());
            assertArrayEquals(diskBytes, bytes(again, "/" + disk.path("path").asText()));
            assertEquals(2, json(again, "/index.json").path("layers").size());
            assertEquals(List.of(), registry.uploadFiles(), "no temp file left behind");
            var services = registry.server().services();
            var verify = new io.strata.layer.Verifier((io.strata.layer.FsLayerStore) services.layers().store(),
                    services.database().dao(io.strata.layer.LayerDao.class), services.lxd().recordedBlobs()).run(false, done -> { });
            assertTrue(verify.ok(), "strata verify takes LXD items for what they are: " + verify.problems());
        }
    }

    @Test
    void the_metadata_tarball_holds_only_metadata_yaml_owned_by_root_with_the_publish_time() throws Exception {
        LayerFactory layers = new LayerFactory(dir);
        Digest top = layers.base();
        try (TestRegistry registry = TestRegistry.start(LxdFixtures.config(dir.resolve("data"), 2))) {
            URI root = registry.uri("/");
            layers.uploadTo(registry, top);
            publish(registry, "cloud", "20261122_1000", top);
            JsonNode lxd = awaitReady(root, top);
            Path tarball = dir.resolve("meta.tar.xz");
            Files.write(tarball, bytes(root, "/" + lxd.path("meta").path("path").asText()));
            long created = java.time.Instant.parse(json(root, "/index.json").path("images").path(top.hex()).path("created").asText())
                    .getEpochSecond();

            String listing = run(List.of("tar", "--numeric-owner", "--full-time", "-tvJf", tarball.toString()));
            assertEquals(1, listing.strip().lines().count(), listing);
            assertTrue(listing.startsWith("-rw-r--r-- 0/0 "), listing);
            assertTrue(listing.strip().endsWith(" metadata.yaml"), listing);
            String yaml = run(List.of("tar", "-xJOf", tarball.toString(), "metadata.yaml"));
            assertEquals("""
                    architecture: "x86_64"
                    creation_date: %d
                    expiry_date: 0
                    properties:
                      architecture: "amd64"
                      description: "Debian 12 cloud 20261122_1000"
                      os: "debian"
                      release: "12"
                      serial: "20261122_1000"
                      variant: "cloud"
                    templates: {}
                    """.formatted(created), yaml);
            String mtime = run(List.of("tar", "--full-time", "--utc", "-tvJf", tarball.toString()));
            String expected = java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss")
                    .format(java.time.Instant.ofEpochSecond(created).atZone(java.time.ZoneOffset.UTC));
            assertTrue(mtime.contains(expected), mtime + " should show " + expected);
        }
    }

    @Test
    void the_items_of_a_deleted_image_go_at_the_next_garbage_collection() throws Exception {
        LayerFactory layers = new LayerFactory(dir);
        Digest base = layers.base();
        Digest top = layers.child(base);
        try (TestRegistry registry = TestRegistry.start(LxdFixtures.config(dir.resolve("data"), 2))) {
            URI root = registry.uri("/");
            layers.uploadTo(registry, base, top);
            publish(registry, "cloud", "20261122_1000", top);
            JsonNode lxd = awaitReady(root, top);
            Digest meta = new Digest(lxd.path("meta").path("sha256").asText());
            Digest disk = new Digest(lxd.path("disk").path("sha256").asText());
            LayerStore store = registry.server().services().layers().store();
            assertTrue(store.exists(meta) && store.exists(disk));

            assertEquals(204, registry.send(registry.authed("/api/v1/images/" + top.hex(), registry.publishToken).DELETE().build()).statusCode());
            LxdFixtures.awaitStatus(root, "/" + lxd.path("disk").path("path").asText(), 404);
            assertTrue(store.exists(meta) && store.exists(disk), "the files wait for garbage collection");

            HttpResponse<String> gc = registry.send(registry.authed("/api/v1/gc?min_age=0s", registry.adminToken)
                    .POST(HttpRequest.BodyPublishers.noBody()).build());
            assertEquals(200, gc.statusCode(), gc.body());
            List<String> removed = new ArrayList<>();
            LxdFixtures.JSON.readTree(gc.body()).path("removed_lxd").forEach(n -> removed.add(n.asText()));
            removed.sort(null);
            List<String> expected = new ArrayList<>(List.of(meta.hex(), disk.hex()));
            expected.sort(null);
            assertEquals(expected, removed);
            assertFalse(store.exists(meta) || store.exists(disk));
            assertEquals(List.of(), registry.layerFiles(), "layers and items all gone");
        }
    }

    @Test
    void only_the_newest_lxd_versions_of_a_product_keep_a_flattened_disk() throws Exception {
        LayerFactory layers = new LayerFactory(dir);
        Digest base = layers.base();
        Digest first = layers.child(base);
        Digest second = layers.child(base);
        try (TestRegistry registry = TestRegistry.start(LxdFixtures.config(dir.resolve("data"), 1))) {
            URI root = registry.uri("/");
            layers.uploadTo(registry, base, first, second);
            publish(registry, "cloud", "20261122_1000", first);
            JsonNode old = awaitReady(root, first);
            publish(registry, "cloud", "20261123_1000", second);
            awaitReady(root, second);
            LxdFixtures.awaitLxd(root, first, JsonNode::isMissingNode);

            JsonNode versions = json(root, "/streams/v1/images.json").path("products").path("debian:12:amd64:cloud").path("versions");
            assertTrue(versions.path("20261123_1000").path("items").has("disk-kvm.img"));
            JsonNode older = versions.path("20261122_1000").path("items");
            assertFalse(older.has("disk-kvm.img") || older.has("lxd.tar.xz"), older.toString());
            assertEquals(first.hex(), older.path("qcow2").path("sha256").asText(), "still there for layer-aware clients");
            LxdFixtures.awaitStatus(root, "/" + old.path("disk").path("path").asText(), 404);

            HttpResponse<String> gc = registry.send(registry.authed("/api/v1/gc?min_age=0s", registry.adminToken)
                    .POST(HttpRequest.BodyPublishers.noBody()).build());
            assertTrue(gc.body().contains(old.path("disk").path("sha256").asText()), gc.body());
            assertFalse(registry.server().services().layers().store().exists(new Digest(old.path("disk").path("sha256").asText())));
            assertEquals(200, status(root, "/layers/" + first.fileName()));
        }
    }

    @Test
    void without_qemu_img_lxd_items_are_off_and_healthz_and_the_index_say_why() throws Exception {
        LayerFactory layers = new LayerFactory(dir);
        Digest top = layers.base();
        var config = LxdFixtures.config(dir.resolve("data"), 2);
        config = config.withLxd(config.lxd().withQemuImg(dir.resolve("no-such-qemu-img").toString()));
        try (TestRegistry registry = TestRegistry.start(config)) {
            URI root = registry.uri("/");
            layers.uploadTo(registry, top);
            publish(registry, "cloud", "20261122_1000", top);
            JsonNode health = json(root, "/healthz");
            assertEquals("ok", health.path("status").asText(), "an optional feature never makes the registry unhealthy");
            assertFalse(health.path("lxd").path("enabled").asBoolean());
            String message = health.path("lxd").path("message").asText();
            assertTrue(message.startsWith("LXD items are off: ") && message.contains("no-such-qemu-img was not found")
                    && message.contains("apt-get install qemu-utils"), message);
            JsonNode index = json(root, "/index.json");
            assertEquals(message, index.path("lxd").path("message").asText());
            assertTrue(index.path("images").path(top.hex()).path("lxd").isMissingNode());
            assertFalse(json(root, "/streams/v1/images.json").toString().contains("disk-kvm.img"));
            assertEquals(200, status(root, "/layers/" + top.fileName()), "layer-aware clients are not affected");
        }
    }

    @Test
    void a_private_registry_makes_no_lxd_items_and_healthz_says_why() throws Exception {
        var config = LxdFixtures.config(dir.resolve("data"), 2);
        config = config.withAccess(config.access().withPrivateMode(true));
        try (TestRegistry registry = TestRegistry.start(config)) {
            JsonNode health = json(registry.uri("/"), "/healthz");
            assertFalse(health.path("lxd").path("enabled").asBoolean());
            String message = health.path("lxd").path("message").asText();
            assertTrue(message.startsWith("LXD items are off on a private registry"), message);
        }
    }

    @Test
    void requirements_properties_of_the_newest_version_become_the_products_lxd_requirements() throws Exception {
        LayerFactory layers = new LayerFactory(dir);
        Digest top = layers.base();
        try (TestRegistry registry = TestRegistry.start(dir.resolve("data"))) {
            layers.uploadTo(registry, top);
            String body = "{\"os\":\"debian\",\"release\":\"12\",\"arch\":\"amd64\",\"variant\":\"uefi\",\"version\":\"20261122_1000\","
                    + "\"layer\":\"" + top.hex() + "\",\"properties\":{\"requirements.secureboot\":\"true\",\"requirements.cdrom_agent\":\"true\"}}";
            assertEquals(201, registry.send(registry.authed("/api/v1/images", registry.publishToken)
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build()).statusCode());
            JsonNode product = json(registry.uri("/"), "/streams/v1/images.json").path("products").path("debian:12:amd64:uefi");
            for (String field : List.of("requirements", "lxd_requirements")) {
                assertEquals("{\"cdrom_agent\":\"true\",\"secureboot\":\"true\"}", product.path(field).toString(), field);
            }
        }
    }

    static String run(List<String> command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, process.waitFor(), String.join(" ", command) + ": " + out);
        return out;
    }
}
