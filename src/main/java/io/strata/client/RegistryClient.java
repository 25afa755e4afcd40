package io.strata.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.layer.Digest;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.FilterInputStream;
import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.LongConsumer;
import java.util.function.Supplier;
import java.util.zip.GZIPInputStream;

/**
 * The registry's HTTP API as the client uses it (DESIGN §4–§6), over {@link HttpClient} with
 * HTTP/1.1: every parallel download gets its own connection, which is what range resumption
 * and per-layer progress want. The bearer token goes into the Authorization header of API
 * calls only and into no message or exception.
 */
public final class RegistryClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_ERROR_BODY = 64 * 1024;

    private final URI base;
    private final Optional<String> token;
    private final Duration timeout;
    private volatile HttpClient http;

    /**
     * @param base    the registry's root URL, ending with '/' (see {@link #baseUri})
     * @param timeout how long to wait for a connection and for response headers
     */
    public RegistryClient(URI base, Optional<String> token, Duration timeout) {
        this.base = base;
        this.token = token;
        this.timeout = timeout;
    }

    /** Checks and normalises a --registry value: http(s), no query, ending with '/' so paths resolve under it. */
    public static URI baseUri(String url) throws ClientException {
        if (url == null || url.isBlank()) {
            throw new ClientException("no registry given: pass --registry http://HOST:PORT (or set STRATA_REGISTRY)");
        }
        try {
            URI uri = new URI(url.strip());
            String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
            if (!scheme.equals("http") && !scheme.equals("https") || uri.getHost() == null) {
                throw new ClientException("--registry must be an http:// or https:// URL such as http://localhost:8080, got '" + url + "'");
            }
            if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
                throw new ClientException("--registry must not have a query or fragment: '" + url + "'");
            }
            String path = uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath();
            if (!path.endsWith("/")) path += "/";
            return new URI(scheme, uri.getRawAuthority(), null, null, null).resolve(path);
        } catch (URISyntaxException e) {
            throw new ClientException("--registry is not a URL: '" + url + "' (" + e.getReason() + ")");
        }
    }

    public URI base() { return base; }

    /** The registry as shown to users and recorded in the cache: the base URL. */
    public String name() { return base.toString(); }

    /**
     * The JDK client, made on first use: building one costs ~0.3 s of start-up (it sets up TLS even
     * for http://), which a pull from an http:// registry, all over {@link PlainHttp}, never pays.
     */
    public HttpClient http() {
        HttpClient client = http;
        if (client == null) {
            synchronized (this) {
                if (http == null) {
                    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout)
                            .followRedirects(HttpClient.Redirect.NORMAL).build();
                }
                client = http;
            }
        }
        return client;
    }

    /** Builds the JDK client in a background thread if requests will need it (https), so the first does not wait ~0.3 s for it. */
    public void warmUp() {
        if (plain()) return;
        Thread thread = new Thread(this::http, "strata-http-warm-up");
        thread.setDaemon(true);
        thread.start();
    }

    /** Whether requests to the registry can go over {@link PlainHttp} (plain http://). */
    public boolean plain() { return "http".equalsIgnoreCase(base.getScheme()); }

    /** {@link PlainHttp#open}, with the same advice as {@link #send} when the registry cannot be reached. */
    PlainHttp plainHttp(URI url, Map<String, String> headers, Duration idleTimeout) throws IOException, InterruptedException {
        return plainHttp(url, "GET", headers, null, idleTimeout);
    }

    private PlainHttp plainHttp(URI url, String method, Map<String, String> headers, PlainHttp.Body body, Duration idleTimeout)
            throws IOException, InterruptedException {
        try {
            return PlainHttp.open(url, method, headers, body, idleTimeout);
        } catch (java.net.ConnectException e) {
            throw new java.net.ConnectException("cannot connect to " + base + " (" + (e.getMessage() == null ? "connection refused" : e.getMessage())
                    + "); is the registry running and the --registry URL right?");
        }
    }

    Duration timeout() { return timeout; }

    public URI resolve(String relative) { return base.resolve(relative); }

    URI layerUri(Digest digest) { return resolve("layers/" + digest.fileName()); }

    // ------------------------------------------------------------------ index

    /** An answer to the conditional index request: 200 with a body, or 304 (reuse the cached copy). */
    public record IndexResponse(boolean notModified, Optional<String> etag, byte[] body) {}

    public IndexResponse index(Optional<String> etag) throws IOException, InterruptedException {
        if (plain()) {
            Map<String, String> headers = new LinkedHashMap<>(readAuth());
            headers.put("Accept", "application/json");
            headers.put("Accept-Encoding", "gzip");
            etag.ifPresent(tag -> headers.put("If-None-Match", tag));
            try (PlainHttp get = plainHttp(resolve("index.json"), headers, timeout)) {
                int status = get.status();
                if (status == 304) return new IndexResponse(true, etag, new byte[0]);
                if (status / 100 != 3 && get.plainBody()) { // redirects and chunked bodies: the JDK client below
                    byte[] body = get.readAll();
                    if (status != 200) throw error("GET index.json", status, get::header, body);
                    if (get.header("Content-Encoding").map(v -> v.equalsIgnoreCase("gzip")).orElse(false)) body = gunzip(body);
                    return new IndexResponse(false, get.header("ETag"), body);
                }
            }
        }
        HttpRequest.Builder request = reading(resolve("index.json"))
                .header("Accept", "application/json").header("Accept-Encoding", "gzip");
        etag.ifPresent(tag -> request.header("If-None-Match", tag));
        HttpResponse<byte[]> response = send(request.GET().build(), HttpResponse.BodyHandlers.ofByteArray());
        if (response.statusCode() == 304) return new IndexResponse(true, etag, new byte[0]);
        if (response.statusCode() != 200) throw error("GET index.json", response.statusCode(), response.headers(), response.body());
        byte[] body = response.body();
        if (response.headers().firstValue("Content-Encoding").map(v -> v.equalsIgnoreCase("gzip")).orElse(false)) body = gunzip(body);
        return new IndexResponse(false, response.headers().firstValue("ETag"), body);
    }

    /** A small document next to the index ({@code strata.pub}, {@code index.json.minisig}): its bytes, or empty on 404. */
    public Optional<byte[]> small(String relative) throws IOException, InterruptedException {
        Reply reply = call("GET", resolve(relative), readAuth(), null);
        if (reply.status() == 404) return Optional.empty();
        if (reply.status() != 200) throw error("GET " + relative, reply.status(), reply.header(), reply.body());
        return Optional.of(reply.body());
    }

    private static byte[] gunzip(byte[] body) throws IOException {
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(body))) {
            return in.readAllBytes();
        }
    }

    // ------------------------------------------------------------------ layers

    /** Whether the registry stores {@code digest} ({@code HEAD /layers/<sha256>.qcow2}). */
    public boolean hasLayer(Digest digest) throws IOException, InterruptedException {
        Reply reply = call("HEAD", layerUri(digest), readAuth(), null);
        if (reply.status() == 200) return true;
        if (reply.status() == 404) return false;
        throw error("HEAD layers/" + digest.fileName(), reply.status(), reply.header(), new byte[0]);
    }

    // ------------------------------------------------------------------ uploads (DESIGN §6)

    /** {@code POST /api/v1/uploads}: a new resumable upload; returns its location. */
    public URI startUpload() throws IOException, InterruptedException {
        Reply reply = call("POST", resolve("api/v1/uploads"), auth(), new byte[0]);
        if (reply.status() != 202) throw error("POST api/v1/uploads", reply.status(), reply.header(), reply.body());
        String location = reply.header().apply("Location").orElseThrow(() ->
                new ClientException("the registry started an upload without a Location header; is it a Strata registry?"));
        return base.resolve(location);
    }

    /** How many bytes of the upload the registry holds ({@code GET <location>}, header {@code Upload-Offset}). */
    public long uploadOffset(URI location) throws IOException, InterruptedException {
        Reply reply = call("GET", location, auth(), null);
        if (reply.status() != 200) throw error("GET upload", reply.status(), reply.header(), reply.body());
        return offset(reply.header().apply("Upload-Offset")).orElseThrow(() -> new ClientException("the registry did not say how much of the upload it holds"));
    }

    /**
     * Sends bytes {@code first..first+length-1} ({@code PATCH} with {@code Content-Range: bytes a-b/*});
     * returns the registry's new {@code Upload-Offset}. A chunk that moves no byte for the timeout,
     * or whose answer does not come within it once sent, is abandoned with an {@link HttpTimeoutException}:
     * the request timeout of {@link HttpClient} would count the whole body, which a slow link needs
     * minutes for.
     */
    public long appendChunk(URI location, long first, long length, Supplier<InputStream> body) throws IOException, InterruptedException {
        AtomicLong lastRead = new AtomicLong(System.nanoTime());
        Supplier<InputStream> watched = () -> new FilterInputStream(body.get()) {
            @Override public int read() throws IOException {
                lastRead.set(System.nanoTime());
                return super.read();
            }

            @Override public int read(byte[] buffer, int offset, int count) throws IOException {
                lastRead.set(System.nanoTime());
                return super.read(buffer, offset, count);
            }
        };
        // No Expect: 100-continue: Strata's server sends 100 before it checks the offset, so it would save
        // nothing, and JDK 17's client was seen waiting for the 100 past every timeout after a dropped connection.
        HttpRequest request = authed(location)
                .header("Content-Range", "bytes " + first + "-" + (first + length - 1) + "/*")
                .header("Content-Type", "application/octet-stream")
                .method("PATCH", HttpRequest.BodyPublishers.fromPublisher(HttpRequest.BodyPublishers.ofInputStream(watched), length))
                .build();
        CompletableFuture<HttpResponse<byte[]>> sending = http().sendAsync(request, HttpResponse.BodyHandlers.ofByteArray());
        HttpResponse<byte[]> response;
        while (true) {
            try {
                response = sending.get(250, TimeUnit.MILLISECONDS);
                break;
            } catch (TimeoutException e) {
                if (System.nanoTime() - lastRead.get() > timeout.toNanos()) {
                    sending.cancel(true);
                    throw new HttpTimeoutException("nothing moved for " + timeout.toSeconds() + " s while sending a chunk");
                }
            } catch (ExecutionException e) {
                if (e.getCause() instanceof IOException io) throw io;
                throw new IOException(e.getCause());
            } catch (InterruptedException e) {
                sending.cancel(true);
                throw e;
            }
        }
        if (response.statusCode() != 202) throw error("PATCH upload", response.statusCode(), response.headers(), response.body());
        return offsetHeader(response).orElse(first + length);
    }

    /**
     * {@link #appendChunk(URI, long, long, Supplier)} for bytes of a layer whose (possibly rewritten)
     * first cluster is {@code cluster} and whose other bytes are those of {@code layerFile}, over
     * {@link PlainHttp} (http:// only, see {@link #plain()}): the first cluster from memory, the rest
     * with sendfile from the file, so the bytes never pass through the JVM. {@code sent} hears of
     * every byte written; the timeout applies to each wait as in the other variant. Takes the two
     * parts rather than a push-side layer so this shared class does not depend on the push package.
     */
    public long appendChunk(URI location, long first, long length, byte[] cluster, Path layerFile, LongConsumer sent)
            throws IOException, InterruptedException {
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("Authorization", "Bearer " + secret());
        headers.put("Content-Range", "bytes " + first + "-" + (first + length - 1) + "/*");
        headers.put("Content-Type", "application/octet-stream");
        long end = first + length;
        int fromCluster = (int) Math.min(first, cluster.length);
        ByteBuffer prefix = ByteBuffer.wrap(cluster, fromCluster, (int) Math.min(end, cluster.length) - fromCluster);
        long fromFile = Math.max(first, cluster.length);
        try (FileChannel file = FileChannel.open(layerFile, StandardOpenOption.READ);
             PlainHttp answer = plainHttp(location, "PATCH", headers,
                     new PlainHttp.Body(prefix, file, fromFile, Math.max(0, end - fromFile), sent), timeout)) {
            byte[] body = answer.readAll();
            if (answer.status() != 202) throw error("PATCH upload", answer.status(), answer::header, body);
            return offset(answer.header("Upload-Offset")).orElse(first + length);
        }
    }

    /** {@code PUT <location>?digest=sha256:<hex>}: makes the upload the layer {@code digest}. */
    public void finishUpload(URI location, Digest digest) throws IOException, InterruptedException {
        URI finish = URI.create(location + (location.getRawQuery() == null ? "?" : "&") + "digest=sha256:" + digest.hex());
        Reply reply = call("PUT", finish, auth(), new byte[0]);
        if (reply.status() != 201 && reply.status() != 200) throw error("PUT upload", reply.status(), reply.header(), reply.body());
    }

    /** {@code DELETE <location>}, best effort: an abandoned upload also expires on its own. */
    public void cancelUpload(URI location) {
        try {
            call("DELETE", location, auth(), new byte[0]);
        } catch (IOException e) {
            // the registry expires it
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ------------------------------------------------------------------ images

    /** {@code POST /api/v1/images}; returns the image as the registry describes it. */
    public JsonNode publish(JsonNode body) throws IOException, InterruptedException {
        Map<String, String> headers = new LinkedHashMap<>(auth());
        headers.put("Content-Type", "application/json");
        Reply reply = call("POST", resolve("api/v1/images"), headers, JSON.writeValueAsBytes(body));
        if (reply.status() != 201) throw error("POST api/v1/images", reply.status(), reply.header(), reply.body());
        return JSON.readTree(reply.body());
    }

    /** {@code GET /api/v1/images/<fingerprint>}, empty on 404. */
    public Optional<JsonNode> image(Digest fingerprint) throws IOException, InterruptedException {
        Reply reply = call("GET", resolve("api/v1/images/" + fingerprint.hex()), readAuth(), null);
        if (reply.status() == 404) return Optional.empty();
        if (reply.status() != 200) throw error("GET api/v1/images", reply.status(), reply.header(), reply.body());
        return Optional.of(JSON.readTree(reply.body()));
    }

    // ------------------------------------------------------------------ internals

    /** A small answer, read whole. */
    private record Reply(int status, Function<String, Optional<String>> header, byte[] body) {}

    /**
     * One request with a small body (or none: null), over {@link PlainHttp} to an http:// registry,
     * else (and for redirects and chunked answers) over the JDK client.
     */
    private Reply call(String method, URI uri, Map<String, String> headers, byte[] body) throws IOException, InterruptedException {
        if (plain()) {
            PlainHttp.Body payload = body == null ? null : new PlainHttp.Body(ByteBuffer.wrap(body), null, 0, 0, n -> { });
            try (PlainHttp answer = plainHttp(uri, method, headers, payload, timeout)) {
                if (answer.status() / 100 != 3 && answer.plainBody()) return new Reply(answer.status(), answer::header, answer.readAll());
            }
        }
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(timeout)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
        headers.forEach(request::header);
        HttpResponse<byte[]> response = send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
        return new Reply(response.statusCode(), response.headers()::firstValue, response.body());
    }

    private Map<String, String> auth() throws ClientException { return Map.of("Authorization", "Bearer " + secret()); }

    /** A read: carries the token when there is one, so reads of a private registry (serve --private) work too. */
    private HttpRequest.Builder reading(URI uri) {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(timeout);
        token.ifPresent(secret -> request.header("Authorization", "Bearer " + secret));
        return request;
    }

    /** The headers of a read: the token when there is one (see {@link #reading}). */
    public Map<String, String> readAuth() {
        return token.map(secret -> Map.of("Authorization", "Bearer " + secret)).orElse(Map.of());
    }

    private HttpRequest.Builder authed(URI uri) throws ClientException {
        return HttpRequest.newBuilder(uri).timeout(timeout).header("Authorization", "Bearer " + secret());
    }

    private String secret() throws ClientException {
        return token.orElseThrow(() -> new ClientException(
                "this needs a registry token: pass --token or set STRATA_TOKEN (make one on the registry with"
                        + " 'strata token create --scope push,publish')"));
    }

    <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> handler) throws IOException, InterruptedException {
        try {
            return http().send(request, handler);
        } catch (java.net.ConnectException e) {
            throw new java.net.ConnectException("cannot connect to " + base + " (" + (e.getMessage() == null ? "connection refused" : e.getMessage())
                    + "); is the registry running and the --registry URL right?");
        }
    }

    private static OptionalLong offsetHeader(HttpResponse<?> response) {
        return offset(response.headers().firstValue("Upload-Offset"));
    }

    private static OptionalLong offset(Optional<String> value) {
        if (value.isEmpty()) return OptionalLong.empty();
        try {
            return OptionalLong.of(Long.parseLong(value.get().strip()));
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    /** A one-line account of a network failure, for messages ("connection reset", "closed before an answer"). */
    public static String describe(IOException e) {
        String message = e.getMessage();
        String kind = e.getClass().getSimpleName();
        if (message != null && message.contains("header parser received no bytes")) return "the connection closed before the registry answered";
        if (e instanceof java.io.EOFException || (message != null
                && (message.startsWith("EOF reached") || message.startsWith("fixed content-length")))) {
            return "the connection closed early";
        }
        return message == null || message.isBlank() ? kind : message.contains(" ") ? message : kind + ": " + message;
    }

    /** Turns an error response into an exception carrying the registry's own message ({"errors":[{code,message}]}). */
    static RegistryException error(String what, int status, java.net.http.HttpHeaders headers, byte[] body) {
        return error(what, status, headers::firstValue, body);
    }

    static RegistryException error(String what, int status, java.util.function.Function<String, Optional<String>> headers, byte[] body) {
        String code = "";
        String message = "";
        try {
            if (body != null && body.length > 0 && body.length < MAX_ERROR_BODY) {
                JsonNode error = JSON.readTree(body).path("errors").path(0);
                code = error.path("code").asText("");
                message = error.path("message").asText("");
            }
        } catch (IOException e) {
            // not JSON: a proxy's page; the status says enough
        }
        OptionalLong offset = OptionalLong.empty();
        Optional<String> header = headers.apply("Upload-Offset");
        if (header.isPresent()) {
            try {
                offset = OptionalLong.of(Long.parseLong(header.get().strip()));
            } catch (NumberFormatException ignored) {
                // absent is fine
            }
        }
        String text = what + ": the registry answered " + status + (code.isEmpty() ? "" : " " + code)
                + (message.isEmpty() ? "" : ": " + message);
        return new RegistryException(text, status, code, offset);
    }
}
