package io.strata.lxd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.config.LxdConfig;
import io.strata.config.ServerConfig;
import io.strata.layer.Digest;
import io.strata.testing.TestRegistry;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** Publishing and waiting on a real registry with LXD items on; plain HTTP against any base URL (in-process or a child JVM). */
final class LxdFixtures {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    /** Flattening a small chain takes well under a second; the rest is slack for a loaded, shared machine. */
    static final Duration WAIT = Duration.ofSeconds(90);

    private LxdFixtures() {}

    /** A server config with LXD items on and a short lease, so a crashed job is taken again quickly. */
    static ServerConfig config(Path data, int versions) {
        return ServerConfig.defaults(data).withLxd(LxdConfig.defaults().withVersions(versions).withLease(Duration.ofSeconds(2)));
    }

    static void publish(URI base, String token, String variant, String version, Digest top) {
        String body = "{\"os\":\"debian\",\"release\":\"12\",\"arch\":\"amd64\",\"variant\":\"" + variant + "\",\"version\":\"" + version
                + "\",\"layer\":\"" + top.hex() + "\",\"aliases\":[\"debian/12" + (variant.equals("cloud") ? "" : "/" + variant)
                + "\"],\"release_title\":\"Debian 12\",\"description\":\"Debian 12 " + variant + " " + version + "\"}";
        HttpResponse<String> response = send(HttpRequest.newBuilder(base.resolve("/api/v1/images"))
                .header("Authorization", "Bearer " + token).POST(HttpRequest.BodyPublishers.ofString(body)).build());
        assertEquals(201, response.statusCode(), response.body());
    }

    static void publish(TestRegistry registry, String variant, String version, Digest top) {
        publish(registry.uri("/"), registry.publishToken, variant, version, top);
    }

    static JsonNode json(URI base, String path) {
        HttpResponse<String> response = send(HttpRequest.newBuilder(base.resolve(path)).build());
        assertEquals(200, response.statusCode(), path + ": " + response.body());
        try {
            return JSON.readTree(response.body());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The image's {@code lxd} object in /index.json once {@code until} holds for it (missing: an empty object). */
    static JsonNode awaitLxd(URI base, Digest image, Predicate<JsonNode> until) throws InterruptedException {
        Instant deadline = Instant.now().plus(WAIT);
        JsonNode lxd = null;
        while (Instant.now().isBefore(deadline)) {
            lxd = json(base, "/index.json").path("images").path(image.hex()).path("lxd");
            if (until.test(lxd)) return lxd;
            Thread.sleep(100);
        }
        fail("LXD items of " + image + " did not get there in " + WAIT + "; last: " + lxd);
        return null;
    }

    static JsonNode awaitReady(URI base, Digest image) throws InterruptedException {
        return awaitLxd(base, image, lxd -> lxd.path("state").asText().equals("ready"));
    }

    static byte[] bytes(URI base, String path) {
        HttpResponse<byte[]> response;
        try {
            response = HTTP.send(HttpRequest.newBuilder(base.resolve(path)).build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        assertEquals(200, response.statusCode(), path);
        return response.body();
    }

    static int status(URI base, String path) {
        return send(HttpRequest.newBuilder(base.resolve(path)).build()).statusCode();
    }

    /** Views follow the catalog within a second (the reconcile tick): wait for {@code expected}. */
    static void awaitStatus(URI base, String path, int expected) throws InterruptedException {
        Instant deadline = Instant.now().plus(Duration.ofSeconds(10));
        int last = -1;
        while (Instant.now().isBefore(deadline)) {
            last = status(base, path);
            if (last == expected) return;
            Thread.sleep(100);
        }
        fail(path + " answered " + last + ", not " + expected);
    }

    static HttpResponse<String> send(HttpRequest request) {
        try {
            return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** An executable shell script (a stand-in qemu-img that fails or stalls before running the real one). */
    static Path script(Path file, String body) throws IOException {
        Files.writeString(file, "#!/bin/sh\n" + body, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
        return file;
    }

    static String realQemuImg() {
        for (String dir : System.getenv("PATH").split(":")) {
            Path candidate = Path.of(dir, "qemu-img");
            if (Files.isExecutable(candidate)) return candidate.toString();
        }
        throw new IllegalStateException("qemu-img not on PATH");
    }

    static Digest sha256(byte[] bytes) { return TestRegistry.sha256(bytes); }
}
