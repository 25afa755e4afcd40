package io.strata.http.guard;

import io.strata.config.Limits;
import io.strata.config.ServerConfig;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.QemuImg;
import io.strata.testing.RawHttp;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Slow clients do not slow anyone else down, and do not stay: hundreds of connections trickling
 * their headers a byte a second, uploads trickling their bodies, and idle connections, while a
 * normal reader fetches the index and a layer. The bounds are correctness bounds (a reader is
 * not starved; timeouts fire), with short timeouts configured for the test.
 */
class SlowClientTest {
    static final int HEADER_TRICKLERS = 200;
    static final int BODY_TRICKLERS = 10;
    static final int IDLE = 10;
    static final Duration IDLE_TIMEOUT = Duration.ofSeconds(2);
    static final Duration HEADER_TIMEOUT = Duration.ofSeconds(3);
    static final Duration RATE_WINDOW = Duration.ofSeconds(2);
    static final long MIN_RATE = 16 * 1024;
    static final int FAST_PREFIX = 64 * 1024;

    @TempDir static Path dir;
    static TestRegistry registry;
    static Digest stored;
    static byte[] upload;

    @BeforeAll
    static void start() throws IOException {
        QemuImg.assumeAvailable();
        Limits limits = Limits.defaults().withTimeouts(IDLE_TIMEOUT, HEADER_TIMEOUT).withMinUploadRate(MIN_RATE, RATE_WINDOW);
        registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data")).withLimits(limits));
        LayerFactory layers = new LayerFactory(Files.createDirectories(dir.resolve("made")));
        stored = layers.base();
        layers.uploadTo(registry, stored);
        upload = LayerFactory.randomLayer(dir, 1 << 20, 11);
    }

    @AfterAll
    static void stop() {
        if (registry != null) registry.close();
    }

    @Test
    void trickling_headers_bodies_and_idle_connections_do_not_delay_a_reader_and_are_closed() throws Exception {
        URI base = registry.uri("/");
        byte[] head = ("GET /index.json HTTP/1.1\r\nHost: strata\r\nUser-Agent: slowloris\r\nX-Padding: " + "a".repeat(64) + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
        List<Socket> headerTricklers = new ArrayList<>();
        List<Socket> idle = new ArrayList<>();
        List<RawHttp> bodies = new ArrayList<>();
        List<String> locations = new ArrayList<>();
        ExecutorService threads = Executors.newCachedThreadPool();
        try {
            for (int i = 0; i < BODY_TRICKLERS; i++) {
                String location = startSession();
                locations.add(location);
                bodies.add(RawHttp.begin(base, "PATCH", location, Map.of("Authorization", "Bearer " + registry.pushToken,
                        "Content-Range", "bytes 0-" + (upload.length - 1) + "/*", "Content-Length", Integer.toString(upload.length)),
                        Arrays.copyOf(upload, FAST_PREFIX)));
            }
            List<Future<RawHttp.Reply>> replies = new ArrayList<>();
            for (RawHttp body : bodies) replies.add(threads.submit(body::reply));
            for (int i = 0; i < HEADER_TRICKLERS; i++) headerTricklers.add(new Socket(base.getHost(), base.getPort()));
            for (int i = 0; i < IDLE; i++) idle.add(new Socket(base.getHost(), base.getPort()));
            long started = System.nanoTime();

            // One thread trickles for everyone: a header byte per connection each second, a body byte per upload every 100 ms.
            Future<?> trickle = threads.submit(() -> {
                int tick = 0;
                while (!Thread.currentThread().isInterrupted()) {
                    for (int u = 0; u < bodies.size(); u++) {
                        try {
                            bodies.get(u).send(new byte[] {upload[FAST_PREFIX + tick]});
                        } catch (IOException e) {
                            // refused and closed: that upload is over
                        }
                    }
                    if (tick % 10 == 0) {
                        for (Socket socket : headerTricklers) {
                            try {
                                OutputStream out = socket.getOutputStream();
                                out.write(head[tick / 10 % head.length]);
                                out.flush();
                            } catch (IOException e) {
                                // closed by the server
                            }
                        }
                    }
                    tick++;
                    try {
                        Thread.sleep(100);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });

            // The normal reader, while the slow clients are at it.
            long worst = 0;
            int reads = 0;
            while (System.nanoTime() - started < HEADER_TIMEOUT.toNanos()) {
                worst = Math.max(worst, timed("/index.json", 200));
                worst = Math.max(worst, timed("/layers/" + stored.fileName(), 200));
                reads += 2;
            }
            System.out.println("slow clients: a normal reader's worst latency was " + worst + " ms over " + reads + " reads");
            assertTrue(reads >= 4, "the reader got through");
            assertTrue(worst < 1_000, "a normal reader waited at most " + worst + " ms (bound 1000 ms)");

            // Every trickled upload was refused as too slow, with what it kept.
            for (int u = 0; u < BODY_TRICKLERS; u++) {
                RawHttp.Reply reply = replies.get(u).get(10, TimeUnit.SECONDS);
                assertEquals(408, reply.status(), reply.head() + reply.bodyText());
                assertTrue(reply.bodyText().contains("\"code\":\"UPLOAD_TOO_SLOW\""), reply.bodyText());
                long kept = Long.parseLong(reply.header("Upload-Offset").orElseThrow());
                assertTrue(kept >= FAST_PREFIX, "the session kept the bytes that arrived: " + kept);
                assertEquals(kept, offset(locations.get(u)), "the session's offset is what the 408 reported");
            }

            // Still trickling (so the idle timeout cannot be what closes them), header tricklers die at the
            // header timeout, idle connections at the idle timeout, each plus a check interval.
            long deadline = started + HEADER_TIMEOUT.toNanos() + Duration.ofMillis(1500).toNanos();
            for (Socket socket : headerTricklers) assertClosedBy(socket, deadline, "a header trickler");
            for (Socket socket : idle) assertClosedBy(socket, deadline, "an idle connection");
            trickle.cancel(true);
        } finally {
            threads.shutdownNow();
            for (Socket socket : headerTricklers) socket.close();
            for (Socket socket : idle) socket.close();
            for (RawHttp body : bodies) body.close();
        }

        // A refused upload resumes from its offset and completes.
        String location = locations.get(0);
        long from = offset(location);
        HttpResponse<String> rest = registry.send(registry.authed(location, registry.pushToken)
                .header("Content-Range", "bytes " + from + "-" + (upload.length - 1) + "/*")
                .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(Arrays.copyOfRange(upload, (int) from, upload.length))).build());
        assertEquals(202, rest.statusCode(), rest.body());
        Digest digest = TestRegistry.sha256(upload);
        HttpResponse<String> finish = registry.send(registry.authed(location + "?digest=sha256:" + digest.hex(), registry.pushToken)
                .PUT(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(201, finish.statusCode(), finish.body());
        assertArrayEquals(upload, registry.sendBytes(registry.request("/layers/" + digest.fileName()).build()).body());
    }

    static long timed(String path, int status) {
        long start = System.nanoTime();
        HttpResponse<byte[]> response = registry.sendBytes(registry.request(path).build());
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(status, response.statusCode(), path);
        return millis;
    }

    static void assertClosedBy(Socket socket, long deadlineNanos, String what) throws IOException {
        int wait = (int) Math.max(1, (deadlineNanos - System.nanoTime()) / 1_000_000);
        socket.setSoTimeout(wait);
        try {
            while (socket.getInputStream().read() >= 0) {
                // bytes before the close are fine; the close is what counts
            }
        } catch (java.net.SocketTimeoutException e) {
            throw new AssertionError(what + " was still open past its timeout");
        } catch (java.net.SocketException e) {
            // reset by the server: closed
        }
    }

    static String startSession() {
        HttpResponse<String> response = registry.send(registry.authed("/api/v1/uploads", registry.pushToken)
                .POST(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(202, response.statusCode(), response.body());
        return response.headers().firstValue("Location").orElseThrow();
    }

    static long offset(String location) {
        HttpResponse<String> status = registry.send(registry.authed(location, registry.pushToken).GET().build());
        assertEquals(200, status.statusCode(), status.body());
        return Long.parseLong(status.headers().firstValue("Upload-Offset").orElseThrow());
    }
}
