package io.strata.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.config.DbConfig;
import io.strata.config.ServerConfig;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.Postgres;
import io.strata.testing.QemuImg;
import io.strata.testing.RawHttp;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link TwoReplicasContract} on one shared layer directory, plus what only a shared directory has. */
class TwoReplicasTest extends TwoReplicasContract {
    @Test
    void a_replica_killed_mid_upload_leaves_the_session_to_finish_on_another() throws Exception {
        byte[] bytes = LayerFactory.randomLayer(dir, 3 << 20, 12);
        Digest digest = TestRegistry.sha256(bytes);
        int half = 1 << 20;
        Process child = startReplicaProcess();
        try {
            URI base = listeningOn(child);
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> started = http.send(HttpRequest.newBuilder(base.resolve("/api/v1/uploads"))
                    .header("Authorization", "Bearer " + one.pushToken).POST(HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.ofString());
            String location = started.headers().firstValue("Location").orElseThrow();
            HttpResponse<String> first = http.send(HttpRequest.newBuilder(base.resolve(location)).header("Authorization", "Bearer " + one.pushToken)
                    .header("Content-Range", "bytes 0-" + (half - 1) + "/*")
                    .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(Arrays.copyOf(bytes, half))).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(202, first.statusCode(), first.body());
            // A second chunk half sent when the replica dies (SIGKILL: no shutdown hook, no cleanup).
            RawHttp cut = RawHttp.begin(base, "PATCH", location, Map.of("Authorization", "Bearer " + one.pushToken,
                    "Content-Length", Integer.toString(half), "Content-Range", "bytes " + half + "-" + (2 * half - 1) + "/*"),
                    Arrays.copyOfRange(bytes, half, half + half / 2));
            child.destroyForcibly();
            assertTrue(child.waitFor(20, java.util.concurrent.TimeUnit.SECONDS));
            cut.close();

            HttpResponse<String> status = two.send(two.authed(location, one.pushToken).GET().build());
            long offset = Long.parseLong(status.headers().firstValue("Upload-Offset").orElseThrow());
            assertEquals(half, offset, "what the dead replica had made durable");
            HttpResponse<String> done = two.send(two.authed(location + "?digest=sha256:" + digest.hex(), one.pushToken)
                    .PUT(HttpRequest.BodyPublishers.ofByteArray(Arrays.copyOfRange(bytes, (int) offset, bytes.length))).build());
            assertEquals(201, done.statusCode(), done.body());
            assertArrayEquals(bytes, one.sendBytes(one.request("/layers/" + digest.fileName()).build()).body());
        } finally {
            child.destroyForcibly();
        }
    }

    /** A third replica in its own JVM, so it can be killed with SIGKILL. */
    private Process startReplicaProcess() throws java.io.IOException {
        List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx64m",
                "-cp", System.getProperty("java.class.path"), "io.strata.cli.Main",
                "serve", "--data", dir.resolve("store").toString(), "--port", "0", "--db", database);
        return new ProcessBuilder(command).redirectErrorStream(true).start();
    }

    private static URI listeningOn(Process process) throws java.io.IOException {
        java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(process.getInputStream(),
                java.nio.charset.StandardCharsets.UTF_8));
        java.util.regex.Pattern listening = java.util.regex.Pattern.compile("strata listening on (http://\\S+)");
        for (String line; (line = out.readLine()) != null; ) {
            java.util.regex.Matcher m = listening.matcher(line);
            if (m.find()) {
                Thread drain = new Thread(() -> {
                    try {
                        out.transferTo(java.io.Writer.nullWriter());
                    } catch (java.io.IOException ignored) {
                        // the process is gone
                    }
                });
                drain.setDaemon(true);
                drain.start();
                return URI.create(m.group(1));
            }
        }
        throw new java.io.IOException("the replica process did not start");
    }


    @Test
    void expiry_removes_what_a_dead_replica_left_in_the_shared_upload_area_and_nothing_in_use() throws Exception {
        Path uploads = dir.resolve("store").resolve("uploads");
        Path abandoned = Files.write(uploads.resolve("put-123.part"), new byte[] {1});
        Files.setLastModifiedTime(abandoned, java.nio.file.attribute.FileTime.from(java.time.Instant.now().minus(java.time.Duration.ofDays(2))));
        Path fresh = Files.write(uploads.resolve("put-456.part"), new byte[] {2});
        String location = two.send(two.authed("/api/v1/uploads", two.pushToken).POST(HttpRequest.BodyPublishers.noBody()).build())
                .headers().firstValue("Location").orElseThrow();
        Path session = uploads.resolve("session-" + location.substring(location.lastIndexOf('/') + 1) + ".part");
        Files.setLastModifiedTime(session, java.nio.file.attribute.FileTime.from(java.time.Instant.now().minus(java.time.Duration.ofDays(2))));

        one.server().services().uploads().expire();
        assertFalse(Files.exists(abandoned), "an old file no session owns is removed");
        assertTrue(Files.exists(fresh), "a file another replica may be writing stays");
        assertTrue(Files.exists(session), "a live session's file stays (its row says when it was last used)");
    }


    @Test
    void a_replica_started_on_the_wrong_store_directory_refuses_instead_of_dropping_every_row() throws Exception {
        layers.uploadTo(one, layers.base());
        ServerConfig wrong = ServerConfig.defaults(dir.resolve("not-the-share")).withDb(DbConfig.parse(database, Map.of()));
        java.io.IOException e = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class, () -> TestRegistry.start(wrong));
        assertTrue(e.getMessage().contains("holds only 0 of the 1 layers"), e.getMessage());
        assertEquals(1, (int) one.server().services().database().jdbi().withHandle(h ->
                h.createQuery("SELECT count(*) FROM layers").mapTo(Integer.class).one()), "nothing was dropped");
    }
}
