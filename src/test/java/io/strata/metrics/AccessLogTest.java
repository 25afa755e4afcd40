package io.strata.metrics;

import io.strata.config.ServerConfig;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code serve --access-log}: one line per request, the fast reads included, and never a token. */
class AccessLogTest {
    /** time, client, method, "path?query", status, body bytes, milliseconds, "user agent". */
    private static final Pattern LINE = Pattern.compile(
            "^\\[(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ)] (\\S+) (\\S+) \"([^\"]*)\" (\\d{3}) (\\d+) (\\d+) \"(.*)\"$");
    private static final String AGENT = "strata-test/1.0";

    @TempDir Path dir;
    TestRegistry registry;

    @AfterEach
    void stop() {
        if (registry != null) registry.close();
    }

    private HttpResponse<String> get(String path) {
        return registry.send(registry.request(path).header("User-Agent", AGENT).build());
    }

    /** The lines once there are at least {@code count}: Jetty logs a request after its response is complete. */
    private static List<String> awaitLines(Supplier<String> text, int count) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        List<String> lines = text.get().lines().toList();
        while (lines.size() < count && System.nanoTime() < deadline) {
            Thread.sleep(20);
            lines = text.get().lines().toList();
        }
        assertTrue(lines.size() >= count, "expected " + count + " lines, got:\n" + String.join("\n", lines));
        return lines;
    }

    private static Supplier<String> file(Path path) {
        return () -> {
            try {
                return Files.exists(path) ? Files.readString(path) : "";
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        };
    }

    @Test
    void every_request_is_one_line_with_time_client_method_path_status_bytes_duration_and_agent() throws Exception {
        Path log = dir.resolve("access.log");
        registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data")).withAccessLog(AccessLogTarget.file(log)));
        LayerFactory layers = new LayerFactory(dir);
        Digest layer = layers.base();
        layers.uploadTo(registry, layer);
        awaitLines(file(log), 1);
        Files.writeString(log, "");

        // HEAD and GET of a layer are answered by the fast reads in front of Javalin, the 404 and the gc by Javalin.
        assertEquals(200, registry.send(registry.request("/layers/" + layer.fileName()).header("User-Agent", AGENT)
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build()).statusCode());
        assertEquals(200, get("/layers/" + layer.fileName()).statusCode());
        assertEquals(404, get("/nope").statusCode());
        assertEquals(200, registry.send(registry.authed("/api/v1/gc?dry_run=true", registry.adminToken).header("User-Agent", AGENT)
                .POST(HttpRequest.BodyPublishers.noBody()).build()).statusCode());

        List<String> lines = awaitLines(file(log), 4);
        assertEquals(4, lines.size(), String.join("\n", lines));
        List<String[]> fields = lines.stream().map(AccessLogTest::fields).toList();
        assertArrayEquals(new String[]{"127.0.0.1", "HEAD", "/layers/" + layer.fileName(), "200", "0", AGENT}, fields.get(0));
        assertArrayEquals(new String[]{"127.0.0.1", "GET", "/layers/" + layer.fileName(), "200", Long.toString(layers.size(layer)), AGENT},
                fields.get(1));
        assertEquals("/nope 404", fields.get(2)[2] + " " + fields.get(2)[3]);
        assertArrayEquals(new String[]{"127.0.0.1", "POST", "/api/v1/gc?dry_run=true", "200"}, java.util.Arrays.copyOf(fields.get(3), 4));
    }

    /** client, method, path, status, bytes, agent (time and duration checked for form only). */
    private static String[] fields(String line) {
        Matcher m = LINE.matcher(line);
        assertTrue(m.matches(), "not an access-log line: " + line);
        return new String[]{m.group(2), m.group(3), m.group(4), m.group(5), m.group(6), m.group(8)};
    }

    private static void assertArrayEquals(String[] expected, String[] actual) {
        assertEquals(List.of(expected), List.of(actual));
    }

    @Test
    void no_token_reaches_the_access_log_or_the_server_log() throws Exception {
        Capture out = Capture.stdout();
        Capture err = Capture.stderr();
        String token;
        try {
            registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data")).withAccessLog(AccessLogTarget.STDOUT));
            token = registry.adminToken;
            String basic = "Basic " + Base64.getEncoder().encodeToString(("x:" + token).getBytes(StandardCharsets.UTF_8));
            String mistyped = token.substring(0, 20) + (token.charAt(20) == 'A' ? 'B' : 'A') + token.substring(21);
            List<HttpRequest> requests = List.of(
                    registry.authed("/api/v1/tokens", token).build(),
                    registry.request("/api/v1/audit").header("Authorization", basic).build(),
                    registry.authed("/api/v1/tokens", mistyped).build(),
                    registry.request("/index.json?token=" + token).build(),
                    registry.request("/index.json?access_token=" + token + "&limit=" + token).build(),
                    registry.request("/index.json?" + token).build(),
                    registry.request("/layers/" + token + ".qcow2").build(),
                    registry.request("/api/v1/images/" + token).header("User-Agent", "agent " + token).build(),
                    registry.authed("/api/v1/tokens", token).POST(HttpRequest.BodyPublishers.ofString(
                            "{\"name\":\"made-in-test\",\"scopes\":[\"read\"]}")).build());
            for (HttpRequest request : requests) registry.send(request);
            awaitLines(out::text, requests.size());
        } finally {
            out.close();
            err.close();
        }
        String secret = token.substring("strata_pat_".length(), "strata_pat_".length() + 43);
        String mistypedSecret = secret.substring(0, 9) + (secret.charAt(9) == 'A' ? 'B' : 'A') + secret.substring(10);
        for (Capture capture : List.of(out, err)) {
            for (String leak : List.of(secret, mistypedSecret)) {
                assertFalse(capture.text().contains(leak), "a token in the log:\n" + capture.text());
            }
        }
        assertTrue(out.text().contains("\"/index.json?token=REDACTED\""), out.text());
    }

    @Test
    void off_writes_no_line_and_starts_no_writer() throws Exception {
        Capture out = Capture.stdout();
        try {
            registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data")).withAccessLog(AccessLogTarget.OFF));
            for (String path : List.of("/index.json", "/nope", "/healthz", "/metrics")) get(path);
            Thread.sleep(200);
        } finally {
            out.close();
        }
        assertFalse(out.text().contains(AGENT), out.text());
        assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().equals("strata-access-log")));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(dir.resolve("data")), files.toList(), "no log file made");
        }
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', value = {
            "digest=sha256:abc|digest=sha256:abc",
            "dry_run=true&min_age=1h|dry_run=true&min_age=1h",
            "limit=10&before=99|limit=10&before=99",
            "token=hunter2|token=REDACTED",
            "X-Amz-Signature=abc&X-Amz-Credential=def|X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED",
            "hunter2|REDACTED",
            "limit=strata_pat_abcdef|limit=strata_REDACTED",
            "strata_pat_abcdef=1|REDACTED",
            "a=&=b&&|a=REDACTED&=REDACTED&REDACTED&REDACTED"})
    void a_query_keeps_the_api_parameters_and_hides_every_other_value(String query, String logged) {
        assertEquals(logged, AccessLog.query(query));
    }

    /** Standard output or error, captured while still passed through. */
    private static final class Capture implements AutoCloseable {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final PrintStream original;
        private final boolean stdout;

        private Capture(boolean stdout) {
            this.stdout = stdout;
            this.original = stdout ? System.out : System.err;
            PrintStream tee = new PrintStream(new OutputStream() {
                @Override
                public void write(int b) {
                    synchronized (bytes) { bytes.write(b); }
                    original.write(b);
                }

                @Override
                public void write(byte[] b, int off, int len) {
                    synchronized (bytes) { bytes.write(b, off, len); }
                    original.write(b, off, len);
                }
            }, true, StandardCharsets.UTF_8);
            if (stdout) System.setOut(tee);
            else System.setErr(tee);
        }

        static Capture stdout() { return new Capture(true); }

        static Capture stderr() { return new Capture(false); }

        String text() {
            synchronized (bytes) { return bytes.toString(StandardCharsets.UTF_8); }
        }

        @Override
        public void close() {
            if (stdout) System.setOut(original);
            else System.setErr(original);
        }
    }
}
