package io.strata.upload;

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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The resumable flow of DESIGN §6: POST, PATCH with Content-Range, GET the offset, PUT ?digest=, DELETE, expiry. */
class ResumableUploadTest {
    @TempDir static Path dir;
    static TestRegistry registry;
    static byte[] layer;
    static Digest digest;
    static final long LIMIT = 64L << 20;

    @BeforeAll
    static void start() throws IOException {
        QemuImg.assumeAvailable();
        registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data")).withMaxLayerBytes(LIMIT));
        layer = LayerFactory.randomLayer(dir, 3 << 20, 7);
        digest = TestRegistry.sha256(layer);
    }

    @AfterAll
    static void stop() {
        if (registry != null) registry.close();
    }

    String startUpload() {
        HttpResponse<String> response = registry.send(registry.authed("/api/v1/uploads", registry.pushToken)
                .POST(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(202, response.statusCode(), response.body());
        assertEquals("0", response.headers().firstValue("Upload-Offset").orElse(null));
        return response.headers().firstValue("Location").orElseThrow();
    }

    HttpResponse<String> patch(String location, String contentRange, byte[] bytes) {
        HttpRequest.Builder request = registry.authed(location, registry.pushToken)
                .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(bytes));
        if (contentRange != null) request.header("Content-Range", contentRange);
        return registry.send(request.build());
    }

    long offset(String location) {
        HttpResponse<String> status = registry.send(registry.authed(location, registry.pushToken).GET().build());
        assertEquals(200, status.statusCode(), status.body());
        return Long.parseLong(status.headers().firstValue("Upload-Offset").orElseThrow());
    }

    HttpResponse<String> finish(String location, Digest claimed, byte[] lastChunk) {
        return registry.send(registry.authed(location + "?digest=sha256:" + claimed.hex(), registry.pushToken)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(lastChunk)).build());
    }

    /** The session's bytes on disk; the tests share one registry, so they look at their own session only. */
    static Path sessionFile(String location) {
        return registry.dataDir().resolve("uploads").resolve("session-" + location.substring(location.lastIndexOf('/') + 1) + ".part");
    }

    /** The session's bytes are gone from the store: its file, or its pending objects and multipart upload. */
    static void assertNoSessionBytes(String location) throws IOException {
        String id = location.substring(location.lastIndexOf('/') + 1);
        assertTrue(Files.notExists(sessionFile(location)));
        assertEquals(List.of(), registry.uploadFiles().stream().filter(p -> p.toString().contains(id)).toList());
    }

    static byte[] slice(long from, long to) { return Arrays.copyOfRange(layer, (int) from, (int) to); }

    @Test
    void a_layer_uploaded_in_chunks_is_stored_byte_for_byte() throws IOException {
        String location = startUpload();
        int a = 1 << 20, b = 2 << 20;
        HttpResponse<String> first = patch(location, "bytes 0-" + (a - 1) + "/*", slice(0, a));
        assertEquals(202, first.statusCode(), first.body());
        assertEquals("0-" + (a - 1), first.headers().firstValue("Range").orElse(null));
        assertEquals(a, offset(location));
        assertEquals(202, patch(location, "bytes " + a + "-" + (b - 1) + "/*", slice(a, b)).statusCode());
        HttpResponse<String> done = finish(location, digest, slice(b, layer.length));
        assertTrue(done.statusCode() == 201 || done.statusCode() == 200, done.body());
        assertArrayEquals(layer, registry.sendBytes(registry.request("/layers/" + digest.fileName()).build()).body());
        assertEquals(404, registry.send(registry.authed(location, registry.pushToken).GET().build()).statusCode(), "session is over");
        assertNoSessionBytes(location);
    }

    @ParameterizedTest(name = "[{index}] Content-Range {0} -> {1}")
    @CsvSource(delimiter = '|', value = {
            "bytes {a+10}-{a+20}/*      | 416 | RANGE_INVALID",    // a gap
            "bytes {a-10}-{a+20}/*      | 416 | RANGE_INVALID",    // an overlap
            "bytes 0-99/*               | 416 | RANGE_INVALID",    // starting over without a new session
            "bytes -5-10/*              | 416 | RANGE_INVALID",    // negative
            "bytes=5-10                 | 416 | RANGE_INVALID",    // not the header's syntax
            "bytes {a}-{a-5}/*          | 416 | RANGE_INVALID",    // ends before it starts
            "bytes {a}-99999999999999/* | 413 | LAYER_TOO_LARGE",  // beyond the size limit
            "bytes {a}-99999999999999999999/* | 416 | RANGE_INVALID", // overflows any number
            "bytes {a}-{a+99}/*         | 400 | UPLOAD_INVALID",   // claims 100 bytes, body has 4096
    })
    void content_range_abuse_is_refused_and_the_session_stays_usable(String rangeTemplate, int status, String code) {
        String location = startUpload();
        int a = 65536;
        assertEquals(202, patch(location, "bytes 0-" + (a - 1) + "/*", slice(0, a)).statusCode());
        String range = rangeTemplate.replace("{a+10}", Integer.toString(a + 10)).replace("{a+20}", Integer.toString(a + 20))
                .replace("{a-10}", Integer.toString(a - 10)).replace("{a-5}", Integer.toString(a - 5))
                .replace("{a+99}", Integer.toString(a + 99)).replace("{a}", Integer.toString(a));

        HttpResponse<String> response = patch(location, range, slice(a, a + 4096));

        assertEquals(status, response.statusCode(), response.body());
        assertTrue(response.body().contains("\"code\":\"" + code + "\""), response.body());
        if (status == 416) assertEquals(Integer.toString(a), response.headers().firstValue("Upload-Offset").orElse(null));
        long now = offset(location);
        assertTrue(now == a || code.equals("UPLOAD_INVALID"), "a refused chunk adds nothing: " + now);
        HttpResponse<String> rest = patch(location, "bytes " + now + "-" + (layer.length - 1) + "/*", slice(now, layer.length));
        assertEquals(202, rest.statusCode(), rest.body());
        HttpResponse<String> done = finish(location, digest, new byte[0]);
        assertTrue(done.statusCode() == 201 || done.statusCode() == 200, done.body());
    }

    @Test
    void a_chunk_cut_off_mid_body_keeps_what_arrived_and_the_upload_resumes_from_there() throws Exception {
        String location = startUpload();
        int declared = 2 << 20, sent = 700_000;
        try (RawHttp raw = RawHttp.begin(registry.uri("/"), "PATCH", location,
                Map.of("Authorization", "Bearer " + registry.pushToken, "Content-Length", Integer.toString(declared),
                        "Content-Range", "bytes 0-" + (declared - 1) + "/*"), slice(0, sent))) {
            Thread.sleep(300);
            raw.cut();
        }
        long received = 0;
        for (int i = 0; i < 50 && received == 0; i++) {
            Thread.sleep(100);
            try {
                received = offset(location);
            } catch (AssertionError busy) {
                // the server may still be finishing the cut request
            }
        }
        assertTrue(received > 0 && received <= sent, "kept " + received + " of " + sent);
        HttpResponse<String> rest = patch(location, "bytes " + received + "-" + (layer.length - 1) + "/*", slice(received, layer.length));
        assertEquals(202, rest.statusCode(), rest.body());
        HttpResponse<String> done = finish(location, digest, new byte[0]);
        assertTrue(done.statusCode() == 201 || done.statusCode() == 200, done.body());
        assertArrayEquals(layer, registry.sendBytes(registry.request("/layers/" + digest.fileName()).build()).body());
    }

    @Test
    void a_short_chunk_whose_bytes_cannot_be_kept_tells_the_client_the_offset_the_upload_really_has() throws Exception {
        // A body shorter than its Content-Range is refused, and what did arrive is normally kept as a checkpoint
        // (detail.received says how far). Here the checkpoint cannot be written (the row went away mid-chunk), so
        // the answer must give the offset the upload stays at, not the one it would have reached.
        String location = startUpload();
        String id = location.substring(location.lastIndexOf('/') + 1);
        int declared = 2 << 20, sent = 700_000;
        byte[] firstPiece = slice(0, sent);
        byte[] chunkHead = (Integer.toHexString(sent) + "\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        byte[] start = new byte[chunkHead.length + sent + 2];
        System.arraycopy(chunkHead, 0, start, 0, chunkHead.length);
        System.arraycopy(firstPiece, 0, start, chunkHead.length, sent);
        start[start.length - 2] = '\r';
        start[start.length - 1] = '\n';
        try (RawHttp raw = RawHttp.begin(registry.uri("/"), "PATCH", location,
                Map.of("Authorization", "Bearer " + registry.pushToken, "Transfer-Encoding", "chunked",
                        "Content-Range", "bytes 0-" + (declared - 1) + "/*"), start)) {
            Thread.sleep(300);
            registry.server().services().database().jdbi().useHandle(h -> h.createUpdate("DELETE FROM uploads WHERE id = :id")
                    .bind("id", id).execute());
            raw.send("0\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            RawHttp.Reply reply = raw.reply();
            assertEquals(400, reply.status(), reply.head() + reply.bodyText());
            com.fasterxml.jackson.databind.JsonNode error = new com.fasterxml.jackson.databind.ObjectMapper().readTree(reply.body())
                    .path("errors").path(0);
            assertEquals("UPLOAD_INVALID", error.path("code").asText(), reply.bodyText());
            assertEquals(0, error.path("detail").path("received").asLong(-1), "the last checkpoint, not the " + sent + " bytes that arrived: "
                    + reply.bodyText());
            assertTrue(error.path("message").asText().contains("could not keep them, so the upload stays at 0 bytes"), reply.bodyText());
        }
    }

    @Test
    void a_checkpoint_the_database_lost_sends_the_client_back_to_the_one_before_and_the_upload_still_completes() throws Exception {
        // Checkpoints commit without waiting for the disk (Database#checkpointSource): power loss may take the last one back.
        String location = startUpload();
        String id = location.substring(location.lastIndexOf('/') + 1);
        int a = 1 << 20, b = 2 << 20;
        assertEquals(202, patch(location, "bytes 0-" + (a - 1) + "/*", slice(0, a)).statusCode());
        Map<String, Object> kept = checkpoint(id);
        assertEquals(202, patch(location, "bytes " + a + "-" + (b - 1) + "/*", slice(a, b)).statusCode());
        registry.server().services().database().jdbi().useHandle(h -> h.createUpdate(
                        "UPDATE uploads SET received = :received, hash_state = :hash, store_state = :store WHERE id = :id")
                .bind("received", ((Number) kept.get("received")).longValue()).bind("hash", (String) kept.get("hash_state"))
                .bind("store", (String) kept.get("store_state")).bind("id", id).execute());
        registry.restart();

        assertEquals(a, offset(location), "back at the checkpoint the database kept");
        HttpResponse<String> ahead = patch(location, "bytes " + b + "-" + (layer.length - 1) + "/*", slice(b, layer.length));
        assertEquals(416, ahead.statusCode(), "the client's next chunk no longer fits: " + ahead.body());
        assertEquals(String.valueOf(a - 1), ahead.headers().firstValue("Range").orElse("").replace("0-", ""), "and it is told where to go on");
        assertEquals(202, patch(location, "bytes " + a + "-" + (layer.length - 1) + "/*", slice(a, layer.length)).statusCode());
        HttpResponse<String> done = finish(location, digest, new byte[0]);
        assertTrue(done.statusCode() == 201 || done.statusCode() == 200, done.body());
        assertArrayEquals(layer, registry.sendBytes(registry.request("/layers/" + digest.fileName()).build()).body());
    }

    @Test
    void a_chunk_answered_while_its_hash_still_runs_gets_its_hash_state_recorded_after() throws Exception {
        // With one process on the database a chunk's 202 need not wait for its hash (HashLane); the row catches
        // up. A large chunk, so that its hash usually is still running when the answer goes out.
        byte[] big = LayerFactory.randomLayer(dir, 40 << 20, 9);
        Digest bigDigest = TestRegistry.sha256(big);
        String location = startUpload();
        String id = location.substring(location.lastIndexOf('/') + 1);
        int a = big.length - (1 << 20);
        assertEquals(202, patch(location, "bytes 0-" + (a - 1) + "/*", Arrays.copyOfRange(big, 0, a)).statusCode());
        Map<String, Object> row = checkpoint(id);
        for (int i = 0; i < 100 && row.get("hash_state") == null; i++) {
            Thread.sleep(50);
            row = checkpoint(id);
        }
        assertEquals(a, ((Number) row.get("received")).longValue());
        java.security.MessageDigest restored = io.strata.layer.Sha256State.restore((String) row.get("hash_state")).orElseThrow(
                () -> new AssertionError("no hash state recorded for the chunk: " + checkpoint(id)));
        restored.update(big, a, big.length - a);
        assertEquals(bigDigest, Digest.of(restored.digest()), "the recorded state is the hash of exactly the bytes the row counts");
        assertEquals(202, patch(location, "bytes " + a + "-" + (big.length - 1) + "/*", Arrays.copyOfRange(big, a, big.length)).statusCode());
        HttpResponse<String> done = finish(location, bigDigest, new byte[0]);
        assertEquals(201, done.statusCode(), done.body());
    }

    @Test
    void a_restart_before_a_chunk_s_hash_state_is_recorded_hashes_the_bytes_again_and_the_upload_completes() throws Exception {
        // What a crash between a chunk's 202 and the recording of its hash state leaves: a checkpoint without a state.
        String location = startUpload();
        String id = location.substring(location.lastIndexOf('/') + 1);
        int a = 2 << 20;
        assertEquals(202, patch(location, "bytes 0-" + (a - 1) + "/*", slice(0, a)).statusCode());
        if (registry.onS3()) {
            // An object store cannot read an unfinished upload back, so its chunks' answers wait for the hash state.
            assertTrue(checkpoint(id).get("hash_state") != null, "recorded before the answer: " + checkpoint(id));
            return;
        }
        Thread.sleep(200); // let a late recording land first, so that it cannot undo the NULL below
        registry.server().services().database().jdbi().useHandle(h -> h.createUpdate(
                "UPDATE uploads SET hash_state = NULL WHERE id = :id").bind("id", id).execute());
        registry.restart();

        assertEquals(a, offset(location));
        assertEquals(202, patch(location, "bytes " + a + "-" + (layer.length - 1) + "/*", slice(a, layer.length)).statusCode());
        HttpResponse<String> done = finish(location, digest, new byte[0]);
        assertTrue(done.statusCode() == 201 || done.statusCode() == 200, done.body());
        assertArrayEquals(layer, registry.sendBytes(registry.request("/layers/" + digest.fileName()).build()).body());
    }

    /** The session's row as the database has it now. */
    private static Map<String, Object> checkpoint(String id) {
        return registry.server().services().database().jdbi().withHandle(h -> h.createQuery(
                "SELECT received, hash_state, store_state FROM uploads WHERE id = :id").bind("id", id).mapToMap().one());
    }

    @Test
    void a_second_writer_is_refused_while_a_chunk_is_in_flight() throws Exception {
        String location = startUpload();
        try (RawHttp slow = RawHttp.begin(registry.uri("/"), "PATCH", location,
                Map.of("Authorization", "Bearer " + registry.pushToken, "Content-Length", Integer.toString(layer.length)), slice(0, 1000))) {
            Thread.sleep(300);
            HttpResponse<String> second = patch(location, null, slice(0, 100));
            assertEquals(409, second.statusCode(), second.body());
            slow.send(slice(1000, layer.length));
            assertTrue(slow.responseHead().startsWith("HTTP/1.1 202"));
        }
        assertEquals(layer.length, offset(location));
    }

    @Test
    void a_wrong_final_digest_is_refused_and_stores_nothing() throws IOException {
        String location = startUpload();
        assertEquals(202, patch(location, null, layer).statusCode());
        Digest wrong = new Digest("cd".repeat(32));
        HttpResponse<String> done = finish(location, wrong, new byte[0]);
        assertEquals(400, done.statusCode());
        assertTrue(done.body().contains("DIGEST_INVALID"));
        assertEquals(404, registry.send(registry.request("/layers/" + wrong.fileName()).build()).statusCode());
        assertNoSessionBytes(location);
    }

    @Test
    void a_bad_header_is_refused_at_the_first_chunk() throws IOException {
        String location = startUpload();
        byte[] garbage = new byte[8192];
        new Random(1).nextBytes(garbage);
        HttpResponse<String> response = patch(location, "bytes 0-8191/*", garbage);
        assertEquals(400, response.statusCode());
        assertTrue(response.body().contains("\"check\":\"magic\""), response.body());
        assertEquals(404, registry.send(registry.authed(location, registry.pushToken).GET().build()).statusCode());
        assertNoSessionBytes(location);
    }

    @Test
    void a_file_whose_data_lies_past_its_end_is_refused_at_the_finish_and_the_session_is_gone() throws IOException {
        io.strata.testing.HostileCorpus.HostileFile cut = io.strata.testing.HostileCorpus.files().stream()
                .filter(file -> file.name().equals("l2-data-past-end.qcow2")).findFirst().orElseThrow();
        String location = startUpload();
        assertEquals(202, patch(location, null, cut.bytes()).statusCode(), "a valid header passes the first step");

        HttpResponse<String> done = finish(location, TestRegistry.sha256(cut.bytes()), new byte[0]);

        assertEquals(400, done.statusCode(), done.body());
        assertTrue(done.body().contains("\"check\":\"l2_entry\""), done.body());
        assertEquals(404, registry.send(registry.authed(location, registry.pushToken).GET().build()).statusCode());
        assertTrue(Files.notExists(sessionFile(location)));
        assertEquals(404, registry.send(registry.request("/layers/" + TestRegistry.sha256(cut.bytes()).fileName()).build()).statusCode());
    }

    @Test
    void cancelling_removes_the_session_and_its_bytes() throws IOException {
        String location = startUpload();
        assertEquals(202, patch(location, null, slice(0, 10_000)).statusCode());
        if (!registry.onS3()) assertEquals(10_000, Files.size(sessionFile(location)));
        HttpResponse<String> cancel = registry.send(registry.authed(location, registry.pushToken).DELETE().build());
        assertEquals(204, cancel.statusCode());
        assertEquals(404, registry.send(registry.authed(location, registry.pushToken).GET().build()).statusCode());
        assertNoSessionBytes(location);
    }

    @Test
    void unknown_and_malformed_session_ids_answer_404() {
        for (String id : List.of("0123456789abcdef0123456789abcdef", "x")) {
            HttpResponse<String> response = registry.send(registry.authed("/api/v1/uploads/" + id, registry.pushToken).GET().build());
            assertEquals(404, response.statusCode(), id);
            assertTrue(response.body().contains("UPLOAD_UNKNOWN") || response.body().contains("NOT_FOUND"), response.body());
        }
        // An id that tries to leave the upload area is refused as an ambiguous path before any lookup.
        HttpResponse<String> traversal = registry.send(registry.authed("/api/v1/uploads/..%2F..%2Fstrata.db", registry.pushToken).GET().build());
        assertEquals(400, traversal.statusCode());
        assertTrue(traversal.body().contains("URI_INVALID"), traversal.body());
    }

    @Test
    void sessions_need_the_push_scope() {
        HttpResponse<String> anonymous = registry.send(registry.request("/api/v1/uploads").POST(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(401, anonymous.statusCode());
        HttpResponse<String> publisher = registry.send(registry.authed("/api/v1/uploads", registry.publishToken)
                .POST(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(403, publisher.statusCode());
    }

    @Test
    void abandoned_sessions_expire_with_their_bytes(@TempDir Path other) throws Exception {
        try (TestRegistry shortLived = TestRegistry.start(ServerConfig.defaults(other).withUploadExpiry(Duration.ofSeconds(2)))) {
            HttpResponse<String> started = shortLived.send(shortLived.authed("/api/v1/uploads", shortLived.pushToken)
                    .POST(HttpRequest.BodyPublishers.noBody()).build());
            String location = started.headers().firstValue("Location").orElseThrow();
            shortLived.send(shortLived.authed(location, shortLived.pushToken)
                    .method("PATCH", HttpRequest.BodyPublishers.ofByteArray(slice(0, 5000))).build());
            // A file; on S3 the pending piece, the head and the multipart upload.
            assertEquals(shortLived.onS3() ? 3 : 1, shortLived.uploadFiles().size(), shortLived.uploadFiles().toString());
            long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
            while (!shortLived.uploadFiles().isEmpty() && System.nanoTime() < deadline) Thread.sleep(200);
            assertEquals(List.of(), shortLived.uploadFiles());
            assertEquals(404, shortLived.send(shortLived.authed(location, shortLived.pushToken).GET().build()).statusCode());
        }
    }
}
