package io.strata.index;

import io.strata.layer.Digest;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HexFormat;
import java.util.zip.GZIPOutputStream;

/**
 * A rendered document held in memory with a strong ETag per representation. The gzipped copy is
 * made on the first request that asks for it, once: rendering stays fast for a catalog change,
 * and a registry whose clients never ask for gzip never pays for it.
 */
public final class Document {
    private final String contentType;
    private final byte[] body;
    private final String etag;
    private volatile byte[] gzipped;

    Document(String contentType, byte[] body) {
        this.contentType = contentType;
        this.body = body;
        this.etag = "\"" + sha256(body).substring(0, 32) + "\"";
    }

    public String contentType() { return contentType; }

    public byte[] body() { return body; }

    public String etag() { return etag; }

    /** A gzip representation is a different representation, so it has its own strong ETag. */
    public String gzipEtag() { return etag.substring(0, etag.length() - 1) + "-gzip\""; }

    public byte[] gzipped() {
        byte[] done = gzipped;
        if (done != null) return done;
        synchronized (this) {
            if (gzipped == null) gzipped = gzip(body);
            return gzipped;
        }
    }

    private static byte[] gzip(byte[] body) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(Math.max(1024, body.length / 4));
        try (GZIPOutputStream gz = new GZIPOutputStream(out, 1 << 16)) {
            gz.write(body);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static String sha256(byte[] bytes) { return HexFormat.of().formatHex(Digest.sha256().digest(bytes)); }
}
