package io.strata.testing;

import io.strata.StrataServer;
import io.strata.auth.Scope;
import io.strata.config.ServerConfig;
import io.strata.layer.Digest;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

/**
 * A real Strata server for a test: real SQLite and layer files in a temp directory, HTTP on an
 * ephemeral loopback port, and tokens of each scope. No part of it is faked.
 */
public final class TestRegistry implements AutoCloseable {
    private final Path dataDir;
    private StrataServer server;
    public final String adminToken;
    public final String pushToken;
    public final String publishToken;
    public final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private TestRegistry(Path dataDir, StrataServer server) {
        this.dataDir = dataDir;
        this.server = server;
        var tokens = server.services().tokens();
        this.adminToken = tokens.create("test-admin", List.of(Scope.ADMIN)).secret();
        this.pushToken = tokens.create("test-push", List.of(Scope.all(Scope.Action.PUSH))).secret();
        // A publisher of every product: publishes, moves aliases and unpublishes (delete:*).
        this.publishToken = tokens.create("test-publish", List.of(Scope.all(Scope.Action.PUBLISH), Scope.all(Scope.Action.DELETE))).secret();
    }

    /** A new token with the given scopes (e.g. "publish:debian:*", "read"), the default expiry and no quota. */
    public String token(String... scopes) {
        return server.services().tokens().create("test-" + String.join("+", scopes).replace(':', '.'),
                Stream.of(scopes).map(Scope::parse).toList()).secret();
    }

    public static TestRegistry start(Path dataDir) throws IOException {
        return start(ServerConfig.defaults(dataDir).withPort(0));
    }

    public static TestRegistry start(ServerConfig config) throws IOException {
        return new TestRegistry(config.dataDir(), StrataServer.start(config.withPort(0)));
    }

    /** Stops and starts the server on the same data directory (a clean restart; see the crash test for SIGKILL). */
    public void restart() throws IOException {
        ServerConfig config = server.config();
        server.close();
        server = StrataServer.start(config);
    }

    public StrataServer server() { return server; }

    public Path dataDir() { return dataDir; }

    public String url(String path) { return server.baseUrl() + path; }

    public URI uri(String path) { return URI.create(url(path)); }

    public HttpRequest.Builder request(String path) {
        return HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(60));
    }

    public HttpRequest.Builder authed(String path, String token) {
        return request(path).header("Authorization", "Bearer " + token);
    }

    public HttpResponse<String> send(HttpRequest request) {
        try {
            return http.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public HttpResponse<byte[]> sendBytes(HttpRequest request) {
        try {
            return http.send(request, HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Monolithic upload of {@code bytes} as the layer they hash to; returns the response. */
    public HttpResponse<String> putLayer(byte[] bytes) {
        return putLayer(sha256(bytes), bytes);
    }

    public HttpResponse<String> putLayer(Digest claimed, byte[] bytes) {
        return send(authed("/api/v1/layers/" + claimed.hex(), pushToken).PUT(HttpRequest.BodyPublishers.ofByteArray(bytes)).build());
    }

    /** Layer files committed in the store. */
    public List<Path> layerFiles() throws IOException {
        return listFiles(dataDir.resolve("layers"));
    }

    /** Temp files of uploads in progress. */
    public List<Path> uploadFiles() throws IOException {
        return listFiles(dataDir.resolve("uploads"));
    }

    private static List<Path> listFiles(Path dir) throws IOException {
        if (!Files.exists(dir)) return List.of();
        try (Stream<Path> walk = Files.walk(dir)) {
            return walk.filter(Files::isRegularFile).sorted().toList();
        }
    }

    public static Digest sha256(byte[] bytes) {
        return Digest.of(Digest.sha256().digest(bytes));
    }

    @Override
    public void close() { server.close(); }
}
