package io.strata.http;

import io.strata.layer.Digest;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** GET/HEAD /layers/<sha256>.qcow2 against DESIGN §5, checked byte for byte against the uploaded file. */
class LayerServingTest {
    @TempDir static Path dir;
    static TestRegistry registry;
    static byte[] file;
    static Digest digest;
    static String lastModified;

    @BeforeAll
    static void upload_a_real_layer() throws IOException {
        QemuImg.assumeAvailable();
        Path image = dir.resolve("base.qcow2");
        QemuImg.create(image, "64M");
        // Different patterns at different offsets so that every range has recognisable bytes.
        for (int i = 0; i < 8; i++) QemuImg.writePattern(image, i * (1L << 20), 256 * 1024, 0x11 * (i + 1));
        file = Files.readAllBytes(image);
        registry = TestRegistry.start(dir.resolve("data"));
        HttpResponse<String> put = registry.putLayer(file);
        assertEquals(201, put.statusCode(), put.body());
        digest = TestRegistry.sha256(file);
        lastModified = registry.send(registry.request(path()).method("HEAD", HttpRequest.BodyPublishers.noBody()).build())
                .headers().firstValue("Last-Modified").orElseThrow();
    }

    @AfterAll
    static void stop() {
        if (registry != null) registry.close();
    }

    static String path() { return "/layers/" + digest.hex() + ".qcow2"; }

    static String etag() { return "\"" + digest.hex() + "\""; }

    /** A Range request case: headers to send, the status, and the [first,last] ranges the body must hold (none: full body). */
    record Case(String name, String range, String ifRange, int status, long[][] expected) {
        @Override public String toString() { return name; }
    }

    static Stream<Case> rangeCases() {
        long n = file.length;
        return Stream.of(
                new Case("no Range: the whole layer", null, null, 200, null),
                new Case("first byte", "bytes=0-0", null, 206, new long[][]{{0, 0}}),
                new Case("first KiB", "bytes=0-1023", null, 206, new long[][]{{0, 1023}}),
                new Case("open range to the end", "bytes=" + (n - 5000) + "-", null, 206, new long[][]{{n - 5000, n - 1}}),
                new Case("suffix range", "bytes=-4096", null, 206, new long[][]{{n - 4096, n - 1}}),
                new Case("suffix longer than the file is the whole file, still 206", "bytes=-" + (n * 2), null, 206, new long[][]{{0, n - 1}}),
                new Case("last byte", "bytes=" + (n - 1) + "-" + (n - 1), null, 206, new long[][]{{n - 1, n - 1}}),
                new Case("range past the end is clipped", "bytes=" + (n - 10) + "-" + (n + 1000), null, 206, new long[][]{{n - 10, n - 1}}),
                new Case("whole file as a range is still 206", "bytes=0-", null, 206, new long[][]{{0, n - 1}}),
                new Case("two ranges: multipart", "bytes=0-99,1048576-1049599", null, 206, new long[][]{{0, 99}, {1048576, 1049599}}),
                new Case("three ranges out of order and overlapping", "bytes=500-600,0-9,550-700", null, 206,
                        new long[][]{{500, 600}, {0, 9}, {550, 700}}),
                new Case("one satisfiable of two: plain 206", "bytes=0-9," + (n + 5) + "-", null, 206, new long[][]{{0, 9}}),
                new Case("start past the end: 416", "bytes=" + n + "-", null, 416, null),
                new Case("suffix of zero: 416", "bytes=-0", null, 416, null),
                new Case("malformed: ignored, whole layer", "bytes=abc", null, 200, null),
                new Case("last before first: ignored", "bytes=10-5", null, 200, null),
                new Case("unknown unit: ignored", "pages=0-1", null, 200, null),
                new Case("If-Range with our ETag: 206", "bytes=10-19", etag(), 206, new long[][]{{10, 19}}),
                new Case("If-Range with a stale ETag: the full 200", "bytes=10-19", "\"" + "0".repeat(64) + "\"", 200, null),
                new Case("If-Range with a weak ETag never matches: 200", "bytes=10-19", "W/" + etag(), 200, null),
                new Case("If-Range with our Last-Modified: 206", "bytes=10-19", lastModified, 206, new long[][]{{10, 19}}),
                new Case("If-Range with another date: 200", "bytes=10-19", "Mon, 01 Jan 2001 00:00:00 GMT", 200, null));
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @MethodSource("rangeCases")
    void answers_range_requests_byte_for_byte(Case c) {
        HttpRequest.Builder request = registry.request(path()).GET();
        if (c.range != null) request.header("Range", c.range);
        if (c.ifRange != null) request.header("If-Range", c.ifRange);
        HttpResponse<byte[]> response = registry.sendBytes(request.build());

        assertEquals(c.status, response.statusCode());
        assertEquals("bytes", response.headers().firstValue("Accept-Ranges").orElse(null));
        assertEquals(etag(), response.headers().firstValue("ETag").orElse(null));
        byte[] body = response.body();
        if (c.status == 416) {
            assertEquals("bytes */" + file.length, response.headers().firstValue("Content-Range").orElse(null));
            return;
        }
        assertEquals("public, max-age=31536000, immutable", response.headers().firstValue("Cache-Control").orElse(null));
        if (c.status == 200) {
            assertEquals(file.length, body.length);
            assertArrayEquals(file, body);
            return;
        }
        // 206 never carries the whole body unless the whole body was asked for.
        if (c.expected.length == 1) {
            long[] r = c.expected[0];
            assertEquals("bytes " + r[0] + "-" + r[1] + "/" + file.length, response.headers().firstValue("Content-Range").orElse(null));
            assertEquals(Long.toString(r[1] - r[0] + 1), response.headers().firstValue("Content-Length").orElse(null));
            assertArrayEquals(Arrays.copyOfRange(file, (int) r[0], (int) r[1] + 1), body);
        } else {
            String type = response.headers().firstValue("Content-Type").orElseThrow();
            assertTrue(type.startsWith("multipart/byteranges; boundary="), type);
            assertEquals(Long.toString(body.length), response.headers().firstValue("Content-Length").orElse(null));
            List<Part> parts = parseMultipart(body, type.substring(type.indexOf('=') + 1));
            assertEquals(c.expected.length, parts.size());
            for (int i = 0; i < parts.size(); i++) {
                long[] r = c.expected[i];
                assertEquals("bytes " + r[0] + "-" + r[1] + "/" + file.length, parts.get(i).contentRange);
                assertArrayEquals(Arrays.copyOfRange(file, (int) r[0], (int) r[1] + 1), parts.get(i).bytes);
            }
        }
    }

    record Part(String contentRange, byte[] bytes) {}

    static List<Part> parseMultipart(byte[] body, String boundary) {
        // Binary-safe parse: ISO-8859-1 maps bytes 1:1 to chars.
        String text = new String(body, StandardCharsets.ISO_8859_1);
        List<Part> parts = new ArrayList<>();
        Matcher m = Pattern.compile("--" + Pattern.quote(boundary) + "\r\n((?:[^\r\n]+\r\n)+)\r\n").matcher(text);
        int searchFrom = 0;
        while (m.find(searchFrom)) {
            Matcher range = Pattern.compile("(?im)^Content-Range: (.+)$").matcher(m.group(1));
            assertTrue(range.find(), m.group(1));
            String contentRange = range.group(1).strip();
            String[] numbers = contentRange.substring("bytes ".length(), contentRange.indexOf('/')).split("-");
            int length = (int) (Long.parseLong(numbers[1]) - Long.parseLong(numbers[0]) + 1);
            parts.add(new Part(contentRange, Arrays.copyOfRange(body, m.end(), m.end() + length)));
            searchFrom = m.end() + length;
        }
        assertTrue(text.endsWith("--" + boundary + "--\r\n"), "multipart body must close with the boundary");
        return parts;
    }

    @Test
    void head_answers_the_headers_of_get_without_a_body() {
        HttpResponse<byte[]> head = registry.sendBytes(registry.request(path()).method("HEAD", HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(200, head.statusCode());
        assertEquals(Long.toString(file.length), head.headers().firstValue("Content-Length").orElse(null));
        assertEquals(etag(), head.headers().firstValue("ETag").orElse(null));
        assertEquals(0, head.body().length);

        HttpResponse<byte[]> ranged = registry.sendBytes(registry.request(path()).header("Range", "bytes=0-99")
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(206, ranged.statusCode());
        assertEquals("100", ranged.headers().firstValue("Content-Length").orElse(null));
    }

    @ParameterizedTest(name = "If-None-Match: {0} -> {1}")
    @MethodSource("ifNoneMatchCases")
    void honours_if_none_match(String header, int status) {
        HttpResponse<byte[]> response = registry.sendBytes(registry.request(path()).header("If-None-Match", header).build());
        assertEquals(status, response.statusCode());
        if (status == 304) {
            assertEquals(0, response.body().length);
            assertEquals(etag(), response.headers().firstValue("ETag").orElse(null));
        } else {
            assertArrayEquals(file, response.body());
        }
    }

    static Stream<org.junit.jupiter.params.provider.Arguments> ifNoneMatchCases() {
        return Stream.of(
                org.junit.jupiter.params.provider.Arguments.of(etag(), 304),
                org.junit.jupiter.params.provider.Arguments.of("W/" + etag(), 304),
                org.junit.jupiter.params.provider.Arguments.of("\"other\", " + etag(), 304),
                org.junit.jupiter.params.provider.Arguments.of("*", 304),
                org.junit.jupiter.params.provider.Arguments.of("\"" + "0".repeat(64) + "\"", 200));
    }

    @Test
    void unknown_and_malformed_layer_names_answer_404_as_json() {
        for (String bad : List.of("/layers/" + "0".repeat(64) + ".qcow2", "/layers/" + digest.hex(), "/layers/ABC.qcow2",
                "/layers/" + digest.hex().toUpperCase() + ".qcow2")) {
            HttpResponse<String> response = registry.send(registry.request(bad).build());
            assertEquals(404, response.statusCode(), bad);
            assertTrue(response.body().contains("\"code\":\"LAYER_UNKNOWN\"") || response.body().contains("\"code\":\"NOT_FOUND\""),
                    bad + " -> " + response.body());
        }
        // Ambiguous paths never reach the layer lookup (HostileRequestTest has the whole table).
        HttpResponse<String> traversal = registry.send(registry.request("/layers/..%2f..%2fetc%2fpasswd").build());
        assertEquals(400, traversal.statusCode());
        assertTrue(traversal.body().contains("\"code\":\"URI_INVALID\""), traversal.body());
    }

    @Test
    void a_416_leaves_the_connection_usable() throws IOException {
        URI uri = registry.uri(path());
        try (Socket socket = new Socket(uri.getHost(), uri.getPort())) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            String host = uri.getHost() + ":" + uri.getPort();
            out.write(("GET " + path() + " HTTP/1.1\r\nHost: " + host + "\r\nRange: bytes=" + file.length + "-\r\n\r\n"
                    + "GET " + path() + " HTTP/1.1\r\nHost: " + host + "\r\nRange: bytes=0-3\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String first = readResponse(in);
            assertTrue(first.startsWith("HTTP/1.1 416"), first);
            String second = readResponse(in);
            assertTrue(second.startsWith("HTTP/1.1 206"), second);
            assertTrue(second.endsWith(new String(file, 0, 4, StandardCharsets.ISO_8859_1)));
        }
    }

    /** Reads one HTTP/1.1 response with a Content-Length body, as ISO-8859-1 text. */
    static String readResponse(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) break;
            head.append((char) b);
        }
        Matcher length = Pattern.compile("(?i)content-length: (\\d+)").matcher(head);
        int n = length.find() ? Integer.parseInt(length.group(1)) : 0;
        byte[] body = in.readNBytes(n);
        return head + new String(body, StandardCharsets.ISO_8859_1);
    }

    @Test
    void last_modified_is_an_imf_fixdate() {
        // RFC 9110 5.6.7: the only format a sender may generate.
        assertTrue(lastModified.matches("(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \\d{4} \\d{2}:\\d{2}:\\d{2} GMT"),
                lastModified);
        DateTimeFormatter.RFC_1123_DATE_TIME.withZone(ZoneOffset.UTC).parse(lastModified);
        // A one-digit day of the month is written with two digits (the JDK's RFC_1123_DATE_TIME writes one).
        assertEquals("Tue, 01 Dec 2026 08:05:09 GMT", LayerHandler.HTTP_DATE.format(java.time.Instant.parse("2026-12-01T08:05:09.750Z")));
    }
}
