package io.strata.upload;

import io.strata.config.ServerConfig;
import io.strata.config.StoreConfig;
import io.strata.testing.LayerFactory;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A disk that really fills up: the data directory on a 40 MiB tmpfs, the minimum-free check off,
 * and bodies sent without a length so the registry cannot refuse them up front. The write that
 * hits ENOSPC may be a direct one on the writer thread, the page-cache tail of a chunk or the
 * fsync; whichever, the client gets 507, a resumable upload keeps its last checkpoint, nothing
 * half-written is visible, and once space is back the registry works as before. Run with
 * O_DIRECT uploads (tmpfs takes the flag since Linux 6.6) and with buffered ones. Needs root
 * (mount); skipped without it, except in CI.
 */
class FullDiskTest {
    @TempDir Path dir;
    private Path small;
    private boolean mounted;

    @BeforeEach
    void mountSmallDisk() throws IOException, InterruptedException {
        small = Files.createDirectories(dir.resolve("small"));
        Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", small.toString())
                .redirectErrorStream(true).start();
        String out = new String(mount.getInputStream().readAllBytes()).strip();
        if (mount.waitFor() != 0) {
            String why = "cannot mount a 40 MiB tmpfs for the full-disk test (needs root): " + out;
            if ("true".equals(System.getenv("CI"))) fail(why + "; CI=true, so it may not be skipped");
            Assumptions.abort(why);
        }
        mounted = true;
    }

    @AfterEach
    void unmount() throws IOException, InterruptedException {
        if (mounted) new ProcessBuilder("umount", "-l", small.toString()).inheritIO().start().waitFor();
    }

    private TestRegistry start(boolean direct) throws IOException {
        return TestRegistry.start(ServerConfig.defaults(small.resolve("data")).withPort(0).withMinFreeBytes(0)
                .withStore(StoreConfig.filesystem().withDirectWrites(direct)));
    }

    /**
     * Bytes of data for a layer just larger than the free space: the body left unread when the disk
     * fills stays under what the registry drains after an early answer ({@code BodyDrain}, 4 MiB),
     * so the 507 reaches a client that is still sending instead of being lost to a reset.
     */
    private int overshoot() throws IOException {
        return (int) (Files.getFileStore(small).getUsableSpace() + (3L << 19));
    }

    /** A body of unknown length (chunked transfer encoding). */
    private static HttpRequest.BodyPublisher unsized(byte[] bytes) {
        return HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(bytes));
    }

    @ParameterizedTest(name = "direct writes: {0}")
    @ValueSource(booleans = {true, false})
    void a_monolithic_upload_that_fills_the_disk_gets_507_and_leaves_nothing_behind(boolean direct) throws Exception {
        byte[] fits = LayerFactory.randomLayer(dir, 1 << 20, 2);
        try (TestRegistry registry = start(direct)) {
            byte[] big = LayerFactory.randomLayer(dir, overshoot(), 1);
            HttpResponse<String> full = registry.send(registry.authed("/api/v1/layers/" + TestRegistry.sha256(big).hex(), registry.pushToken)
                    .PUT(unsized(big)).build());
            assertEquals(507, full.statusCode(), full.body());
            assertTrue(full.body().contains("\"INSUFFICIENT_STORAGE\""), full.body());
            assertEquals(List.of(), registry.layerFiles());
            assertEquals(List.of(), registry.uploadFiles(), "the partial upload is removed, so its space is back");

            assertEquals(201, registry.putLayer(fits).statusCode());
            HttpResponse<byte[]> back = registry.sendBytes(registry.request("/layers/" + TestRegistry.sha256(fits).hex() + ".qcow2").build());
            assertArrayEquals(fits, back.body());
        }
    }

    @ParameterizedTest(name = "direct writes: {0}")
    @ValueSource(booleans = {true, false})
    void a_resumable_upload_that_fills_the_disk_keeps_its_checkpoint_and_completes_once_space_is_back(boolean direct) throws Exception {
        byte[] layer = LayerFactory.randomLayer(dir, 30 << 20, 3);
        int first = 8 << 20;
        try (TestRegistry registry = start(direct)) {
            HttpResponse<String> started = registry.send(registry.authed("/api/v1/uploads", registry.pushToken)
                    .POST(HttpRequest.BodyPublishers.noBody()).build());
            assertEquals(202, started.statusCode(), started.body());
            String location = started.headers().firstValue("Location").orElseThrow();
            HttpResponse<String> chunk = registry.send(registry.authed(location, registry.pushToken)
                    .header("Content-Range", "bytes 0-" + (first - 1) + "/*")
                    .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(Arrays.copyOfRange(layer, 0, first))).build());
            assertEquals(202, chunk.statusCode(), chunk.body());

            // Fill the disk behind the registry's back, leaving room for all but the last ~2 MiB of the rest.
            Path filler = small.resolve("filler");
            Files.write(filler, new byte[(int) Math.max(0, Files.getFileStore(small).getUsableSpace() - (layer.length - first) + (2L << 20))]);

            HttpResponse<String> full = registry.send(registry.authed(location, registry.pushToken)
                    .method("PATCH", unsized(Arrays.copyOfRange(layer, first, layer.length))).build());
            assertEquals(507, full.statusCode(), full.body());
            long kept = Long.parseLong(full.headers().firstValue("Upload-Offset").orElseThrow());
            assertTrue(kept >= first && kept < layer.length, "kept " + kept);
            HttpResponse<String> status = registry.send(registry.authed(location, registry.pushToken).GET().build());
            assertEquals(200, status.statusCode(), status.body());
            assertEquals(kept, Long.parseLong(status.headers().firstValue("Upload-Offset").orElseThrow()),
                    "the offset answered with the 507 is the one the session holds");
            assertEquals(List.of(), registry.layerFiles());

            Files.delete(filler);
            HttpResponse<String> rest = registry.send(registry.authed(location, registry.pushToken)
                    .header("Content-Range", "bytes " + kept + "-" + (layer.length - 1) + "/*")
                    .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(Arrays.copyOfRange(layer, (int) kept, layer.length))).build());
            assertEquals(202, rest.statusCode(), rest.body());
            String digest = TestRegistry.sha256(layer).hex();
            HttpResponse<String> done = registry.send(registry.authed(location + "?digest=sha256:" + digest, registry.pushToken)
                    .PUT(HttpRequest.BodyPublishers.noBody()).build());
            assertEquals(201, done.statusCode(), done.body());
            assertArrayEquals(layer, registry.sendBytes(registry.request("/layers/" + digest + ".qcow2").build()).body());
            assertEquals(List.of(), registry.uploadFiles());
        }
    }
}
