package io.strata.layer.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Checks the persistent bitmap directory, which qemu reads and checks when it opens an image
 * with bitmaps (docs/interop/qcow2.txt, "Bitmaps"): a bitmap that breaks qemu's constraints
 * makes the whole image fail to open on every client. Each entry must be a known type with a
 * sane granularity, no unknown flags, no extra data, a name of 1 to 1023 bytes, and a bitmap
 * table sized for the virtual size, cluster-aligned and inside the file, whose entries point at
 * clusters inside it. The entries must fill the directory exactly and number nb_bitmaps. Read
 * entry by entry, so memory stays at one entry and one chunk of a bitmap table; and since qemu
 * gives every bitmap its own table, the tables together never exceed the file, which bounds the
 * reading even when 65535 hostile entries name one large table.
 */
final class BitmapDirectory {
    private static final int ENTRY_HEADER_BYTES = 24;
    private static final int TYPE_DIRTY_TRACKING = 1;
    private static final int MIN_GRANULARITY_BITS = 9;
    private static final int MAX_GRANULARITY_BITS = 31;
    private static final int MAX_NAME_BYTES = 1023;
    private static final int FLAG_IN_USE = 1;
    private static final int KNOWN_FLAGS = FLAG_IN_USE | 2; // 2: "auto", tracked while the image is open
    // qemu's BME_MAX_TABLE_SIZE and BME_MAX_PHYS_SIZE.
    private static final long MAX_TABLE_ENTRIES = 0x8000000L;
    private static final long MAX_BITMAP_BYTES = 0x20000000L;
    /** Bitmap table entry: bits 9-55 offset, bit 0 "all ones" (only without an offset); the rest reserved. */
    private static final long TABLE_OFFSET = 0x00fffffffffffe00L;
    private static final long TABLE_RESERVED = ~TABLE_OFFSET & ~1L;
    private static final int CHUNK_BYTES = 64 * 1024;

    private BitmapDirectory() {}

    static void check(Qcow2Info info, Qcow2Info.Table directory, long count, long length, Qcow2Inspector.Source source)
            throws IOException, Qcow2Exception {
        int clusterSize = 1 << info.clusterBits();
        long position = directory.offset();
        long end = directory.offset() + directory.length();
        long found = 0;
        long tableBytes = 0;
        ByteBuffer header = ByteBuffer.allocate(ENTRY_HEADER_BYTES);
        while (position < end) {
            if (end - position < ENTRY_HEADER_BYTES) throw refused("the bitmap directory ends inside an entry");
            read(source, header.clear(), position);
            long tableOffset = header.getLong(0);
            long tableSize = Integer.toUnsignedLong(header.getInt(8));
            int flags = header.getInt(12);
            int type = Byte.toUnsignedInt(header.get(16));
            int granularityBits = Byte.toUnsignedInt(header.get(17));
            int nameSize = Short.toUnsignedInt(header.getShort(18));
            long extraData = Integer.toUnsignedLong(header.getInt(20));
            long entryBytes = (ENTRY_HEADER_BYTES + extraData + nameSize + 7) & ~7L;
            if (entryBytes > end - position) throw refused("bitmap " + found + " runs past the end of the bitmap directory");
            ByteBuffer name = ByteBuffer.allocate(nameSize);
            read(source, name, position + ENTRY_HEADER_BYTES + extraData);
            String label = "bitmap '" + new String(name.array(), StandardCharsets.UTF_8).replaceAll("[^\\x20-\\x7e]", "?") + "'";
            if (type != TYPE_DIRTY_TRACKING || granularityBits < MIN_GRANULARITY_BITS || granularityBits > MAX_GRANULARITY_BITS) {
                throw refused(label + " has type " + type + " and granularity 2^" + granularityBits
                        + "; qemu knows type 1 with granularities 2^9 to 2^31");
            }
            if ((flags & ~KNOWN_FLAGS) != 0 || (flags & FLAG_IN_USE) != 0 || extraData != 0) {
                throw refused(label + ((flags & FLAG_IN_USE) != 0 ? " is marked in use: the image was not closed cleanly"
                        : " has unknown flags or extra data"));
            }
            if (nameSize == 0 || nameSize > MAX_NAME_BYTES) throw refused("a bitmap name is " + nameSize + " bytes, qcow2 allows 1 to 1023");
            long bits = (info.virtualSize() >> granularityBits) + ((info.virtualSize() & ((1L << granularityBits) - 1)) == 0 ? 0 : 1);
            long bitsPerCluster = 8L * clusterSize;
            long expected = bits / bitsPerCluster + (bits % bitsPerCluster == 0 ? 0 : 1);
            if (tableOffset < 0 || tableOffset % clusterSize != 0 || tableSize > MAX_TABLE_ENTRIES
                    || tableSize * clusterSize > MAX_BITMAP_BYTES || (tableOffset != 0 && tableSize != expected)
                    || (tableOffset != 0 && (tableOffset < clusterSize || tableOffset > length - tableSize * 8))) {
                throw refused(label + " has a bitmap table of " + tableSize + " entries at offset "
                        + Long.toUnsignedString(tableOffset) + "; a disk of " + info.virtualSize() + " bytes needs "
                        + expected + " entries, cluster-aligned and inside the file (" + length + " bytes)");
            }
            if (tableOffset != 0) tableBytes += tableSize * 8;
            if (tableBytes > length) throw refused("the bitmap tables together are larger than the file: bitmaps share tables");
            for (Qcow2Info.Table table : info.tables()) {
                if (tableOffset != 0 && table.overlaps(tableOffset, tableSize * 8, clusterSize)) {
                    throw refused(label + " has its bitmap table inside the " + table.name());
                }
            }
            checkTable(info, label, tableOffset, tableSize, clusterSize, length, source);
            found++;
            position += entryBytes;
        }
        if (found != count) throw refused("the bitmap directory holds " + found + " bitmaps, the extension says " + count);
    }

    private static void checkTable(Qcow2Info info, String label, long offset, long entries, int clusterSize, long length,
                                   Qcow2Inspector.Source source) throws IOException, Qcow2Exception {
        if (offset == 0 || entries == 0) return;
        ByteBuffer chunk = ByteBuffer.allocate((int) Math.min(CHUNK_BYTES, entries * 8));
        for (long done = 0; done < entries * 8; done += chunk.limit()) {
            chunk.clear().limit((int) Math.min(chunk.capacity(), entries * 8 - done));
            read(source, chunk, offset + done);
            for (int at = 0; at < chunk.limit(); at += 8) {
                long entry = chunk.getLong(at);
                long data = entry & TABLE_OFFSET;
                if ((entry & TABLE_RESERVED) != 0 || (data != 0 && (entry & 1) != 0)
                        || (data != 0 && (data < clusterSize || data > length - clusterSize))) {
                    throw refused(label + ": entry " + (done + at) / 8 + " of its bitmap table (0x" + Long.toHexString(entry)
                            + ") sets reserved bits or points outside the file");
                }
                for (Qcow2Info.Table table : info.tables()) {
                    if (data != 0 && table.overlaps(data, clusterSize, clusterSize)) {
                        throw refused(label + ": entry " + (done + at) / 8 + " of its bitmap table puts bitmap data inside the "
                                + table.name());
                    }
                }
            }
        }
    }

    private static void read(Qcow2Inspector.Source source, ByteBuffer into, long position) throws IOException {
        while (into.hasRemaining()) {
            if (source.read(into, position + into.position()) < 0) throw new IOException("the file ended inside the bitmap directory");
        }
        into.flip();
    }

    private static Qcow2Exception refused(String what) {
        return new Qcow2Exception(Check.BITMAP_DIRECTORY, what + "; qemu would refuse to open the image: remove the"
                + " bitmaps with 'qemu-img bitmap --remove layer.qcow2 NAME' or write a fresh copy with"
                + " 'qemu-img convert -O qcow2 layer.qcow2 fixed.qcow2' and upload that");
    }
}
