package io.strata.layer.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * Checks the entries of the two tables qemu reads whole when it opens an image: the L1 table
 * (pointers to L2 tables) and the refcount table (pointers to refcount blocks). Each entry that
 * is set must have its reserved bits clear and point at a whole cluster inside the file that is
 * neither the header cluster nor one of the tables, or qemu would read a table out of thin air,
 * past the end of a file served over HTTP, or out of another table. Read in bounded chunks from
 * the stored upload, so a 32 MiB L1 table costs no more memory than a small one.
 *
 * <p>The L2 tables the L1 table points at are read too (one cluster at a time), so a file cut
 * short after valid tables, whose guest data clusters lie past its end, is refused instead of
 * reading as zeros on every client. Without internal snapshots every L2 table belongs to one L1
 * entry, so the L2 tables together are never larger than the file; reading stops there, which
 * bounds the work by the file's length even when a hostile L1 table names one L2 table a
 * million times.
 */
final class TableEntries {
    private static final int CHUNK_BYTES = 64 * 1024;
    /** L1 entry: bits 9-55 offset, 63 "copied"; 0-8 and 56-62 reserved. */
    private static final long L1_RESERVED = 0x7f000000000001ffL;
    private static final long L1_OFFSET = 0x00fffffffffffe00L;
    /** Refcount table entry: bits 9-63 offset; 0-8 reserved. */
    private static final long REFCOUNT_RESERVED = 0x1ffL;
    /** Standard L2 entry: bit 63 "copied", 62 "compressed", 9-55 offset, 0 "reads as zeros"; 1-8 and 56-61 reserved. */
    private static final long L2_COMPRESSED = 1L << 62;
    private static final long L2_RESERVED = 0x3f000000000001feL;
    private static final long L2_OFFSET = 0x00fffffffffffe00L;
    private static final long EXTENDED_L2_BIT = 1L << 4;

    private TableEntries() {}

    static void check(Qcow2Info info, long length, Qcow2Inspector.Source source) throws IOException, Qcow2Exception {
        int clusterSize = 1 << info.clusterBits();
        boolean extendedL2 = (info.incompatibleFeatures() & EXTENDED_L2_BIT) != 0;
        for (Qcow2Info.Table table : info.tables()) {
            if (table.check() == Check.L1_TABLE_OFFSET) {
                L2Tables l2 = new L2Tables(info.clusterBits(), extendedL2, info.tables(), length, source);
                scan(table, "L2 table", Check.L1_ENTRY, L1_RESERVED, L1_OFFSET, info.tables(), clusterSize, length, source, l2);
            } else if (table.check() == Check.REFCOUNT_TABLE_OFFSET) {
                scan(table, "refcount block", Check.REFCOUNT_TABLE_ENTRY, REFCOUNT_RESERVED, ~REFCOUNT_RESERVED,
                        info.tables(), clusterSize, length, source, null);
            }
        }
    }

    private static void scan(Qcow2Info.Table table, String target, Check check, long reserved, long offsetMask,
                             List<Qcow2Info.Table> tables, int clusterSize, long length, Qcow2Inspector.Source source,
                             L2Tables l2) throws IOException, Qcow2Exception {
        ByteBuffer chunk = ByteBuffer.allocate((int) Math.min(CHUNK_BYTES, Math.max(8, table.length())));
        for (long done = 0; done < table.length(); ) {
            chunk.clear().limit((int) Math.min(chunk.capacity(), table.length() - done));
            while (chunk.hasRemaining()) {
                if (source.read(chunk, table.offset() + done + chunk.position()) < 0) {
                    throw new IOException("the file ended inside its " + table.name());
                }
            }
            chunk.flip();
            for (int at = 0; at + 8 <= chunk.limit(); at += 8) {
                long entry = chunk.getLong(at);
                if (entry == 0) continue;
                long index = (done + at) / 8;
                long offset = entry & offsetMask;
                if ((entry & reserved) != 0) {
                    throw refused(check, table, index, entry, "sets reserved bits");
                }
                if (offset == 0) continue; // only flags: nothing allocated
                if (offset < clusterSize || offset % clusterSize != 0 || offset > length - clusterSize) {
                    throw refused(check, table, index, entry, "points at a " + target + " that is not a whole cluster"
                            + " inside the file (" + length + " bytes) after the header cluster");
                }
                for (Qcow2Info.Table other : tables) {
                    if (other.overlaps(offset, clusterSize, clusterSize)) {
                        throw refused(check, table, index, entry, "points its " + target + " into the " + other.name());
                    }
                }
                if (l2 != null) l2.check(offset, index);
            }
            done += chunk.limit();
        }
    }

    /** Reads each L2 table once it is named and checks where its entries put guest data. */
    private static final class L2Tables {
        private final int clusterBits;
        private final int clusterSize;
        private final int entryBytes;
        private final List<Qcow2Info.Table> tables;
        private final long length;
        private final Qcow2Inspector.Source source;
        private final ByteBuffer cluster;
        private long read;

        L2Tables(int clusterBits, boolean extended, List<Qcow2Info.Table> tables, long length, Qcow2Inspector.Source source) {
            this.clusterBits = clusterBits;
            this.clusterSize = 1 << clusterBits;
            this.entryBytes = extended ? 16 : 8;
            this.tables = tables;
            this.length = length;
            this.source = source;
            this.cluster = ByteBuffer.allocate(clusterSize);
        }

        void check(long l2Offset, long l1Index) throws IOException, Qcow2Exception {
            read += clusterSize;
            if (read > length) {
                throw new Qcow2Exception(Check.L2_ENTRY, "the L1 table names more L2 tables than the file can hold"
                        + " (L1 entry " + l1Index + " and earlier ones share L2 tables), which only internal snapshots do;"
                        + " " + ADVICE);
            }
            cluster.clear();
            while (cluster.hasRemaining()) {
                if (source.read(cluster, l2Offset + cluster.position()) < 0) throw new IOException("the file ended inside an L2 table");
            }
            for (int at = 0; at < clusterSize; at += entryBytes) {
                long entry = cluster.getLong(at);
                if (entry == 0) continue;
                String where = "entry " + (at / entryBytes) + " of the L2 table at offset " + l2Offset + " (0x"
                        + Long.toHexString(entry) + ")";
                if ((entry & L2_COMPRESSED) != 0) {
                    // Compressed: the host offset is the low 62 - (cluster_bits - 8) bits, in bytes.
                    long offset = entry & ((1L << (62 - (clusterBits - 8))) - 1);
                    if (offset < clusterSize || offset >= length) {
                        throw new Qcow2Exception(Check.L2_ENTRY, where + " puts compressed guest data outside the file ("
                                + length + " bytes); the file is truncated or damaged: " + ADVICE);
                    }
                    continue;
                }
                if ((entry & L2_RESERVED) != 0) {
                    throw new Qcow2Exception(Check.L2_ENTRY, where + " sets reserved bits; " + ADVICE);
                }
                long offset = entry & L2_OFFSET;
                if (offset == 0) continue; // unallocated, or reads as zeros
                // A last data cluster may end early (qemu reads the rest as zeros), so only its start must be inside.
                if (offset < clusterSize || offset % clusterSize != 0 || offset >= length) {
                    throw new Qcow2Exception(Check.L2_ENTRY, where + " puts guest data at a cluster that is not"
                            + " inside the file (" + length + " bytes) after the header; the file is truncated or damaged: "
                            + ADVICE);
                }
                for (Qcow2Info.Table other : tables) {
                    if (other.overlaps(offset, clusterSize, clusterSize)) {
                        throw new Qcow2Exception(Check.L2_ENTRY, where + " puts guest data into the " + other.name()
                                + "; " + ADVICE);
                    }
                }
            }
        }
    }

    private static final String ADVICE = "repair it with 'qemu-img check -r all layer.qcow2' or write a fresh copy"
            + " with 'qemu-img convert -O qcow2 layer.qcow2 fixed.qcow2' and upload that";

    private static Qcow2Exception refused(Check check, Qcow2Info.Table table, long index, long entry, String what) {
        return new Qcow2Exception(check, "entry " + index + " of the " + table.name() + " (0x" + Long.toHexString(entry)
                + ") " + what + "; the image is damaged: repair it with 'qemu-img check -r all layer.qcow2' or write a"
                + " fresh copy with 'qemu-img convert -O qcow2 layer.qcow2 fixed.qcow2' and upload that");
    }
}
