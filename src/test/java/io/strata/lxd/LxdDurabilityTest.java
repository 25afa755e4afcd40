package io.strata.lxd;

import com.fasterxml.jackson.databind.JsonNode;
import io.strata.config.ServerConfig;
import io.strata.jobs.Job;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

import static io.strata.lxd.LxdFixtures.awaitLxd;
import static io.strata.lxd.LxdFixtures.awaitReady;
import static io.strata.lxd.LxdFixtures.bytes;
import static io.strata.lxd.LxdFixtures.json;
import static io.strata.lxd.LxdFixtures.publish;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** LXD items are durable jobs: the same bytes every time, finished after a crash, retried after a failure, never half-listed. */
class LxdDurabilityTest {
    @TempDir Path dir;

    @Test
    void the_metadata_tarball_and_fingerprint_are_byte_identical_across_restarts_and_jvms() throws Exception {
        LayerFactory layers = new LayerFactory(dir);
        Digest base = layers.base();
        Digest top = layers.child(base);
        Path data = dir.resolve("data");
        byte[] first;
        String fingerprint;
        try (TestRegistry registry = TestRegistry.start(LxdFixtures.config(data, 2))) {
            layers.uploadTo(registry, base, top);
            publish(registry, "cloud", "20261122_1000", top);
            JsonNode lxd = awaitReady(registry.uri("/"), top);
            first = bytes(registry.uri("/"), "/" + lxd.path("meta").path("path").asText());
            fingerprint = lxd.path("fingerprint").asText();
        }
        for (int restart = 1; restart <= 2; restart++) {
            dropItems(data);
            try (TestRegistry registry = TestRegistry.start(LxdFixtures.config(data, 2))) {
                JsonNode lxd = awaitReady(registry.uri("/"), top);
                assertArrayEquals(first, bytes(registry.uri("/"), "/" + lxd.path("meta").path("path").asText()), "made again after restart " + restart);
                assertEquals(fingerprint, lxd.path("fingerprint").asText(), "the same LXD fingerprint after restart " + restart);
            }
        }
        for (int jvm = 1; jvm <= 2; jvm++) {
            dropItems(data);
            try (ChildServer child = new ChildServer(data, "--lxd-versions", "2")) {
                JsonNode lxd = awaitReady(child.base, top);
                assertArrayEquals(first, bytes(child.base, "/" + lxd.path("meta").path("path").asText()), "made again by child JVM " + jvm);
                assertEquals(fingerprint, lxd.path("fingerprint").asText(), "the same LXD fingerprint in child JVM " + jvm);
            }
        }
    }

    @Test
    void a_server_killed_while_flattening_finishes_the_job_after_restart() throws Exception {
        LayerFactory layers = new LayerFactory(dir);
        Digest base = layers.base();
        Digest top = layers.child(base);
        Path data = dir.resolve("data");
        String pushToken;
        String publishToken;
        try (TestRegistry setup = TestRegistry.start(data)) {
            pushToken = setup.pushToken;
            publishToken = setup.publishToken;
        }
        // A qemu-img that hangs in convert (and says so), like a flatten of a big chain in progress.
        Path started = dir.resolve("convert.pid");
        Path stall = LxdFixtures.script(dir.resolve("stalling-qemu-img"), """
                if [ "$1" = convert ]; then echo $$ > %s; exec sleep 300; fi
                exec %s "$@"
                """.formatted(started, LxdFixtures.realQemuImg()));
        try (ChildServer child = new ChildServer(data, "--qemu-img", stall.toString(), "--job-lease", "2s")) {
            for (Digest d : List.of(base, top)) {
                HttpResponse<String> put = LxdFixtures.send(HttpRequest.newBuilder(child.base.resolve("/api/v1/layers/" + d.hex()))
                        .header("Authorization", "Bearer " + pushToken).PUT(HttpRequest.BodyPublishers.ofByteArray(layers.bytes(d))).build());
                assertEquals(201, put.statusCode(), put.body());
            }
            publish(child.base, publishToken, "cloud", "20261122_1000", top);
            awaitFile(started);
            child.kill();
            ProcessHandle.of(Long.parseLong(Files.readString(started).strip())).ifPresent(ProcessHandle::destroyForcibly);
        }
        try (TestRegistry registry = TestRegistry.start(LxdFixtures.config(data, 2))) {
            Job interrupted = registry.server().services().jobs().find(LxdService.KIND, top.hex()).orElseThrow();
            assertEquals(1, interrupted.attempts(), "the killed server had claimed it once");
            JsonNode lxd = awaitReady(registry.uri("/"), top);
            Job finished = registry.server().services().jobs().find(LxdService.KIND, top.hex()).orElseThrow();
            assertEquals(Job.State.DONE, finished.state());
            assertEquals(2, finished.attempts(), "taken again once the dead server's lease expired");
            byte[] disk = bytes(registry.uri("/"), "/" + lxd.path("disk").path("path").asText());
            assertEquals(lxd.path("disk").path("sha256").asText(), LxdFixtures.sha256(disk).hex());
            assertEquals(List.of(), registry.uploadFiles(), "the killed flatten's temp file is gone");
        }
    }

    @Test
    void a_failing_flatten_is_retried_reported_and_never_listed_half_made() throws Exception {
        LayerFactory layers = new LayerFactory(dir);
        Digest top = layers.base();
        // Fails its first two conversions the way a full disk does, leaving a partial file behind.
        Path count = dir.resolve("converts");
        Path failing = LxdFixtures.script(dir.resolve("failing-qemu-img"), """
                if [ "$1" = convert ]; then
                  n=$(( $(cat %1$s 2>/dev/null || echo 0) + 1 )); echo $n > %1$s
                  if [ $n -le 2 ]; then
                    for last; do :; done
                    echo partial > "$last"
                    echo "qemu-img: error while writing at byte 65536: No space left on device" >&2
                    exit 1
                  fi
                fi
                exec %2$s "$@"
                """.formatted(count, LxdFixtures.realQemuImg()));
        ServerConfig config = LxdFixtures.config(dir.resolve("data"), 2);
        config = config.withLxd(config.lxd().withQemuImg(failing.toString()));
        try (TestRegistry registry = TestRegistry.start(config)) {
            URI root = registry.uri("/");
            layers.uploadTo(registry, top);
            publish(registry, "cloud", "20261122_1000", top);

            JsonNode failed = awaitLxd(root, top, lxd -> lxd.path("state").asText().equals("failed"));
            assertTrue(failed.path("error").asText().contains("No space left on device"), failed.toString());
            assertFalse(json(root, "/streams/v1/images.json").toString().contains("disk-kvm.img"), "nothing listed while it fails");
            assertEquals(top.hex(), json(root, "/streams/v1/images.json").path("products").path("debian:12:amd64:cloud")
                    .path("versions").path("20261122_1000").path("items").path("qcow2").path("sha256").asText());
            assertTrue(json(root, "/healthz").path("lxd").path("failed").asLong() + json(root, "/healthz").path("lxd").path("preparing").asLong() >= 1);
            HttpResponse<String> jobs = registry.send(registry.authed("/api/v1/jobs", registry.adminToken).GET().build());
            assertEquals(200, jobs.statusCode());
            assertTrue(jobs.body().contains("No space left on device") && jobs.body().contains(top.hex()), jobs.body());
            assertEquals(401, registry.send(registry.request("/api/v1/jobs").GET().build()).statusCode(), "jobs are for admins");

            JsonNode lxd = awaitReady(root, top);
            assertEquals("3", Files.readString(count).strip(), "two failures, then success");
            assertEquals(3, registry.server().services().jobs().find(LxdService.KIND, top.hex()).orElseThrow().attempts());
            byte[] disk = bytes(root, "/" + lxd.path("disk").path("path").asText());
            assertEquals(lxd.path("disk").path("sha256").asText(), LxdFixtures.sha256(disk).hex());
            assertFalse(new String(disk, 0, Math.min(disk.length, 16), java.nio.charset.StandardCharsets.ISO_8859_1).startsWith("partial"));
            assertEquals(List.of(), registry.uploadFiles(), "no partial file left");
            assertEquals(0, json(root, "/healthz").path("lxd").path("failed").asLong());
        }
    }

    @Test
    void too_little_free_space_to_flatten_is_reported_as_a_failure() throws Exception {
        LayerFactory layers = new LayerFactory(dir);
        Digest top = layers.base();
        ServerConfig config = LxdFixtures.config(dir.resolve("data"), 2);
        config = config.withMinFreeBytes(1L << 60);
        // Uploads check the same free space, so store the layer first with the normal limit.
        try (TestRegistry registry = TestRegistry.start(LxdFixtures.config(dir.resolve("data"), 0))) {
            layers.uploadTo(registry, top);
        }
        try (TestRegistry registry = TestRegistry.start(config)) {
            URI root = registry.uri("/");
            publish(registry, "cloud", "20261122_1000", top);
            JsonNode failed = awaitLxd(root, top, lxd -> lxd.path("state").asText().equals("failed"));
            assertTrue(failed.path("error").asText().startsWith("not enough free space to flatten"), failed.toString());
            assertFalse(json(root, "/streams/v1/images.json").toString().contains("lxd.tar.xz"));
        }
    }

    /** Restarts with LXD items off and collects, so the next start makes them anew. */
    private static void dropItems(Path data) throws Exception {
        try (TestRegistry registry = TestRegistry.start(data)) {
            HttpResponse<String> gc = registry.send(registry.authed("/api/v1/gc?min_age=0s", registry.adminToken)
                    .POST(HttpRequest.BodyPublishers.noBody()).build());
            assertEquals(200, gc.statusCode(), gc.body());
            assertEquals(2, LxdFixtures.JSON.readTree(gc.body()).path("removed_lxd").size(), gc.body());
        }
    }

    private static void awaitFile(Path file) throws InterruptedException {
        Instant deadline = Instant.now().plus(Duration.ofSeconds(60));
        while (Instant.now().isBefore(deadline)) {
            try {
                if (Files.exists(file) && !Files.readString(file).isBlank()) return;
            } catch (java.io.IOException e) {
                // being written
            }
            Thread.sleep(50);
        }
        fail(file + " did not appear");
    }
}
