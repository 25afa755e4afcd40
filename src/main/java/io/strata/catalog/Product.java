package io.strata.catalog;

/** {@code os:release:arch:variant}, e.g. {@code debian:12:amd64:cloud}. */
public record Product(String os, String release, String arch, String variant) {
    public String id() { return os + ":" + release + ":" + arch + ":" + variant; }

    /** Parses an id; empty parts or a wrong count give null. */
    public static Product parse(String id) {
        if (id == null) return null;
        String[] parts = id.split(":", -1);
        if (parts.length != 4) return null;
        for (String part : parts) if (part.isEmpty()) return null;
        return new Product(parts[0], parts[1], parts[2], parts[3]);
    }

    @Override public String toString() { return id(); }
}
