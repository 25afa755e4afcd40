package io.strata.layer;

import io.strata.testing.LayerFactory;
import io.strata.testing.QemuImg;
import io.strata.testing.RawHttp;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** DESIGN §7: a crash at any moment leaves the store consistent; startup recovery tidies what it left. */
class CrashRecoveryTest {
    @TempDir Path dir;

    /** The real server in its own JVM, so it can be killed with SIGKILL. */
    static final class ServerProcess implements AutoCloseable {
        final Process process;
        final URI base;

        ServerProcess(Path data) throws IOException {
            List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx64m", "-cp", System.getProperty("java.class.path"), "io.strata.cli.Main",
                    "serve", "--data", data.toString(), "--port", "0"));
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
            BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            Pattern listening = Pattern.compile("strata listening on (http://\\S+)");
            URI found = null;
            for (String line; found == null && (line = out.readLine()) != null; ) {
                Matcher m = listening.matcher(line);
                if (m.find()) found = URI.create(m.group(1));
            }
            if (found == null) throw new IOException("the server did not start");
            base = found;
            Thread drain = new Thread(() -> { try { out.transferTo(java.io.Writer.nullWriter()); } catch (IOException ignored) { } });
            drain.setDaemon(true);
            drain.start();
        }

        void kill() throws InterruptedException {
            process.destroyForcibly(); // SIGKILL on Linux: no shutdown hooks, no cleanup
            assertTrue(process.waitFor(20, TimeUnit.SECONDS));
        }

        @Override
        public void close() throws InterruptedException { kill(); }
    }

    @Test
    void sigkill_in_the_middle_of_uploads_leaves_no_visible_layer_and_no_leftovers_after_restart() throws Exception {
        QemuImg.assumeAvailable();
        Path data = dir.resolve("data");
        byte[] layer = bigLayer();
        Digest digest = TestRegistry.sha256(layer);
        String token;
        try (TestRegistry setup = TestRegistry.start(data)) {
            token = setup.pushToken;
        }

        ServerProcess server = new ServerProcess(data);
        // A monolithic upload and a resumable chunk, both half sent when the server dies.
        RawHttp monolithic = RawHttp.begin(server.base, "PUT", "/api/v1/layers/" + digest.hex(),
                Map.of("Authorization", "Bearer " + token, "Content-Length", Integer.toString(layer.length)),
                java.util.Arrays.copyOf(layer, layer.length / 2));
        HttpResponse<String> started = java.net.http.HttpClient.newHttpClient().send(
                java.net.http.HttpRequest.newBuilder(server.base.resolve("/api/v1/uploads")).header("Authorization", "Bearer " + token)
                        .POST(java.net.http.HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        String location = started.headers().firstValue("Location").orElseThrow();
        RawHttp chunk = RawHttp.begin(server.base, "PATCH", location,
                Map.of("Authorization", "Bearer " + token, "Content-Length", Integer.toString(layer.length)),
                java.util.Arrays.copyOf(layer, layer.length / 3));
        Thread.sleep(500);
        server.kill();
        monolithic.close();
        chunk.close();

        try (TestRegistry restarted = TestRegistry.start(data)) {
            assertEquals(404, restarted.send(restarted.request("/layers/" + digest.fileName()).build()).statusCode());
            assertEquals(List.of(), restarted.layerFiles(), "no layer file");
            // The session survives a crash; its file holds exactly what its row says arrived.
            List<Path> uploads = restarted.uploadFiles();
            assertTrue(uploads.size() <= 1, uploads.toString());
            // A session belongs to the token that started it: continue with that one.
            HttpResponse<String> status = restarted.send(restarted.authed(location, token).GET().build());
            assertEquals(200, status.statusCode());
            long received = Long.parseLong(status.headers().firstValue("Upload-Offset").orElseThrow());
            if (!uploads.isEmpty()) assertEquals(received, Files.size(uploads.get(0)));
            // ...and it can be finished after the restart.
            HttpResponse<String> rest = restarted.send(restarted.authed(location, token)
                    .method("PATCH", java.net.http.HttpRequest.BodyPublishers.ofByteArray(java.util.Arrays.copyOfRange(layer, (int) received, layer.length)))
                    .build());
            assertEquals(202, rest.statusCode(), rest.body());
            HttpResponse<String> done = restarted.send(restarted.authed(location + "?digest=sha256:" + digest.hex(), token)
                    .PUT(java.net.http.HttpRequest.BodyPublishers.noBody()).build());
            assertEquals(201, done.statusCode(), done.body());
            assertArrayEquals(layer, restarted.sendBytes(restarted.request("/layers/" + digest.fileName()).build()).body());
            assertEquals(List.of(), restarted.uploadFiles());
        }
    }

    @Test
    void a_layer_file_committed_just_before_a_crash_is_registered_at_startup() throws Exception {
        QemuImg.assumeAvailable();
        Path data = dir.resolve("data");
        byte[] layer = bigLayer();
        Digest digest = TestRegistry.sha256(layer);
        try (TestRegistry registry = TestRegistry.start(data)) {
            assertEquals(201, registry.putLayer(layer).statusCode());
        }
        // Simulate the crash window between the rename and the row: the row is lost, the file is there.
        io.strata.db.Database.open(data.resolve("strata.db")).jdbi().useHandle(h -> h.execute("DELETE FROM layers"));
        // And a file that does not match its name (a torn or tampered write) must not be served.
        Path bogus = data.resolve("layers").resolve("ab").resolve("ab".repeat(32) + ".qcow2");
        Files.createDirectories(bogus.getParent());
        Files.write(bogus, layer);

        try (TestRegistry restarted = TestRegistry.start(data)) {
            assertArrayEquals(layer, restarted.sendBytes(restarted.request("/layers/" + digest.fileName()).build()).body());
            assertEquals(404, restarted.send(restarted.request("/layers/" + "ab".repeat(32) + ".qcow2").build()).statusCode());
            assertTrue(Files.notExists(bogus));
        }
    }

    @Test
    void a_row_whose_file_vanished_is_dropped_at_startup() throws Exception {
        QemuImg.assumeAvailable();
        Path data = dir.resolve("data");
        byte[] layer = bigLayer();
        Digest digest = TestRegistry.sha256(layer);
        try (TestRegistry registry = TestRegistry.start(data)) {
            assertEquals(201, registry.putLayer(layer).statusCode());
            Files.delete(registry.layerFiles().get(0));
        }
        try (TestRegistry restarted = TestRegistry.start(data)) {
            assertEquals(404, restarted.send(restarted.request("/layers/" + digest.fileName()).build()).statusCode());
            assertTrue(restarted.server().services().layers().find(digest).isEmpty());
            assertEquals(201, restarted.putLayer(layer).statusCode(), "and it can be uploaded again");
        }
    }

    @Test
    void a_second_server_on_the_same_data_directory_is_refused_and_a_killed_one_leaves_no_stale_lock() throws Exception {
        Path data = dir.resolve("data");
        try (TestRegistry first = TestRegistry.start(data)) {
            java.io.IOException refused = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class, () -> TestRegistry.start(data));
            assertTrue(refused.getMessage().contains("another strata server"), refused.getMessage());
        }
        ServerProcess killed = new ServerProcess(data);
        killed.kill();
        try (TestRegistry after = TestRegistry.start(data)) {
            assertEquals(200, after.send(after.request("/healthz").build()).statusCode());
        }
    }

    /** A real qcow2 with 24 MiB of random data: big enough that an upload is still in flight when killed. */
    private byte[] bigLayer() throws IOException {
        return LayerFactory.randomLayer(dir, 24 << 20, System.nanoTime());
    }
}
