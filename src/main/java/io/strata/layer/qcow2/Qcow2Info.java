package io.strata.layer.qcow2;

import io.strata.layer.Digest;
import java.util.List;
import java.util.Optional;

/**
 * What the inspector read from a header that passed every check. Feature bitmasks are version 3
 * fields and are zero for version 2, as the qcow2 specification says.
 *
 * @param backingName   the backing file name; when the inspector produced this record it is
 *                      always the canonical {@code <parent-sha256>.qcow2}
 * @param backingFormat the backing format header extension, if present (qemu ignores it, and so
 *                      does Strata, when there is no backing name)
 * @param compressionType 0 for zlib, 1 for zstd
 * @param tables        where the header says qemu will read its tables (L1, refcount table,
 *                      bitmap directory, encryption header), for the checks that need the file's
 *                      length ({@link Qcow2Inspector#inspectEnd})
 * @param bitmapCount   how many bitmaps the bitmaps extension announces, 0 without one
 */
public record Qcow2Info(
        int version,
        int clusterBits,
        long virtualSize,
        Optional<String> backingName,
        Optional<String> backingFormat,
        long incompatibleFeatures,
        long compatibleFeatures,
        long autoclearFeatures,
        int compressionType,
        List<Table> tables,
        long bitmapCount) {

    /**
     * A table the header points at: {@code length} bytes at {@code offset}, cluster-aligned.
     *
     * @param check the check that refuses the file when this table is not inside it
     */
    public record Table(String name, Check check, long offset, long length) {
        /** The end of the last cluster this table occupies: a table owns whole clusters. */
        public long clusterEnd(int clusterSize) {
            long rounded = offset + length + (clusterSize - 1); // offset + length fit 63 bits (the inspector checks)
            return rounded < 0 ? Long.MAX_VALUE : rounded / clusterSize * clusterSize;
        }

        /** Whether {@code bytes} at {@code start} share a cluster with this (non-empty) table. */
        public boolean overlaps(long start, long bytes, int clusterSize) {
            return length > 0 && bytes > 0 && start < clusterEnd(clusterSize) && offset < start + bytes;
        }
    }

    public Qcow2Info {
        tables = List.copyOf(tables);
    }

    /**
     * The parent layer named by the canonical backing name, empty for a base layer. Throws
     * {@link IllegalArgumentException} for a record built by hand with a non-canonical name.
     */
    public Optional<Digest> parent() {
        return backingName.map(name -> new Digest(name.substring(0, name.length() - Qcow2Inspector.LAYER_SUFFIX.length())));
    }
}
