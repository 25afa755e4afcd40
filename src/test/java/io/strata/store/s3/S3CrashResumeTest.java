package io.strata.store.s3;

import io.strata.config.ServerConfig;
import io.strata.config.StoreConfig;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.RawHttp;
import io.strata.testing.S3TestBucket;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A server process killed mid-upload to S3: the session goes on in another server process sharing
 * the database file and the bucket (SQLite takes one process at a time, so the second starts after
 * the first died) with nothing lost, and expiry leaves no multipart upload and no pending object.
 */
class S3CrashResumeTest {
    @TempDir Path dir;

    /** {@code strata serve} in a child JVM (-Xmx64m) on the S3 store, killed with SIGKILL. */
    static final class ServerProcess implements AutoCloseable {
        final Process process;
        final URI base;

        ServerProcess(Path data, StoreConfig store, S3TestBucket bucket) throws IOException {
            StoreConfig.S3Location location = store.s3().orElseThrow();
            List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx64m", "--add-opens", "java.base/sun.security.provider=ALL-UNNAMED",
                    "--add-opens", "java.base/java.security=ALL-UNNAMED",
                    "-cp", System.getProperty("java.class.path"), "io.strata.cli.Main",
                    "serve", "--data", data.toString(), "--port", "0",
                    "--store", "s3://" + location.bucket() + "/" + location.prefix(), "--s3-endpoint", bucket.endpoint.toString()));
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
            BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            Pattern listening = Pattern.compile("strata listening on (http://\\S+)");
            URI found = null;
            StringBuilder log = new StringBuilder();
            for (String line; found == null && (line = out.readLine()) != null; ) {
                log.append(line).append('\n');
                Matcher m = listening.matcher(line);
                if (m.find()) found = URI.create(m.group(1));
            }
            if (found == null) throw new IOException("the server did not start:\n" + log);
            base = found;
            Thread drain = new Thread(() -> { try { out.transferTo(java.io.Writer.nullWriter()); } catch (IOException ignored) { } });
            drain.setDaemon(true);
            drain.start();
        }

        void kill() throws InterruptedException {
            process.destroyForcibly(); // SIGKILL: no shutdown hooks, no cleanup
            assertTrue(process.waitFor(20, TimeUnit.SECONDS));
        }

        @Override
        public void close() throws InterruptedException { kill(); }
    }

    @Test
    void a_session_cut_by_a_killed_server_resumes_on_another_process_and_expiry_leaves_no_multipart_upload() throws Exception {
        try (S3TestBucket bucket = S3TestBucket.create()) {
            byte[] layer = LayerFactory.randomLayer(dir, 20 << 20, 7);
            Digest digest = TestRegistry.sha256(layer);
            Path data = dir.resolve("data");
            StoreConfig store = bucket.store("crash/");
            ServerConfig config = ServerConfig.defaults(data).withStore(store);
            String token;
            try (TestRegistry setup = TestRegistry.start(config)) {
                token = setup.pushToken;
            }
            HttpClient http = HttpClient.newHttpClient();

            String location;
            int firstChunk = 9 << 20; // one 8 MiB part and a pending piece
            try (ServerProcess first = new ServerProcess(data, store, bucket)) {
                HttpResponse<String> started = http.send(HttpRequest.newBuilder(first.base.resolve("/api/v1/uploads"))
                        .header("Authorization", "Bearer " + token).POST(HttpRequest.BodyPublishers.noBody()).build(),
                        HttpResponse.BodyHandlers.ofString());
                location = started.headers().firstValue("Location").orElseThrow();
                HttpResponse<String> chunk = http.send(HttpRequest.newBuilder(first.base.resolve(location))
                        .header("Authorization", "Bearer " + token)
                        .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(Arrays.copyOf(layer, firstChunk))).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(202, chunk.statusCode(), chunk.body());
                // A second chunk and a monolithic upload are half sent when the server dies.
                RawHttp.begin(first.base, "PATCH", location, Map.of("Authorization", "Bearer " + token,
                        "Content-Length", Integer.toString(layer.length - firstChunk)), Arrays.copyOfRange(layer, firstChunk, firstChunk + (6 << 20)));
                RawHttp.begin(first.base, "PUT", "/api/v1/layers/" + digest.hex(), Map.of("Authorization", "Bearer " + token,
                        "Content-Length", Integer.toString(layer.length)), Arrays.copyOf(layer, 12 << 20));
                Thread.sleep(1000);
            }

            try (ServerProcess second = new ServerProcess(data, store, bucket)) {
                HttpResponse<String> status = http.send(HttpRequest.newBuilder(second.base.resolve(location))
                        .header("Authorization", "Bearer " + token).GET().build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, status.statusCode(), status.body());
                long received = Long.parseLong(status.headers().firstValue("Upload-Offset").orElseThrow());
                assertTrue(received >= firstChunk, "the first chunk survived: " + received);
                HttpResponse<String> rest = http.send(HttpRequest.newBuilder(second.base.resolve(location))
                        .header("Authorization", "Bearer " + token).method("PATCH",
                                HttpRequest.BodyPublishers.ofByteArray(Arrays.copyOfRange(layer, (int) received, layer.length))).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(202, rest.statusCode(), rest.body());
                HttpResponse<String> done = http.send(HttpRequest.newBuilder(second.base.resolve(location + "?digest=sha256:" + digest.hex()))
                        .header("Authorization", "Bearer " + token).PUT(HttpRequest.BodyPublishers.noBody()).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(201, done.statusCode(), done.body());
                HttpResponse<byte[]> served = http.send(HttpRequest.newBuilder(second.base.resolve("/layers/" + digest.fileName())).build(),
                        HttpResponse.BodyHandlers.ofByteArray());
                assertEquals(200, served.statusCode());
                assertArrayEquals(layer, served.body(), "nothing lost across the crash");
            }

            // The killed monolithic upload left a multipart upload no session owns: expiry removes it.
            assertTrue(!bucket.multipartUploads("crash/").isEmpty(), "the killed PUT's multipart upload is there before expiry");
            try (TestRegistry expiring = TestRegistry.start(config.withUploadExpiry(Duration.ofSeconds(1)))) {
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while ((!bucket.multipartUploads("crash/").isEmpty() || !bucket.keys("crash/uploads/").isEmpty())
                        && System.nanoTime() < deadline) {
                    Thread.sleep(250);
                }
                assertEquals(List.of(), bucket.multipartUploads("crash/"), "no multipart upload left");
                assertEquals(List.of(), bucket.keys("crash/uploads/"), "no pending object left");
                assertEquals(1, bucket.keys("crash/blobs/").size(), "exactly the layer's object: " + bucket.keys("crash/blobs/"));
                HttpResponse<byte[]> served = expiring.sendBytes(expiring.request("/layers/" + digest.fileName()).build());
                assertArrayEquals(layer, served.body());
            }
        }
    }
}
