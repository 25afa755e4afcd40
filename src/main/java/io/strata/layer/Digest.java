package io.strata.layer;

import java.util.HexFormat;
import java.util.regex.Pattern;

/** A layer id: the lowercase hex sha256 of the layer's exact bytes (64 characters). */
public record Digest(String hex) implements Comparable<Digest> {
    private static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");

    public Digest {
        if (hex == null || !HEX64.matcher(hex).matches()) {
            throw new IllegalArgumentException("not a lowercase hex sha256: " + hex);
        }
    }

    public static boolean isValid(String hex) { return hex != null && HEX64.matcher(hex).matches(); }

    public static Digest of(byte[] sha256) { return new Digest(HexFormat.of().formatHex(sha256)); }

    /** The name a child layer's qcow2 header uses for this layer: {@code <hex>.qcow2}. */
    public String fileName() { return hex + ".qcow2"; }

    public String shortHex() { return hex.substring(0, 12); }

    @Override public int compareTo(Digest other) { return hex.compareTo(other.hex); }

    @Override public String toString() { return hex; }
}
