package io.strata.http.guard;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.auth.Scope;
import io.strata.auth.TokenService;
import io.strata.layer.Digest;
import io.strata.layer.LayerDao;
import io.strata.testing.LayerFactory;
import io.strata.testing.QemuImg;
import io.strata.testing.RawHttp;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.function.Function;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Requests a hostile or broken client sends, across the endpoints, on raw sockets: each gets its
 * documented status and JSON error code (README "Limits and hostile input"), the server keeps
 * answering, nothing is stored and no token comes back. Rows are grouped by concern; a new kind
 * of refusal adds a group (or rows to one) without touching the checks.
 */
class HostileRequestTest {
    @TempDir static Path dir;
    static TestRegistry registry;
    static Target target;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a row may aim at: the registry's tokens, an open upload session, a stored layer. */
    record Target(TestRegistry registry, String uploadPath, Digest layer, String expired, String revoked, String ubuntuPublisher) {
        String push() { return "Authorization: Bearer " + registry.pushToken + "\r\n"; }

        static String bearer(String token) { return "Authorization: Bearer " + token + "\r\n"; }

        /** The push token with one character of its random part changed: the checksum no longer matches. */
        String badChecksum() {
            String token = registry.pushToken;
            int at = 20;
            return bearer(token.substring(0, at) + (token.charAt(at) == 'A' ? 'B' : 'A') + token.substring(at + 1));
        }

        String publishBody() {
            return "{\"os\":\"debian\",\"release\":\"12\",\"arch\":\"amd64\",\"variant\":\"cloud\",\"version\":\"20261201_1000\","
                    + "\"layer\":\"" + layer.hex() + "\"}";
        }

        String publish() { return "Authorization: Bearer " + registry.publishToken + "\r\n"; }
    }

    /**
     * One hostile request and its answer.
     *
     * @param request the whole request as ISO-8859-1 text (one char, one byte), built for the target
     * @param closes  the server must also close the connection (framing it cannot trust)
     */
    record Hostile(String name, Function<Target, String> request, int status, String code, boolean closes) {
        @Override public String toString() { return name; }
    }

    static Hostile row(String name, Function<Target, String> request, int status, String code) {
        return new Hostile(name, request, status, code, false);
    }

    static Hostile closing(String name, Function<Target, String> request, int status, String code) {
        return new Hostile(name, request, status, code, true);
    }

    static String get(String path) { return "GET " + path + " HTTP/1.1\r\nHost: strata\r\n\r\n"; }

    /** A request with a body and a correct Content-Length, plus {@code headers} (each ending in CRLF). */
    static String withBody(String method, String path, String headers, String body) {
        return method + " " + path + " HTTP/1.1\r\nHost: strata\r\n" + headers
                + "Content-Length: " + body.getBytes(StandardCharsets.ISO_8859_1).length + "\r\n\r\n" + body;
    }

    /** A request whose framing headers are given as they are (no Content-Length added). */
    static String framed(String method, String path, String headers, String body) {
        return method + " " + path + " HTTP/1.1\r\nHost: strata\r\n" + headers + "\r\n" + body;
    }

    static List<Hostile> ambiguousUris() {
        return List.of(
                row("traversal with ../", t -> get("/layers/../index.json"), 400, "URI_INVALID"),
                row("traversal above the root", t -> get("/../index.json"), 400, "URI_INVALID"),
                row("traversal with %2e%2e", t -> get("/layers/%2e%2e/index.json"), 400, "URI_INVALID"),
                row("traversal with .%2E", t -> get("/api/v1/images/.%2E/x"), 400, "URI_INVALID"),
                row("a ./ segment on a write", t -> withBody("PUT", "/api/v1/aliases/./stable", t.publish()
                        + "Content-Type: application/json\r\n", "{\"product\":\"a:b:amd64:c\"}"), 400, "URI_INVALID"),
                row("an encoded slash in a layer name", t -> get("/layers/..%2f..%2fetc%2fpasswd"), 400, "URI_INVALID"),
                row("an encoded slash in an alias on a write", t -> withBody("PUT", "/api/v1/aliases/a%2Fb", t.publish()
                        + "Content-Type: application/json\r\n", "{\"product\":\"a:b:amd64:c\"}"), 400, "URI_INVALID"),
                row("an encoded NUL in a layer name", t -> get("/layers/" + t.layer().hex() + "%00.qcow2"), 400, "URI_INVALID"),
                row("an encoded NUL on a delete", t -> framed("DELETE", "/api/v1/images/%00", t.publish(), ""), 400, "URI_INVALID"),
                row("a raw backslash", t -> get("/layers\\..\\index.json"), 400, "URI_INVALID"),
                row("an encoded backslash", t -> get("/layers/..%5Cindex.json"), 400, "URI_INVALID"),
                row("invalid UTF-8", t -> get("/api/v1/images/%C3%28"), 400, "URI_INVALID"),
                row("truncated UTF-8", t -> get("/api/v1/images/x%E2%82"), 400, "URI_INVALID"),
                row("an overlong UTF-8 slash", t -> get("/layers/%C0%AFindex.json"), 400, "URI_INVALID"),
                row("a path parameter", t -> get("/index.json;jsessionid=1"), 400, "URI_INVALID"),
                row("an empty segment", t -> get("//index.json"), 400, "URI_INVALID"),
                row("a URI over the header limit", t -> get("/layers/" + "a".repeat(20_000)), 414, "URI_TOO_LONG"));
    }

    static List<Hostile> oversizedHeaders() {
        String big = "X-Padding: " + "a".repeat(17 * 1024) + "\r\n";
        return List.of(
                closing("a header block over 16 KiB on a read", t -> framed("GET", "/index.json", big, ""), 431, "HEADERS_TOO_LARGE"),
                closing("many headers over 16 KiB on a write", t -> framed("POST", "/api/v1/uploads",
                        t.push() + ("X-A: " + "b".repeat(100) + "\r\n").repeat(200) + "Content-Length: 0\r\n", ""), 431, "HEADERS_TOO_LARGE"));
    }

    static List<Hostile> smuggling() {
        String json = "{\"product\":\"a:b:amd64:c\"}";
        return List.of(
                closing("two equal Content-Lengths", t -> framed("POST", "/api/v1/images",
                        t.publish() + "Content-Length: 5\r\nContent-Length: 5\r\n", "hello"), 400, "REQUEST_INVALID"),
                closing("two different Content-Lengths", t -> framed("PUT", "/api/v1/aliases/x",
                        t.publish() + "Content-Length: 2\r\nContent-Length: " + json.length() + "\r\n", json), 400, "REQUEST_INVALID"),
                closing("a Content-Length list", t -> framed("POST", "/api/v1/images",
                        t.publish() + "Content-Length: 5, 5\r\n", "hello"), 400, "REQUEST_INVALID"),
                closing("Transfer-Encoding with Content-Length", t -> framed("POST", "/api/v1/uploads",
                        t.push() + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400, "REQUEST_INVALID"),
                closing("chunked twice", t -> framed("POST", "/api/v1/images",
                        t.publish() + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400, "REQUEST_INVALID"),
                closing("a negative Content-Length", t -> framed("PUT", "/api/v1/layers/" + "1".repeat(64),
                        t.push() + "Content-Length: -1\r\n", ""), 400, "REQUEST_INVALID"),
                closing("an overflowing Content-Length", t -> framed("PUT", "/api/v1/layers/" + "1".repeat(64),
                        t.push() + "Content-Length: 99999999999999999999999\r\n", ""), 400, "REQUEST_INVALID"),
                closing("a negative Content-Length on PATCH", t -> framed("PATCH", t.uploadPath(),
                        t.push() + "Content-Length: -5\r\n", ""), 400, "REQUEST_INVALID"),
                closing("two Host headers", t -> framed("GET", "/index.json", "Host: other\r\n", ""), 400, "REQUEST_INVALID"),
                closing("a folded header line", t -> framed("POST", "/api/v1/uploads",
                        t.push() + "X-A: a\r\n folded\r\nContent-Length: 0\r\n", ""), 400, "REQUEST_INVALID"),
                closing("a NUL in a header value", t -> framed("GET", "/index.json", "X-A: a\u0000b\r\n", ""), 400, "REQUEST_INVALID"),
                row("a malformed chunk size in a JSON body", t -> framed("POST", "/api/v1/images", t.publish()
                        + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", "zz\r\n{}\r\n0\r\n\r\n"), 400, "REQUEST_INVALID"),
                row("an overflowing chunk size in a JSON body", t -> framed("POST", "/api/v1/images", t.publish()
                        + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", "fffffffffffffffffffff\r\n{}\r\n0\r\n\r\n"),
                        400, "REQUEST_INVALID"),
                row("a malformed chunk size in an upload chunk", t -> framed("PATCH", t.uploadPath(), t.push()
                        + "Transfer-Encoding: chunked\r\n", "zz\r\nQFI\r\n0\r\n\r\n"), 400, "UPLOAD_INVALID"),
                row("a negative Content-Range on PATCH", t -> withBody("PATCH", t.uploadPath(),
                        t.push() + "Content-Range: bytes -5-10/*\r\n", "abc"), 416, "RANGE_INVALID"),
                row("an overflowing Content-Range on PATCH", t -> withBody("PATCH", t.uploadPath(),
                        t.push() + "Content-Range: bytes 0-99999999999999999999999/*\r\n", "abc"), 416, "RANGE_INVALID"),
                row("a Content-Range past the layer limit on PATCH", t -> withBody("PATCH", t.uploadPath(),
                        t.push() + "Content-Range: bytes 0-9223372036854775806/*\r\n", "abc"), 413, "LAYER_TOO_LARGE"));
    }

    static List<Hostile> jsonBodies() {
        String bomb = "[".repeat(30_000);
        String objectBomb = "{\"os\":\"a\",\"properties\":{\"x\":" + "[".repeat(20_000) + "}}";
        String large = "{\"os\":\"" + "a".repeat(70 * 1024) + "\"}";
        String chunkedLarge = Integer.toHexString(large.length()) + "\r\n" + large + "\r\n0\r\n\r\n";
        return List.of(
                row("XML on the publish endpoint", t -> withBody("POST", "/api/v1/images", t.publish()
                        + "Content-Type: application/xml\r\n", "<image/>"), 415, "UNSUPPORTED_MEDIA_TYPE"),
                row("plain text on the alias endpoint", t -> withBody("PUT", "/api/v1/aliases/stable", t.publish()
                        + "Content-Type: text/plain\r\n", "{\"product\":\"a:b:amd64:c\"}"), 415, "UNSUPPORTED_MEDIA_TYPE"),
                row("a nesting bomb of arrays", t -> withBody("POST", "/api/v1/images", t.publish()
                        + "Content-Type: application/json\r\n", bomb), 400, "BODY_INVALID"),
                row("a nesting bomb inside properties", t -> withBody("POST", "/api/v1/images", t.publish()
                        + "Content-Type: application/json\r\n", objectBomb), 400, "BODY_INVALID"),
                row("a nesting bomb as an alias body", t -> withBody("PUT", "/api/v1/aliases/stable", t.publish()
                        + "Content-Type: application/json\r\n", "{\"product\":" + bomb), 400, "BODY_INVALID"),
                row("a JSON body over 64 KiB", t -> withBody("POST", "/api/v1/images", t.publish()
                        + "Content-Type: application/json\r\n", large), 413, "BODY_TOO_LARGE"),
                row("a chunked JSON body over 64 KiB", t -> framed("POST", "/api/v1/images", t.publish()
                        + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", chunkedLarge), 413, "BODY_TOO_LARGE"));
    }

    static List<Hostile> ranges() {
        return List.of(
                row("65 ranges", t -> framed("GET", "/layers/" + t.layer().fileName(),
                        "Range: bytes=" + "0-0,".repeat(64) + "1-1\r\n", ""), 416, "RANGE_NOT_SATISFIABLE"),
                row("three overlapping ranges", t -> framed("GET", "/layers/" + t.layer().fileName(),
                        "Range: bytes=0-,0-,0-\r\n", ""), 416, "RANGE_NOT_SATISFIABLE"));
    }

    /** Tokens: missing, malformed, with a bad checksum, expired, revoked, of the wrong scope or product. */
    static List<Hostile> credentials() {
        return List.of(
                row("no token on an upload", t -> framed("POST", "/api/v1/uploads", "Content-Length: 0\r\n", ""), 401, "UNAUTHORIZED"),
                row("no token on a layer PUT", t -> withBody("PUT", "/api/v1/layers/" + "1".repeat(64), "", "QFI"), 401, "UNAUTHORIZED"),
                row("a garbage token", t -> framed("POST", "/api/v1/uploads",
                        "Authorization: Bearer not-a-token-at-all\r\nContent-Length: 0\r\n", ""), 401, "UNAUTHORIZED"),
                row("a garbage token on a delete", t -> framed("DELETE", "/api/v1/images/" + "2".repeat(64),
                        "Authorization: Bearer \u00ff\u00fe" + "x".repeat(300) + "\r\n", ""), 401, "UNAUTHORIZED"),
                row("a push token publishing", t -> withBody("POST", "/api/v1/images", t.push()
                        + "Content-Type: application/json\r\n", "{}"), 403, "DENIED"),
                row("a token with a bad checksum", t -> framed("POST", "/api/v1/uploads",
                        t.badChecksum() + "Content-Length: 0\r\n", ""), 401, "UNAUTHORIZED"),
                row("a token with a bad checksum on a layer PUT", t -> withBody("PUT", "/api/v1/layers/" + "1".repeat(64),
                        t.badChecksum(), "QFI"), 401, "UNAUTHORIZED"),
                row("an expired token", t -> framed("POST", "/api/v1/uploads",
                        Target.bearer(t.expired()) + "Content-Length: 0\r\n", ""), 401, "UNAUTHORIZED"),
                row("a revoked token", t -> withBody("PUT", "/api/v1/layers/" + "1".repeat(64), Target.bearer(t.revoked()), "QFI"),
                        401, "UNAUTHORIZED"),
                row("a token of another product publishing", t -> withBody("POST", "/api/v1/images", Target.bearer(t.ubuntuPublisher())
                        + "Content-Type: application/json\r\n", t.publishBody()), 403, "DENIED"),
                row("a token of another product moving an alias", t -> withBody("PUT", "/api/v1/aliases/stable",
                        Target.bearer(t.ubuntuPublisher()) + "Content-Type: application/json\r\n",
                        "{\"product\":\"debian:12:amd64:cloud\"}"), 403, "DENIED"),
                row("a publisher unpublishing without a delete scope", t -> framed("DELETE", "/api/v1/images/" + t.layer().hex(),
                        Target.bearer(t.ubuntuPublisher()), ""), 403, "DENIED"),
                row("a non-admin reading the audit log", t -> framed("GET", "/api/v1/audit", t.push(), ""), 403, "DENIED"),
                row("a token asking for a wider token", t -> withBody("POST", "/api/v1/tokens", Target.bearer(t.ubuntuPublisher())
                        + "Content-Type: application/json\r\n", "{\"scopes\":[\"publish:*\"]}"), 403, "DENIED"),
                row("Basic auth with a wrong password on a write of a public registry", t -> framed("POST", "/api/v1/uploads",
                        "Authorization: Basic eDpodW50ZXIy\r\nContent-Length: 0\r\n", ""), 401, "UNAUTHORIZED"));
    }

    static Stream<Hostile> hostileRequests() {
        return Stream.of(ambiguousUris(), oversizedHeaders(), smuggling(), jsonBodies(), ranges(), credentials())
                .flatMap(List::stream);
    }

    @BeforeAll
    static void start() throws IOException {
        QemuImg.assumeAvailable();
        registry = TestRegistry.start(dir.resolve("data"));
        LayerFactory layers = new LayerFactory(Files.createDirectories(dir.resolve("made")));
        Digest layer = layers.base();
        layers.uploadTo(registry, layer);
        HttpResponse<String> session = registry.send(registry.authed("/api/v1/uploads", registry.pushToken)
                .POST(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(202, session.statusCode(), session.body());
        var tokens = registry.server().services().tokens();
        String expired = tokens.create("expired", List.of(Scope.parse("push:*")), Optional.of(Instant.now().minusSeconds(60)),
                OptionalLong.empty()).secret();
        TokenService.Issued revoked = tokens.create("revoked", List.of(Scope.parse("push:*")));
        tokens.revoke(revoked.token().id());
        target = new Target(registry, session.headers().firstValue("Location").orElseThrow(), layer, expired, revoked.secret(),
                registry.token("publish:ubuntu"));
    }

    @AfterAll
    static void stop() {
        if (registry != null) registry.close();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hostileRequests")
    void is_refused_with_its_documented_status_and_nothing_is_stored(Hostile hostile) throws IOException {
        Map<Path, Long> before = stored();
        int layerRows = registry.server().services().database().dao(LayerDao.class).all().size();

        String reply;
        try (RawHttp raw = RawHttp.exchange(registry.uri("/"), hostile.request().apply(target).getBytes(StandardCharsets.ISO_8859_1))) {
            RawHttp.Reply response = raw.reply();
            reply = response.head() + response.bodyText();
            assertEquals(hostile.status(), response.status(), reply);
            assertTrue(response.header("Content-Type").orElse("").startsWith("application/json"), reply);
            JsonNode error = JSON.readTree(response.body()).path("errors").path(0);
            assertEquals(hostile.code(), error.path("code").asText(), reply);
            assertFalse(error.path("message").asText().isBlank(), reply);
            if (hostile.closes()) assertTrue(raw.closedWithin(5_000), "the connection is closed after: " + reply);
        }

        for (String secret : List.of(registry.adminToken, registry.pushToken, registry.publishToken, target.expired(), target.revoked(),
                target.ubuntuPublisher())) {
            assertFalse(reply.contains(secret), "a token came back in the response");
        }
        HttpResponse<String> health = registry.send(registry.request("/healthz").build());
        assertEquals(200, health.statusCode(), "the server still answers: " + health.body());
        assertEquals(before, stored(), "layers/ and uploads/ are unchanged");
        assertEquals(layerRows, registry.server().services().database().dao(LayerDao.class).all().size(), "no layer row was added");
    }

    /** Every file under layers/ and uploads/ with its size. */
    static Map<Path, Long> stored() throws IOException {
        Map<Path, Long> files = new LinkedHashMap<>();
        List<Path> all = new ArrayList<>(registry.layerFiles());
        all.addAll(registry.uploadFiles());
        for (Path file : all) files.put(file, Files.size(file));
        return files;
    }
}
