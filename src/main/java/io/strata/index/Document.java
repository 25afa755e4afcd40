package io.strata.index;

import io.strata.layer.Digest;
import io.strata.signing.Minisign;
import io.strata.signing.SigningKey;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.HexFormat;
import java.util.zip.GZIPOutputStream;

/**
 * A rendered document held in memory with a strong ETag per representation. The gzipped copy and
 * the signature are made on the first request that asks for them, once: rendering stays fast for
 * a catalog change, and a registry whose clients never ask for gzip never pays for it.
 */
public final class Document {
    private final String contentType;
    private final String name;
    private final byte[] body;
    private final String etag;
    private final SigningKey key;
    private volatile byte[] gzipped;
    private volatile byte[] minisig;

    /** @param name the document's path without the leading slash, as the signature's trusted comment names it */
    Document(String contentType, String name, byte[] body, SigningKey key) {
        this.contentType = contentType;
        this.name = name;
        this.body = body;
        this.etag = "\"" + sha256(body).substring(0, 32) + "\"";
        this.key = key;
    }

    public String contentType() { return contentType; }

    public byte[] body() { return body; }

    public String etag() { return etag; }

    /** A gzip representation is a different representation, so it has its own strong ETag. */
    public String gzipEtag() { return etag.substring(0, etag.length() - 1) + "-gzip\""; }

    /** The signature follows its rendering: a new document, a new ETag. */
    public String minisigEtag() { return etag.substring(0, etag.length() - 1) + "-minisig\""; }

    public byte[] gzipped() {
        byte[] done = gzipped;
        if (done != null) return done;
        synchronized (this) {
            if (gzipped == null) gzipped = gzip(body);
            return gzipped;
        }
    }

    /** True once {@link #minisig} is made (it then answers at once). */
    public boolean signed() { return minisig != null; }

    /**
     * The minisign signature of {@link #body} (the identity representation: a client that asked for
     * gzip checks what it decoded). Its trusted comment names the document and its ETag, so a
     * client can tell a signature of another rendering (fetched across a publish) from a forgery.
     */
    public byte[] minisig() {
        byte[] done = minisig;
        if (done != null) return done;
        synchronized (this) {
            if (minisig == null) {
                String comment = "timestamp:" + Instant.now().getEpochSecond() + "\tfile:" + name + "\tetag:" + etag;
                minisig = Minisign.signature(key, body, comment).getBytes(StandardCharsets.UTF_8);
            }
            return minisig;
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
