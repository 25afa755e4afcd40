package io.strata.testing;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A loopback HTTP proxy in front of a real server, for the two things a real server will not do on
 * demand: fail a request once, and serve a catalog too large to publish in a test. Every other
 * request (method, path and query, end-to-end headers, body) is forwarded unchanged and the
 * server's answer returned as it came, status, headers and bytes.
 */
public final class FaultProxy implements AutoCloseable {
    private static final String INDEX = "/index.json";
    /** Request bodies are buffered; nothing a browser test sends comes near this. */
    private static final int MAX_REQUEST_BODY = 16 << 20;
    /** Hop-by-hop headers (RFC 9110 §7.6.1) and those the JDK client or server set themselves. */
    private static final Set<String> NOT_FORWARDED = Set.of("connection", "keep-alive", "proxy-connection", "te",
            "trailer", "transfer-encoding", "upgrade", "host", "content-length", "expect", "date");

    private final URI upstream;
    private final HttpServer server;
    private final ExecutorService executor;
    private final HttpClient client;
    /** Path -> status the next GET of that path is answered with. */
    private final Map<String, Integer> faults = new ConcurrentHashMap<>();
    private final AtomicReference<byte[]> indexBody = new AtomicReference<>();

    private FaultProxy(URI upstream) throws IOException {
        this.upstream = upstream;
        this.executor = Executors.newFixedThreadPool(8, runnable -> {
            Thread thread = new Thread(runnable, "fault-proxy");
            thread.setDaemon(true);
            return thread;
        });
        this.client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5))
                .followRedirects(HttpClient.Redirect.NEVER).version(HttpClient.Version.HTTP_1_1).build();
        this.server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.setExecutor(executor);
        server.start();
    }

    /** Starts listening on an ephemeral loopback port, forwarding to {@code upstream} (e.g. {@code http://127.0.0.1:1234}). */
    public static FaultProxy start(String upstream) throws IOException {
        return new FaultProxy(URI.create(upstream));
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    public String url(String path) {
        return baseUrl() + path;
    }

    /** The next {@code GET /index.json} is answered with {@code status} and an error body; later ones are forwarded again. */
    public void failIndexOnce(int status) {
        failOnce(INDEX, status);
    }

    /**
     * The next {@code GET} of exactly {@code path} (as sent, e.g. {@code /api/v1/alias-history/debian/12})
     * is answered with {@code status} and an error body; later ones are forwarded again.
     */
    public void failOnce(String path, int status) {
        faults.put(path, status);
    }

    /** Answers every {@code GET /index.json} with {@code json} instead of the server's index; null forwards again. */
    public void substituteIndex(String json) {
        indexBody.set(json == null ? null : json.getBytes(StandardCharsets.UTF_8));
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            boolean get = "GET".equals(exchange.getRequestMethod());
            String path = exchange.getRequestURI().getRawPath();
            boolean index = get && INDEX.equals(path);
            Integer fault = get ? faults.remove(path) : null;
            byte[] substitute = index ? indexBody.get() : null;
            if (fault != null) {
                answer(exchange, fault, "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"injected by FaultProxy\"}]}");
            } else if (substitute != null) {
                exchange.getResponseHeaders().set("Content-Type", "application/json");
                exchange.getResponseHeaders().set("Cache-Control", "no-cache");
                exchange.sendResponseHeaders(200, substitute.length);
                exchange.getResponseBody().write(substitute);
            } else {
                forward(exchange);
            }
        }
    }

    private void forward(HttpExchange exchange) throws IOException {
        byte[] body;
        try (InputStream in = exchange.getRequestBody()) {
            body = in.readNBytes(MAX_REQUEST_BODY + 1);
        }
        if (body.length > MAX_REQUEST_BODY) {
            answer(exchange, 413, "{\"errors\":[{\"code\":\"TOO_LARGE\",\"message\":\"FaultProxy buffers at most 16 MiB\"}]}");
            return;
        }
        HttpRequest.Builder request = HttpRequest.newBuilder(upstream.resolve(exchange.getRequestURI().getRawPath()
                        + (exchange.getRequestURI().getRawQuery() == null ? "" : "?" + exchange.getRequestURI().getRawQuery())))
                .timeout(Duration.ofSeconds(30))
                .method(exchange.getRequestMethod(), body.length == 0 ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(body));
        exchange.getRequestHeaders().forEach((name, values) -> {
            if (!NOT_FORWARDED.contains(name.toLowerCase(Locale.ROOT))) values.forEach(value -> request.header(name, value));
        });
        HttpResponse<InputStream> response;
        try {
            response = client.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            answer(exchange, 502, "{\"errors\":[{\"code\":\"BAD_GATEWAY\",\"message\":\"FaultProxy: upstream unreachable\"}]}");
            return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        response.headers().map().forEach((name, values) -> {
            if (!NOT_FORWARDED.contains(name.toLowerCase(Locale.ROOT))) exchange.getResponseHeaders().put(name, List.copyOf(values));
        });
        long length = response.headers().firstValueAsLong("Content-Length").orElse(-1);
        boolean bodiless = length == 0 || "HEAD".equals(exchange.getRequestMethod())
                || response.statusCode() == 204 || response.statusCode() == 304;
        // The JDK server's convention: -1 means no body, 0 means a chunked body of unknown length.
        exchange.sendResponseHeaders(response.statusCode(), bodiless ? -1 : Math.max(0, length));
        try (InputStream in = response.body(); OutputStream out = exchange.getResponseBody()) {
            if (!bodiless) in.transferTo(out);
        }
    }

    private static void answer(HttpExchange exchange, int status, String json) throws IOException {
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.getResponseHeaders().set("Cache-Control", "no-store");
        exchange.sendResponseHeaders(status, bytes.length);
        exchange.getResponseBody().write(bytes);
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
