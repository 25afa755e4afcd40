package io.strata.upload;

import io.strata.layer.Digest;
import io.strata.testing.Qcow2Fixtures;
import io.strata.testing.Qcow2Fixtures.BadCase;
import io.strata.testing.Qcow2Fixtures.GoodCase;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Monolithic {@code PUT /api/v1/layers/<sha256>}: the format inspector at the HTTP boundary, digests, auth, dedup. */
class LayerUploadTest {
    @TempDir static Path dir;
    static TestRegistry registry;

    @BeforeAll
    static void start() throws IOException {
        QemuImg.assumeAvailable();
        registry = TestRegistry.start(dir.resolve("data"));
    }

    @AfterAll
    static void stop() {
        if (registry != null) registry.close();
    }

    static List<BadCase> badCases() throws IOException {
        QemuImg.assumeAvailable();
        return Qcow2Fixtures.badCases(Files.createTempDirectory("strata-bad"));
    }

    static List<GoodCase> goodCases() throws IOException {
        QemuImg.assumeAvailable();
        return Qcow2Fixtures.goodCases(Files.createTempDirectory("strata-good"));
    }

    @ParameterizedTest(name = "[{index}] refuses {0}")
    @MethodSource("badCases")
    void refuses_a_bad_layer_with_the_failed_check_and_stores_nothing(BadCase bad) throws IOException {
        List<Path> before = registry.layerFiles();
        HttpResponse<String> response = registry.putLayer(bad.bytes());

        assertEquals(400, response.statusCode(), response.body());
        assertTrue(response.body().contains("\"code\":\"QCOW2_INVALID\""), response.body());
        assertTrue(response.body().contains("\"check\":\"" + bad.expected().id() + "\""), response.body());
        assertNothingStored(TestRegistry.sha256(bad.bytes()), before);
    }

    @ParameterizedTest(name = "[{index}] accepts {0}")
    @MethodSource("goodCases")
    void accepts_valid_layers_whose_parent_is_stored(GoodCase good) throws IOException {
        byte[] bytes = good.bytes();
        if (good.parent().isPresent()) {
            // The fixtures name a parent no store holds; rebuild the child on a stored parent.
            Digest parent = storedBase();
            bytes = Qcow2Fixtures.validChildOf(Files.createTempDirectory("strata-child"), parent);
        }
        HttpResponse<String> response = registry.putLayer(bytes);
        assertTrue(response.statusCode() == 201 || response.statusCode() == 200, response.body());
        Digest digest = TestRegistry.sha256(bytes);
        assertEquals("/layers/" + digest.fileName(), response.headers().firstValue("Location").orElse(null));
        assertTrue(response.body().contains("\"virtual_size\":" + good.virtualSize()), response.body());
        HttpResponse<byte[]> get = registry.sendBytes(registry.request("/layers/" + digest.fileName()).build());
        assertEquals(200, get.statusCode());
        assertEquals(bytes.length, get.body().length);
    }

    @Test
    void a_child_whose_parent_is_not_stored_is_refused_naming_the_parent() throws IOException {
        List<Path> before = registry.layerFiles();
        byte[] child = Qcow2Fixtures.validChildOf(Files.createTempDirectory("strata-orphan"), Qcow2Fixtures.UNSTORED_PARENT);
        HttpResponse<String> response = registry.putLayer(child);
        assertEquals(400, response.statusCode());
        assertTrue(response.body().contains("\"code\":\"PARENT_UNKNOWN\""), response.body());
        assertTrue(response.body().contains(Qcow2Fixtures.UNSTORED_PARENT.hex()), response.body());
        assertNothingStored(TestRegistry.sha256(child), before);
    }

    @Test
    void a_digest_that_does_not_match_the_bytes_is_refused() throws IOException {
        byte[] base = baseBytes("mismatch");
        List<Path> before = registry.layerFiles();
        Digest wrong = new Digest("ab".repeat(32));
        HttpResponse<String> response = registry.putLayer(wrong, base);
        assertEquals(400, response.statusCode());
        assertTrue(response.body().contains("\"code\":\"DIGEST_INVALID\""), response.body());
        assertTrue(response.body().contains(TestRegistry.sha256(base).hex()), "names the actual digest: " + response.body());
        assertNothingStored(wrong, before);
        assertNothingStored(TestRegistry.sha256(base), before);
    }

    @ParameterizedTest(name = "malformed digest in the URL: {0}")
    @ValueSource(strings = {"abc", "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "00000000000000000000000000000000000000000000000000000000000000000", "zz00000000000000000000000000000000000000000000000000000000000000"})
    void a_malformed_digest_in_the_url_is_refused(String digest) throws IOException {
        List<Path> before = registry.layerFiles();
        HttpResponse<String> response = registry.send(registry.authed("/api/v1/layers/" + digest.replace(":", "%3A"), registry.pushToken)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(baseBytes("malformed"))).build());
        assertEquals(400, response.statusCode(), response.body());
        assertTrue(response.body().contains("\"code\":\"DIGEST_INVALID\""), response.body());
        assertEquals(before, registry.layerFiles());
        assertEquals(List.of(), registry.uploadFiles());
    }

    @Test
    void uploading_a_stored_layer_again_answers_200_without_storing_twice() throws IOException {
        byte[] base = baseBytes("dedup");
        assertEquals(201, registry.putLayer(base).statusCode());
        List<Path> after = registry.layerFiles();
        HttpResponse<String> again = registry.putLayer(base);
        assertEquals(200, again.statusCode(), again.body());
        assertEquals(after, registry.layerFiles());
        assertEquals(List.of(), registry.uploadFiles());
    }

    @Test
    void writes_need_a_token_with_the_push_scope() throws IOException {
        byte[] base = baseBytes("auth");
        String path = "/api/v1/layers/" + TestRegistry.sha256(base).hex();
        HttpResponse<String> none = registry.send(registry.request(path).PUT(HttpRequest.BodyPublishers.ofByteArray(base)).build());
        assertEquals(401, none.statusCode());
        assertTrue(none.headers().firstValue("WWW-Authenticate").orElse("").startsWith("Bearer"));
        HttpResponse<String> bogus = registry.send(registry.authed(path, "strata_not-a-real-token").PUT(HttpRequest.BodyPublishers.ofByteArray(base)).build());
        assertEquals(401, bogus.statusCode());
        HttpResponse<String> wrongScope = registry.send(registry.authed(path, registry.publishToken)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(base)).build());
        assertEquals(403, wrongScope.statusCode());
        assertTrue(wrongScope.body().contains("\"code\":\"DENIED\""));
        assertEquals(201, registry.send(registry.authed(path, registry.adminToken).PUT(HttpRequest.BodyPublishers.ofByteArray(base)).build()).statusCode());
    }

    @Test
    void two_concurrent_uploads_of_one_layer_both_succeed_and_leave_one_file() throws Exception {
        byte[] base = baseBytes("concurrent");
        Digest digest = TestRegistry.sha256(base);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Callable<Integer>> uploads = new ArrayList<>();
            for (int i = 0; i < 4; i++) uploads.add(() -> registry.putLayer(base).statusCode());
            Set<Integer> statuses = new HashSet<>();
            for (Future<Integer> f : pool.invokeAll(uploads)) statuses.add(f.get());
            assertTrue(Set.of(200, 201).containsAll(statuses), statuses.toString());
            assertTrue(statuses.contains(201), statuses.toString());
        } finally {
            pool.shutdownNow();
        }
        long copies = registry.layerFiles().stream().filter(p -> p.getFileName().toString().equals(digest.fileName())).count();
        assertEquals(1, copies);
        assertEquals(List.of(), registry.uploadFiles());
    }

    private static Digest storedBase() throws IOException {
        byte[] base = baseBytes("parent");
        int status = registry.putLayer(base).statusCode();
        assertTrue(status == 201 || status == 200);
        return TestRegistry.sha256(base);
    }

    /** A real base layer, different per label (qemu-io writes a label-dependent pattern). */
    static byte[] baseBytes(String label) throws IOException {
        Path file = Files.createTempDirectory("strata-base").resolve(label + ".qcow2");
        QemuImg.create(file, "64M");
        QemuImg.writePattern(file, 0, 4096, Math.floorMod(label.hashCode(), 250) + 1);
        return Files.readAllBytes(file);
    }

    private static void assertNothingStored(Digest digest, List<Path> before) throws IOException {
        assertEquals(before, registry.layerFiles(), "no new layer file");
        assertEquals(List.of(), registry.uploadFiles(), "no temp file left");
        assertEquals(404, registry.send(registry.request("/layers/" + digest.fileName()).build()).statusCode(), "not served");
        assertTrue(registry.server().services().layers().find(digest).isEmpty(), "no row");
    }
}
