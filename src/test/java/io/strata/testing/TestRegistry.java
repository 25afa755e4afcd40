package io.strata.testing;

import io.strata.StrataServer;
import io.strata.auth.Scope;
import io.strata.config.DbConfig;
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
 * ephemeral loopback port, and tokens of each scope. No part of it is faked. Under
 * {@link OnPostgres} the metadata is in a fresh PostgreSQL database instead, dropped on close.
 */
public final class TestRegistry implements AutoCloseable {
    /** Where a started registry keeps its metadata. */
    public enum Backend { SQLITE, POSTGRES }

    /** The backend {@link #start} uses; set by {@link OnPostgres} for a whole test class. */
    static volatile Backend backend = Backend.SQLITE;

    /** Set by the {@link S3TestBucket} extension: registries of that test class keep their layers in this bucket. */
    private static volatile S3TestBucket s3;

    private final Path dataDir;
    /** The PostgreSQL database made for this registry, dropped on close; null when the config chose its own. */
    private String ownDatabase;
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
        if (s3 != null && config.store().s3().isEmpty()) {
            // One prefix per data directory: a restart on the same directory finds its layers again.
            String prefix = "r-" + sha256(config.dataDir().toAbsolutePath().toString().getBytes()).shortHex() + "/";
            config = config.withStore(s3.store(prefix));
        }
        if (backend == Backend.POSTGRES && !config.db().isShared()) {
            String url = Postgres.createDatabase();
            try {
                TestRegistry registry = new TestRegistry(config.dataDir(),
                        StrataServer.start(config.withDb(DbConfig.parse(url, java.util.Map.of())).withPort(0)));
                registry.ownDatabase = url;
                return registry;
            } catch (IOException | RuntimeException e) {
                Postgres.dropDatabase(url);
                throw e;
            }
        }
        return new TestRegistry(config.dataDir(), StrataServer.start(config.withPort(0)));
    }

    static void useS3(S3TestBucket bucket) { s3 = bucket; }

    /** True when this registry keeps its layers in an S3 bucket. */
    public boolean onS3() { return server.config().store().s3().isPresent(); }

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

    /**
     * Layer files committed in the store. On S3: {@code <digest>.qcow2} for each object the
     * database maps, and the raw key of any other object under {@code blobs/} (a leak).
     */
    public List<Path> layerFiles() throws IOException {
        var location = server.config().store().s3();
        if (location.isEmpty()) return listFiles(dataDir.resolve("layers"));
        java.util.Map<String, String> mapped = new java.util.HashMap<>();
        server.services().database().jdbi().useHandle(h -> h.createQuery("SELECT digest, object_key FROM store_objects")
                .map((rs, ctx) -> java.util.Map.entry(rs.getString("object_key"), rs.getString("digest")))
                .forEach(e -> mapped.put(e.getKey(), e.getValue())));
        return s3Bucket().keys(location.get().prefix() + "blobs/").stream()
                .map(key -> mapped.containsKey(key) ? Path.of(mapped.get(key) + ".qcow2") : Path.of(key)).sorted().toList();
    }

    /** Bytes of uploads in progress: temp files; on S3 also pending objects and multipart uploads ({@code multipart/<key>}). */
    public List<Path> uploadFiles() throws IOException {
        var location = server.config().store().s3();
        List<Path> files = listFiles(dataDir.resolve("uploads"));
        if (location.isEmpty()) return files;
        List<Path> all = new java.util.ArrayList<>(files);
        s3Bucket().keys(location.get().prefix() + "uploads/").forEach(key -> all.add(Path.of(key)));
        s3Bucket().multipartUploads(location.get().prefix()).forEach(key -> all.add(Path.of("multipart", key)));
        return all.stream().sorted().toList();
    }

    private S3TestBucket s3Bucket() {
        if (s3 == null) throw new IllegalStateException("an S3 registry outside the S3TestBucket extension");
        return s3;
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
    public void close() {
        server.close();
        if (ownDatabase != null) Postgres.dropDatabase(ownDatabase);
    }
}
