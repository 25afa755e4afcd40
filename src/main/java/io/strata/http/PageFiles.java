package io.strata.http;

import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.PreEncodedHttpField;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Enumeration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * The catalog page's files (HTML, scripts, styles), built into the jar under {@code static/}
 * and held in memory: a few dozen KiB, read once at start. Serving them through Javalin's
 * classpath resources mounted the whole jar as a zip file system, whose index of its ~16,000
 * entries kept ~20 MiB of a 64 MiB heap alive for the life of the server, and the collector
 * ran a concurrent cycle every few hundred requests to keep up.
 */
final class PageFiles {
    private static final HttpField NO_CACHE = new PreEncodedHttpField(HttpHeader.CACHE_CONTROL, "no-cache");

    /** One file, with its header fields made once. */
    private record File(byte[] body, HttpField contentType, HttpField etag, HttpField contentLength) {}

    private final Map<String, File> files;

    private PageFiles(Map<String, File> files) { this.files = Map.copyOf(files); }

    /** The files under {@code static/} on the class path (in the jar, or a directory when run from classes); none if absent. */
    static PageFiles fromClasspath() {
        Map<String, byte[]> found = new LinkedHashMap<>();
        URL marker = PageFiles.class.getResource("/static/index.html");
        try {
            if (marker == null) {
                // no page built in: the routes answer 404
            } else if (marker.getProtocol().equals("jar")) {
                JarURLConnection connection = (JarURLConnection) marker.openConnection();
                try (JarFile jar = new JarFile(Path.of(connection.getJarFileURL().toURI()).toFile())) {
                    for (Enumeration<JarEntry> entries = jar.entries(); entries.hasMoreElements(); ) {
                        JarEntry entry = entries.nextElement();
                        if (entry.isDirectory() || !entry.getName().startsWith("static/")) continue;
                        try (InputStream in = jar.getInputStream(entry)) {
                            found.put(entry.getName().substring("static".length()), in.readAllBytes());
                        }
                    }
                }
            } else {
                Path dir = Path.of(marker.toURI()).getParent();
                try (Stream<Path> walk = Files.walk(dir)) {
                    for (Path file : walk.filter(Files::isRegularFile).toList()) {
                        found.put("/" + dir.relativize(file).toString().replace('\\', '/'), Files.readAllBytes(file));
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the catalog page's files from the jar", e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        Map<String, File> files = new LinkedHashMap<>();
        found.forEach((path, body) -> files.put(path, file(path, body)));
        File index = files.get("/index.html");
        if (index != null) files.put("/", index);
        return new PageFiles(files);
    }

    /** Each file's path as served ({@code /}, {@code /index.html}, {@code /app.js}, ...). */
    Iterable<String> paths() { return files.keySet(); }

    /** The file at {@code path}, answered from memory. */
    FastReads.Read read(String path) { return read(files.get(path)); }

    /** A file held in memory, answered from there (always inline: nothing here blocks). */
    private static FastReads.Read read(File file) {
        return new FastReads.Read() {
            @Override
            public void handle(Request request, Response response, Callback callback, String rest, boolean head) {
                serve(request, response, callback, head, file.etag(), file.contentType(), file.contentLength(), file.body());
            }

            @Override
            public boolean inline(String rest) { return true; }
        };
    }

    /**
     * Bytes held in memory, revalidated by their strong ETag ({@code no-cache}): 304 when
     * If-None-Match names it, else 200 with the bytes (none for a HEAD).
     */
    static void serve(Request request, Response response, Callback callback, boolean head, HttpField etag, HttpField contentType,
                      HttpField contentLength, byte[] body) {
        HttpFields.Mutable headers = response.getHeaders();
        headers.put(etag);
        headers.put(NO_CACHE);
        if (LayerHandler.matchesAny(request.getHeaders().get(HttpHeader.IF_NONE_MATCH), etag.getValue())) {
            response.setStatus(304);
            FastReads.endWithoutBody(response, callback);
            return;
        }
        response.setStatus(200);
        headers.put(contentType);
        headers.put(contentLength);
        FastReads.endWith(response, callback, body, head);
    }

    /** A fixed body of {@code contentType}, answered like a page file (ETag, 304, always inline). */
    static FastReads.Read fixed(byte[] body, String contentType) { return read(file(body, contentType)); }

    private static File file(String path, byte[] body) { return file(body, contentType(path)); }

    private static File file(byte[] body, String contentType) {
        String hash;
        try {
            hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(body)).substring(0, 32);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        return new File(body, new PreEncodedHttpField(HttpHeader.CONTENT_TYPE, contentType),
                new PreEncodedHttpField(HttpHeader.ETAG, "\"" + hash + "\""),
                new PreEncodedHttpField(HttpHeader.CONTENT_LENGTH, Integer.toString(body.length)));
    }

    static String contentType(String path) {
        String name = path.toLowerCase(Locale.ROOT);
        if (name.endsWith(".html")) return "text/html; charset=utf-8";
        if (name.endsWith(".js") || name.endsWith(".mjs")) return "text/javascript; charset=utf-8";
        if (name.endsWith(".css")) return "text/css; charset=utf-8";
        if (name.endsWith(".svg")) return "image/svg+xml";
        if (name.endsWith(".json")) return "application/json";
        if (name.endsWith(".png")) return "image/png";
        if (name.endsWith(".ico")) return "image/x-icon";
        if (name.endsWith(".woff2")) return "font/woff2";
        return "application/octet-stream";
    }
}
