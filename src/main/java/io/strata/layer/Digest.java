package io.strata.layer;

import java.util.HexFormat;

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

    /** The name a child layer's qcow2 header uses for this layer: {@code <hex>.qcow2}. */
    public String fileName() { return hex + ".qcow2"; }

    public String shortHex() { return hex.substring(0, 12); }

    @Override public int compareTo(Digest other) { return hex.compareTo(other.hex); }

    @Override public String toString() { return hex; }
}
