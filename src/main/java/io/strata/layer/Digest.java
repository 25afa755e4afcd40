package io.strata.layer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.function.LongConsumer;

/** A layer id: the lowercase hex sha256 of the layer's exact bytes (64 characters). */
public record Digest(String hex) implements Comparable<Digest> {
    public Digest {
        if (!isValid(hex)) throw new IllegalArgumentException("not a lowercase hex sha256: " + hex);
    }

    /** A plain loop, not a regex: catalogs construct tens of thousands of these when they load. */
    public static boolean isValid(String hex) {
        if (hex == null || hex.length() != 64) return false;
        for (int i = 0; i < 64; i++) {
            char c = hex.charAt(i);
            if ((c < '0' || c > '9') && (c < 'a' || c > 'f')) return false;
        }
        return true;
    }

    public static Digest of(byte[] sha256) { return new Digest(HexFormat.of().formatHex(sha256)); }

    /** A fresh SHA-256 state; every JDK has the algorithm, so its absence is not a recoverable error. */
    public static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The digest of a whole file, telling {@code progress} the bytes read so far. */
    public static Digest ofFile(Path file, LongConsumer progress) throws IOException {
        MessageDigest sha256 = sha256();
        byte[] buffer = new byte[1 << 20];
        long done = 0;
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buffer)) > 0; ) {
                sha256.update(buffer, 0, n);
                done += n;
                progress.accept(done);
            }
        }
        return of(sha256.digest());
    }

    /** The name a child layer's qcow2 header uses for this layer: {@code <hex>.qcow2}. */
    public String fileName() { return hex + ".qcow2"; }

    public String shortHex() { return hex.substring(0, 12); }

    @Override public int compareTo(Digest other) { return hex.compareTo(other.hex); }

    @Override public String toString() { return hex; }
}
