package io.strata.layer.qcow2;

import static io.strata.layer.qcow2.HeaderFields.*;

import io.strata.layer.Digest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The format inspector of DESIGN §2: decides whether a file is a qcow2 layer Strata may store and
 * serve. It runs in two steps so an upload streams through in bounded memory: {@link #inspect}
 * judges the first cluster (and the first {@link #MAX_HEADER_BYTES}) as soon as they arrive;
 * {@link #inspectEnd} then judges what needs the file's length and its last
 * {@link #TAIL_BYTES} once the upload is complete, before it is stored.
 *
 * <p>Layers are opened by qemu on every client that pulls them, so anything in a header that makes
 * qemu reach outside the chain is refused: a backing name other than a sibling layer
 * ({@code <sha256>.qcow2}) could name a local path, a URL or a {@code json:} spec; an external data
 * file or an unknown incompatible feature changes how the rest of the file is read. Dirty and
 * corrupt images are refused because their metadata cannot be trusted. The checks follow qemu's
 * {@code docs/interop/qcow2.txt} and the limits qemu's driver enforces when opening an image.
 *
 * <p>Header fields used here (all big-endian; version 2 stops after offset 71):
 * <pre>
 *   0  u32 magic "QFI\xfb"          32  u32 crypt_method
 *   4  u32 version                 72  u64 incompatible_features (v3)
 *   8  u64 backing_file_offset     80  u64 compatible_features   (v3)
 *  16  u32 backing_file_size       88  u64 autoclear_features    (v3)
 *  20  u32 cluster_bits           100  u32 header_length          (v3)
 *  24  u64 size (virtual)         104  u8  compression_type       (v3, if header_length > 104)
 * </pre>
 * Header extensions ({@code u32 type, u32 length, data padded to 8}) follow the header until a
 * type 0 or the start of the backing name (or the end of the first cluster without one).
 *
 * <p>The whole first cluster must be present: the backing name and the extensions live anywhere
 * in it, and a real image always extends past it (the refcount table sits at a later cluster), so
 * a shorter file is {@link Check#TRUNCATED} whatever its header claims.
 *
 * <p>A backing format extension without a backing name is accepted: qemu ignores it, and it names
 * nothing that could be opened.
 *
 * <p>Beyond the header, it checks what qemu reads when it opens the file, with qemu's own limits
 * ({@code block/qcow2.h}): the L1 table (at most {@code QCOW_MAX_L1_SIZE}, 32 MiB, and large
 * enough for the virtual size), the refcount table (at most {@code QCOW_MAX_REFTABLE_SIZE}, 8 MiB),
 * the bitmap directory and the encryption header, each cluster-aligned, inside the file and apart
 * from each other and from the header cluster; the entries of the L1, L2 and refcount tables and
 * of the bitmap directory point inside the file ({@link TableEntries}, {@link BitmapDirectory}).
 * It does not check refcount values against cluster use: that is all of {@code qemu-img check},
 * and a reader of a layer never consults refcounts. Internal snapshots are refused (a layer is
 * one state of a disk), and so are header extensions Strata does not know, and files that another
 * format's detector would also claim ({@link ForeignFormats}).
 */
public final class Qcow2Inspector {
    /** The largest cluster qemu opens (cluster_bits 21), hence the most bytes a header can span. */
    public static final int MAX_HEADER_BYTES = 2 * 1024 * 1024;

    /** A canonical backing name is a layer's file name: its sha256 followed by this suffix. */
    static final String LAYER_SUFFIX = ".qcow2";

    /** How many bytes at the end of the file {@link #inspectEnd} needs. */
    public static final int TAIL_BYTES = ForeignFormats.TAIL_BYTES;

    private static final int VERSION_3_MIN_HEADER_LENGTH = 104;
    private static final int MIN_CLUSTER_BITS = 9;
    private static final int MAX_CLUSTER_BITS = 21;
    private static final int MIN_EXTENDED_L2_CLUSTER_BITS = 14;

    private static final long DIRTY_BIT = 1L;
    private static final long CORRUPT_BIT = 1L << 1;
    private static final long EXTERNAL_DATA_FILE_BIT = 1L << 2;
    private static final long COMPRESSION_TYPE_BIT = 1L << 3;
    private static final long EXTENDED_L2_BIT = 1L << 4;
    private static final long KNOWN_INCOMPATIBLE_BITS =
            DIRTY_BIT | CORRUPT_BIT | EXTERNAL_DATA_FILE_BIT | COMPRESSION_TYPE_BIT | EXTENDED_L2_BIT;

    private static final int COMPRESSION_ZLIB = 0;
    private static final int COMPRESSION_ZSTD = 1;
    private static final int CRYPT_NONE = 0;
    private static final int CRYPT_AES = 1;
    private static final int CRYPT_LUKS = 2;

    // qemu block/qcow2.h: QCOW_MAX_L1_SIZE, QCOW_MAX_REFTABLE_SIZE, QCOW2_MAX_BITMAPS,
    // QCOW2_MAX_BITMAP_DIRECTORY_SIZE (1024 bytes per bitmap).
    private static final long MAX_L1_BYTES = 32L << 20;
    private static final long MAX_REFCOUNT_TABLE_BYTES = 8L << 20;
    private static final long MAX_BITMAPS = 65535;
    private static final long MAX_BITMAP_DIRECTORY_BYTES = 1024 * MAX_BITMAPS;
    private static final int MAX_REFCOUNT_ORDER = 6;
    private static final int VERSION_2_REFCOUNT_ORDER = 4;
    /** qemu keeps the backing format in a 16-byte buffer with its NUL and refuses longer ones. */
    private static final int MAX_BACKING_FORMAT_LENGTH = 15;
    private static final int FEATURE_NAME_ENTRY_LENGTH = 48;
    private static final int BITMAPS_EXTENSION_LENGTH = 24;
    private static final int CRYPT_HEADER_EXTENSION_LENGTH = 16;
    private static final long DATA_FILE_RAW_AUTOCLEAR_BIT = 1L << 1;

    private static final String REBASE_ADVICE = "run 'qemu-img rebase -u -F qcow2 -b <parent-sha256>.qcow2 child.qcow2'"
            + " (the parent's sha256 is its layer id), or upload the chain with 'strata push', which does this for you";
    private static final String CONVERT_ADVICE = "write a fresh copy with 'qemu-img convert -O qcow2 layer.qcow2 fixed.qcow2'"
            + " and upload that";
    private static final int MAX_QUOTED_NAME_LENGTH = 120;

    private Qcow2Inspector() {}

    /**
     * Inspects the start of an upload.
     *
     * @param head     the first bytes of the file, from its position to its limit (left unchanged)
     * @param complete true if {@code head} is the whole file; then any check that needs more bytes
     *                 fails with {@link Check#TRUNCATED}. When false, {@code head} must hold at least
     *                 {@link #MAX_HEADER_BYTES}, whatever the file turns out to need, so that a caller
     *                 passing too little fails on every input rather than only on large clusters.
     * @throws IllegalArgumentException if {@code complete} is false and fewer than
     *                                  {@link #MAX_HEADER_BYTES} bytes are given (a caller bug)
     */
    public static Qcow2Info inspect(ByteBuffer head, boolean complete, boolean allowEncryption) throws Qcow2Exception {
        ByteBuffer bytes = head.slice(); // big-endian, as qcow2; absolute reads leave the caller's buffer alone
        if (!complete && bytes.remaining() < MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("an incomplete file needs at least " + MAX_HEADER_BYTES
                    + " bytes of its start to be inspected, got " + bytes.remaining());
        }
        requireMagic(bytes);
        int version = readVersion(bytes);
        int clusterBits = readClusterBits(bytes);
        int clusterSize = 1 << clusterBits;
        require(bytes, clusterSize, "its first cluster (" + clusterSize + " bytes) holds the header");

        long virtualSize = bytes.getLong(SIZE_OFFSET);
        if (virtualSize < 0) {
            throw new Qcow2Exception(Check.VIRTUAL_SIZE, "the virtual size " + Long.toUnsignedString(virtualSize)
                    + " is larger than qemu can address; the header is damaged: " + CONVERT_ADVICE);
        }
        if (virtualSize % 512 != 0) {
            // qemu addresses a disk in 512-byte sectors and silently drops the rest; qemu-img never writes such a size.
            throw new Qcow2Exception(Check.VIRTUAL_SIZE, "the virtual size " + virtualSize + " is not a multiple of 512"
                    + " bytes; qemu would ignore the last " + virtualSize % 512 + " bytes: " + CONVERT_ADVICE);
        }
        long headerLength = version == 2 ? VERSION_2_HEADER_LENGTH : readVersion3HeaderLength(bytes, clusterSize);
        long incompatible = version == 2 ? 0 : bytes.getLong(INCOMPATIBLE_FEATURES_OFFSET);
        long compatible = version == 2 ? 0 : bytes.getLong(COMPATIBLE_FEATURES_OFFSET);
        long autoclear = version == 2 ? 0 : bytes.getLong(AUTOCLEAR_FEATURES_OFFSET);
        int compressionType = headerLength > COMPRESSION_TYPE_OFFSET ? Byte.toUnsignedInt(bytes.get(COMPRESSION_TYPE_OFFSET)) : 0;
        checkIncompatibleFeatures(incompatible, clusterBits, compressionType);
        if ((autoclear & DATA_FILE_RAW_AUTOCLEAR_BIT) != 0) {
            throw externalDataFile(); // "the external data file is raw": meaningless, and refused by qemu, without one
        }

        int cryptMethod = bytes.getInt(CRYPT_METHOD_OFFSET);
        checkCryptMethod(cryptMethod, allowEncryption);

        long backingOffset = bytes.getLong(BACKING_FILE_OFFSET_OFFSET);
        long backingSize = Integer.toUnsignedLong(bytes.getInt(BACKING_FILE_SIZE_OFFSET));
        if (backingOffset != 0) {
            checkBackingNamePlacement(backingOffset, backingSize, headerLength, clusterSize);
        }
        // qemu reads extensions up to the backing name whenever an offset is set, even for an empty name.
        long extensionsEnd = backingOffset != 0 ? backingOffset : clusterSize;
        Extensions extensions = readExtensions(bytes, headerLength, extensionsEnd, allowEncryption, clusterSize);
        checkEncryptionConsistency(cryptMethod, extensions.fullDiskEncryption());

        Optional<String> backingName = Optional.empty();
        if (backingOffset != 0 && backingSize > 0) {
            byte[] name = new byte[(int) backingSize];
            bytes.get((int) backingOffset, name);
            backingName = Optional.of(canonicalBackingName(name));
            checkBackingFormat(extensions.backingFormat(), backingName.get());
        }

        checkRefcountOrder(version == 2 ? VERSION_2_REFCOUNT_ORDER : bytes.getInt(REFCOUNT_ORDER_OFFSET));
        checkNoSnapshots(bytes, clusterSize);
        List<Qcow2Info.Table> tables = new ArrayList<>();
        tables.add(l1Table(bytes, clusterBits, virtualSize, (incompatible & EXTENDED_L2_BIT) != 0));
        tables.add(refcountTable(bytes, clusterBits));
        extensions.bitmapDirectory().ifPresent(tables::add);
        extensions.cryptHeader().ifPresent(tables::add);
        checkNoOverlap(tables, clusterSize);
        ForeignFormats.checkHead(bytes);
        return new Qcow2Info(version, clusterBits, virtualSize, backingName, extensions.backingFormat(),
                incompatible, compatible, autoclear, compressionType, tables, extensions.bitmapCount());
    }

    /** Reads bytes of the file at a position, as {@link FileChannel#read(ByteBuffer, long)} does (-1 at the end). */
    @FunctionalInterface
    public interface Source {
        int read(ByteBuffer destination, long position) throws IOException;
    }

    /**
     * The checks that need the whole file, run once an upload is complete and before it is
     * stored: every table {@code info} points at ends inside the file, the entries of the L1, L2
     * and refcount tables and of the bitmap directory point inside it, and the file does not end
     * in another format's footer. Reads those tables in bounded chunks, never more than the file's
     * length in all, and the last {@link #TAIL_BYTES}, from {@code file}.
     *
     * @param length the file's length in bytes
     */
    public static void inspectEnd(Qcow2Info info, long length, Source file) throws IOException, Qcow2Exception {
        for (Qcow2Info.Table table : info.tables()) {
            if (table.offset() > length - table.length()) {
                throw new Qcow2Exception(table.check(), "the " + table.name() + " (" + table.length() + " bytes at offset "
                        + table.offset() + ") ends past the end of the file at " + length + "; the file is truncated"
                        + " or its header lies: upload the whole file, or " + CONVERT_ADVICE);
            }
        }
        TableEntries.check(info, length, file);
        for (Qcow2Info.Table table : info.tables()) {
            if (table.check() == Check.BITMAPS_EXTENSION) BitmapDirectory.check(info, table, info.bitmapCount(), length, file);
        }
        ByteBuffer tail = ByteBuffer.allocate((int) Math.min(length, TAIL_BYTES));
        long from = length - tail.capacity();
        while (tail.hasRemaining()) {
            if (file.read(tail, from + tail.position()) < 0) throw new IOException("the file is shorter than " + length + " bytes");
        }
        ForeignFormats.checkTail(tail.flip());
    }

    /** Both steps on a file held in memory (position to limit), e.g. by a test or a client. */
    public static Qcow2Info inspect(ByteBuffer file, boolean allowEncryption) throws Qcow2Exception {
        ByteBuffer bytes = file.slice();
        Qcow2Info info = inspect(bytes, true, allowEncryption);
        try {
            inspectEnd(info, bytes.remaining(), source(bytes));
        } catch (IOException e) {
            throw new IllegalStateException("reading memory cannot fail", e);
        }
        return info;
    }

    /** A {@link Source} over bytes in memory (position to limit). */
    public static Source source(ByteBuffer bytes) {
        ByteBuffer file = bytes.slice();
        return (destination, position) -> {
            if (position >= file.limit()) return -1;
            int count = (int) Math.min(destination.remaining(), file.limit() - position);
            destination.put(file.slice((int) position, count));
            return count;
        };
    }

    /**
     * Inspects a stored file, both steps, from its first {@link #MAX_HEADER_BYTES} bytes, its length
     * and its last {@link #TAIL_BYTES} (startup recovery, {@code strata verify}).
     */
    public static Qcow2Info inspect(Path file, boolean allowEncryption) throws IOException, Qcow2Exception {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer head = ByteBuffer.allocate((int) Math.min(channel.size(), MAX_HEADER_BYTES));
            while (head.hasRemaining() && channel.read(head) >= 0) {
                // read until the buffer is full or the file ends
            }
            head.flip();
            // Fewer bytes than the limit can only mean the end of the file was reached.
            Qcow2Info info = inspect(head, head.remaining() < MAX_HEADER_BYTES, allowEncryption);
            inspectEnd(info, channel.size(), channel::read);
            return info;
        }
    }

    private static void requireMagic(ByteBuffer bytes) throws Qcow2Exception {
        int available = Math.min(bytes.remaining(), MAGIC.length);
        for (int index = 0; index < available; index++) {
            if (bytes.get(index) != MAGIC[index]) {
                throw new Qcow2Exception(Check.MAGIC, "this is not a qcow2 image: it does not start with the qcow2 magic"
                        + " 'QFI\\xfb'; convert the disk with 'qemu-img convert -O qcow2 disk.img layer.qcow2' and upload that");
            }
        }
        require(bytes, MAGIC.length, "the qcow2 magic is 4 bytes");
    }

    private static int readVersion(ByteBuffer bytes) throws Qcow2Exception {
        require(bytes, VERSION_OFFSET + 4, "the version follows the magic");
        int version = bytes.getInt(VERSION_OFFSET);
        if (version != 2 && version != 3) {
            throw new Qcow2Exception(Check.VERSION, "qcow2 version " + Integer.toUnsignedString(version)
                    + " is not supported, only versions 2 and 3 are; " + CONVERT_ADVICE);
        }
        return version;
    }

    private static int readClusterBits(ByteBuffer bytes) throws Qcow2Exception {
        require(bytes, CLUSTER_BITS_OFFSET + 4, "the header has cluster_bits at offset 20");
        int clusterBits = bytes.getInt(CLUSTER_BITS_OFFSET);
        if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
            throw new Qcow2Exception(Check.CLUSTER_BITS, "cluster_bits " + Integer.toUnsignedString(clusterBits)
                    + " is outside 9..21 (512-byte to 2 MiB clusters), the range qemu opens; "
                    + "write a copy with 'qemu-img convert -O qcow2 -o cluster_size=64k layer.qcow2 fixed.qcow2'");
        }
        return clusterBits;
    }

    private static long readVersion3HeaderLength(ByteBuffer bytes, int clusterSize) throws Qcow2Exception {
        long headerLength = Integer.toUnsignedLong(bytes.getInt(HEADER_LENGTH_OFFSET));
        if (headerLength < VERSION_3_MIN_HEADER_LENGTH || headerLength % 8 != 0 || headerLength > clusterSize) {
            throw new Qcow2Exception(Check.HEADER_LENGTH, "header_length " + headerLength + " is invalid: a version 3"
                    + " header is at least 104 bytes, a multiple of 8 and within the first cluster (" + clusterSize
                    + " bytes); the header is damaged: " + CONVERT_ADVICE);
        }
        return headerLength;
    }

    private static void checkIncompatibleFeatures(long incompatible, int clusterBits, int compressionType)
            throws Qcow2Exception {
        long unknown = incompatible & ~KNOWN_INCOMPATIBLE_BITS;
        if (unknown != 0) {
            throw new Qcow2Exception(Check.UNKNOWN_INCOMPATIBLE_FEATURE, "incompatible feature bits 0x"
                    + Long.toHexString(unknown) + " are not defined by the qcow2 specification, so nobody can tell how"
                    + " to read this image; " + CONVERT_ADVICE);
        }
        if ((incompatible & DIRTY_BIT) != 0) {
            throw new Qcow2Exception(Check.DIRTY, "the image is marked dirty: it was not closed cleanly and its"
                    + " refcounts may be wrong; repair it with 'qemu-img check -r all layer.qcow2' and upload it again");
        }
        if ((incompatible & CORRUPT_BIT) != 0) {
            throw new Qcow2Exception(Check.CORRUPT, "the image is marked corrupt: qemu found its metadata"
                    + " inconsistent; repair it with 'qemu-img check -r all layer.qcow2' or " + CONVERT_ADVICE);
        }
        if ((incompatible & EXTERNAL_DATA_FILE_BIT) != 0) {
            throw externalDataFile();
        }
        if ((incompatible & EXTENDED_L2_BIT) != 0 && clusterBits < MIN_EXTENDED_L2_CLUSTER_BITS) {
            throw new Qcow2Exception(Check.CLUSTER_BITS, "extended L2 entries need clusters of at least 16 KiB"
                    + " (cluster_bits 14), this image has cluster_bits " + clusterBits + "; " + CONVERT_ADVICE);
        }
        boolean compressionBit = (incompatible & COMPRESSION_TYPE_BIT) != 0;
        if (compressionType != COMPRESSION_ZLIB && compressionType != COMPRESSION_ZSTD) {
            throw new Qcow2Exception(Check.COMPRESSION_TYPE, "compression_type " + compressionType
                    + " is unknown (0 is zlib, 1 is zstd); " + CONVERT_ADVICE);
        }
        if (compressionBit != (compressionType != COMPRESSION_ZLIB)) {
            throw new Qcow2Exception(Check.COMPRESSION_TYPE, "compression_type " + compressionType
                    + (compressionBit ? " is zlib but" : " is not zlib but") + " incompatible feature bit 3 is "
                    + (compressionBit ? "set" : "clear") + "; the header contradicts itself: " + CONVERT_ADVICE);
        }
    }

    private static void checkCryptMethod(int cryptMethod, boolean allowEncryption) throws Qcow2Exception {
        if (cryptMethod == CRYPT_NONE) {
            return;
        }
        if (cryptMethod != CRYPT_AES && cryptMethod != CRYPT_LUKS) {
            throw new Qcow2Exception(Check.ENCRYPTION, "crypt_method " + Integer.toUnsignedString(cryptMethod)
                    + " is not an encryption method qcow2 defines (1 AES, 2 LUKS); " + CONVERT_ADVICE);
        }
        if (!allowEncryption) {
            throw encryptionRefused(cryptMethod == CRYPT_AES ? "AES" : "LUKS");
        }
    }

    private static void checkEncryptionConsistency(int cryptMethod, boolean fullDiskEncryption) throws Qcow2Exception {
        if (fullDiskEncryption != (cryptMethod == CRYPT_LUKS)) {
            throw new Qcow2Exception(Check.ENCRYPTION, "the full disk encryption header extension must be present"
                    + " exactly when crypt_method is 2 (LUKS), but crypt_method is " + cryptMethod
                    + "; the header contradicts itself: " + CONVERT_ADVICE);
        }
    }

    private static void checkBackingNamePlacement(long offset, long size, long headerLength, int clusterSize)
            throws Qcow2Exception {
        if (size > MAX_BACKING_NAME_LENGTH) {
            throw new Qcow2Exception(Check.BACKING_NAME_LENGTH, "the backing file name is " + size
                    + " bytes long, qcow2 allows at most 1023; " + REBASE_ADVICE);
        }
        // offset is unsigned in the file: a negative long is past every cluster, so reject before adding.
        if (offset < headerLength || offset > clusterSize || size > clusterSize - offset) {
            throw new Qcow2Exception(Check.BACKING_OFFSET, "the backing file name (offset "
                    + Long.toUnsignedString(offset) + ", " + size + " bytes) does not lie between the end of the header ("
                    + headerLength + ") and the end of the first cluster (" + clusterSize + "); the header is damaged: "
                    + REBASE_ADVICE);
        }
    }

    private record Extensions(Optional<String> backingFormat, boolean fullDiskEncryption,
                              Optional<Qcow2Info.Table> bitmapDirectory, Optional<Qcow2Info.Table> cryptHeader,
                              long bitmapCount) {}

    private static Extensions readExtensions(ByteBuffer bytes, long start, long end, boolean allowEncryption,
                                             int clusterSize) throws Qcow2Exception {
        Optional<String> backingFormat = Optional.empty();
        Optional<Qcow2Info.Table> bitmapDirectory = Optional.empty();
        Optional<Qcow2Info.Table> cryptHeader = Optional.empty();
        for (HeaderExtensions.Found found : HeaderExtensions.walk(bytes, start, end)) {
            ByteBuffer data = ByteBuffer.wrap(found.data());
            switch (found.type()) {
                case EXTENSION_BACKING_FORMAT -> {
                    if (found.data().length > MAX_BACKING_FORMAT_LENGTH) {
                        throw HeaderExtensions.malformed("the backing format extension is " + found.data().length
                                + " bytes long, qemu reads at most " + MAX_BACKING_FORMAT_LENGTH);
                    }
                    backingFormat = Optional.of(new String(found.data(), StandardCharsets.ISO_8859_1));
                }
                case EXTENSION_FEATURE_NAME_TABLE -> {
                    if (found.data().length % FEATURE_NAME_ENTRY_LENGTH != 0) {
                        throw HeaderExtensions.malformed("the feature name table is " + found.data().length
                                + " bytes long, not a whole number of 48-byte entries");
                    }
                }
                case EXTENSION_BITMAPS -> bitmapDirectory = Optional.of(bitmapDirectory(data, clusterSize));
                case EXTENSION_FULL_DISK_ENCRYPTION -> {
                    if (!allowEncryption) {
                        throw encryptionRefused("a full disk encryption header");
                    }
                    cryptHeader = Optional.of(cryptHeader(data, clusterSize));
                }
                case EXTENSION_EXTERNAL_DATA_FILE -> throw externalDataFile();
                default -> throw new Qcow2Exception(Check.UNKNOWN_HEADER_EXTENSION, "header extension "
                        + found.typeHex() + " at offset " + found.offset() + " is not one Strata knows (backing format,"
                        + " feature name table, bitmaps, full disk encryption), so nobody can tell what qemu or a"
                        + " future qemu does with it; " + CONVERT_ADVICE);
            }
        }
        long bitmapCount = bitmapDirectory.isPresent() ? bitmapCount(bytes, start, end) : 0;
        return new Extensions(backingFormat, cryptHeader.isPresent(), bitmapDirectory, cryptHeader, bitmapCount);
    }

    private static long bitmapCount(ByteBuffer bytes, long start, long end) throws Qcow2Exception {
        for (HeaderExtensions.Found found : HeaderExtensions.walk(bytes, start, end)) {
            if (found.type() == EXTENSION_BITMAPS) return Integer.toUnsignedLong(ByteBuffer.wrap(found.data()).getInt(0));
        }
        throw new IllegalStateException("no bitmaps extension");
    }

    private static Qcow2Info.Table bitmapDirectory(ByteBuffer data, int clusterSize) throws Qcow2Exception {
        String remove = "; remove the bitmaps with 'qemu-img bitmap --remove layer.qcow2 NAME' or " + CONVERT_ADVICE;
        if (data.remaining() != BITMAPS_EXTENSION_LENGTH) {
            throw new Qcow2Exception(Check.BITMAPS_EXTENSION, "the bitmaps extension is " + data.remaining()
                    + " bytes long, not " + BITMAPS_EXTENSION_LENGTH + remove);
        }
        long count = Integer.toUnsignedLong(data.getInt(0));
        int reserved = data.getInt(4);
        long size = data.getLong(8);
        long offset = data.getLong(16);
        if (reserved != 0 || count == 0 || count > MAX_BITMAPS) {
            throw new Qcow2Exception(Check.BITMAPS_EXTENSION, "the bitmaps extension claims " + count + " bitmaps"
                    + (reserved != 0 ? " and sets reserved bits" : "") + "; qemu allows 1 to " + MAX_BITMAPS + remove);
        }
        if (size <= 0 || size > MAX_BITMAP_DIRECTORY_BYTES) {
            throw new Qcow2Exception(Check.BITMAPS_EXTENSION, "the bitmap directory is " + Long.toUnsignedString(size)
                    + " bytes long; qemu allows 1 to " + MAX_BITMAP_DIRECTORY_BYTES + remove);
        }
        return table("bitmap directory", Check.BITMAPS_EXTENSION, offset, size, clusterSize);
    }

    private static Qcow2Info.Table cryptHeader(ByteBuffer data, int clusterSize) throws Qcow2Exception {
        if (data.remaining() != CRYPT_HEADER_EXTENSION_LENGTH) {
            throw new Qcow2Exception(Check.CRYPT_HEADER, "the full disk encryption extension is " + data.remaining()
                    + " bytes long, not " + CRYPT_HEADER_EXTENSION_LENGTH + "; " + CONVERT_ADVICE);
        }
        long offset = data.getLong(0);
        long length = data.getLong(8);
        if (length <= 0) {
            throw new Qcow2Exception(Check.CRYPT_HEADER, "the encryption header is " + Long.toUnsignedString(length)
                    + " bytes long; " + CONVERT_ADVICE);
        }
        return table("encryption header", Check.CRYPT_HEADER, offset, length, clusterSize);
    }

    private static void checkRefcountOrder(int order) throws Qcow2Exception {
        if (Integer.toUnsignedLong(order) > MAX_REFCOUNT_ORDER) {
            throw new Qcow2Exception(Check.REFCOUNT_ORDER, "refcount_order " + Integer.toUnsignedString(order)
                    + " asks for refcounts wider than the 64 bits qcow2 allows (at most 6); " + CONVERT_ADVICE);
        }
    }

    private static void checkNoSnapshots(ByteBuffer bytes, int clusterSize) throws Qcow2Exception {
        // qemu checks the (empty) table's offset even without snapshots.
        table("snapshot table", Check.SNAPSHOTS, bytes.getLong(SNAPSHOTS_OFFSET_OFFSET), 0, clusterSize);
        int count = bytes.getInt(NB_SNAPSHOTS_OFFSET);
        if (count != 0) {
            throw new Qcow2Exception(Check.SNAPSHOTS, "the image holds " + (count == 1 ? "an internal snapshot"
                    : Integer.toUnsignedString(count) + " internal snapshots") + "; a layer is one state of a disk, and a snapshot table is more for qemu to parse and"
                    + " for clients to download: list them with 'qemu-img snapshot -l layer.qcow2', delete them with"
                    + " 'qemu-img snapshot -d NAME layer.qcow2', or " + CONVERT_ADVICE);
        }
    }

    private static Qcow2Info.Table l1Table(ByteBuffer bytes, int clusterBits, long virtualSize, boolean extendedL2)
            throws Qcow2Exception {
        long entries = Integer.toUnsignedLong(bytes.getInt(L1_SIZE_OFFSET));
        if (entries > MAX_L1_BYTES / 8) {
            throw new Qcow2Exception(Check.L1_TABLE_SIZE, "l1_size " + entries + " makes an L1 table of "
                    + entries * 8 + " bytes, more than the 32 MiB qemu opens; the header is damaged: " + CONVERT_ADVICE);
        }
        // One L1 entry points at one L2 table of a cluster, whose entries (8 bytes, 16 extended) each map a cluster.
        long guestBytesPerEntry = ((1L << clusterBits) / (extendedL2 ? 16 : 8)) << clusterBits;
        long needed = virtualSize / guestBytesPerEntry + (virtualSize % guestBytesPerEntry == 0 ? 0 : 1);
        if (entries < needed) {
            throw new Qcow2Exception(Check.L1_TABLE_TOO_SMALL, "the virtual size " + virtualSize + " needs " + needed
                    + " L1 entries with " + (1 << clusterBits) + "-byte clusters, but l1_size is " + entries
                    + "; qemu refuses such an image (\"L1 table is too small\"): " + CONVERT_ADVICE);
        }
        return table("L1 table", Check.L1_TABLE_OFFSET, bytes.getLong(L1_TABLE_OFFSET_OFFSET), entries * 8, 1 << clusterBits);
    }

    private static Qcow2Info.Table refcountTable(ByteBuffer bytes, int clusterBits) throws Qcow2Exception {
        long clusters = Integer.toUnsignedLong(bytes.getInt(REFCOUNT_TABLE_CLUSTERS_OFFSET));
        long maxClusters = MAX_REFCOUNT_TABLE_BYTES >> clusterBits;
        if (clusters == 0 || clusters > maxClusters) {
            throw new Qcow2Exception(Check.REFCOUNT_TABLE_SIZE, "refcount_table_clusters is " + clusters + "; qemu opens"
                    + " 1 to " + maxClusters + " clusters (8 MiB) of refcount table: " + CONVERT_ADVICE);
        }
        return table("refcount table", Check.REFCOUNT_TABLE_OFFSET, bytes.getLong(REFCOUNT_TABLE_OFFSET_OFFSET),
                clusters << clusterBits, 1 << clusterBits);
    }

    /** A table at {@code offset}, which must be cluster-aligned and leave room for {@code length} bytes in 63 bits. */
    private static Qcow2Info.Table table(String name, Check check, long offset, long length, int clusterSize)
            throws Qcow2Exception {
        if (offset < 0 || offset % clusterSize != 0 || offset > Long.MAX_VALUE - length) {
            throw new Qcow2Exception(check, "the " + name + " offset " + Long.toUnsignedString(offset) + " is not a"
                    + " multiple of the cluster size (" + clusterSize + ") inside a file qemu can address; the header"
                    + " is damaged: " + CONVERT_ADVICE);
        }
        return new Qcow2Info.Table(name, check, offset, length);
    }

    /** The header cluster and every table occupy whole clusters, each of its own. */
    private static void checkNoOverlap(List<Qcow2Info.Table> tables, int clusterSize) throws Qcow2Exception {
        List<Qcow2Info.Table> all = new ArrayList<>();
        all.add(new Qcow2Info.Table("header cluster", Check.TABLE_OVERLAP, 0, clusterSize));
        all.addAll(tables);
        for (int first = 0; first < all.size(); first++) {
            for (int second = first + 1; second < all.size(); second++) {
                Qcow2Info.Table one = all.get(first);
                Qcow2Info.Table other = all.get(second);
                if (one.length() > 0 && one.overlaps(other.offset(), other.clusterEnd(clusterSize) - other.offset(), clusterSize)) {
                    throw new Qcow2Exception(Check.TABLE_OVERLAP, "the " + one.name() + " (offset " + one.offset()
                            + ", " + one.length() + " bytes) and the " + other.name() + " (offset " + other.offset()
                            + ", " + other.length() + " bytes) share clusters; qemu would read one as the other: "
                            + CONVERT_ADVICE);
                }
            }
        }
    }

    private static String canonicalBackingName(byte[] name) throws Qcow2Exception {
        // ISO-8859-1 maps every byte to one char, so non-ASCII bytes can never pass as hex.
        String asLatin1 = new String(name, StandardCharsets.ISO_8859_1);
        if (asLatin1.endsWith(LAYER_SUFFIX)
                && Digest.isValid(asLatin1.substring(0, asLatin1.length() - LAYER_SUFFIX.length()))) {
            return asLatin1;
        }
        String quoted = quote(name);
        throw new Qcow2Exception(Check.BACKING_NAME, "the backing file name " + quoted + " is " + describe(asLatin1)
                + "; a layer's backing file must be exactly '<parent-sha256>.qcow2' (64 lowercase hex digits), which"
                + " qemu resolves next to the layer on the registry and in every client cache: " + REBASE_ADVICE);
    }

    private static String describe(String name) {
        if (name.startsWith("json:")) {
            return "a json: specification";
        }
        if (name.contains("://") || name.matches("(?s)[A-Za-z][A-Za-z0-9+.-]*:.*")) {
            return "a URL or protocol name";
        }
        if (name.startsWith("/")) {
            return "an absolute local path";
        }
        if (name.contains("/") || name.contains("\\")) {
            return "a path with directories";
        }
        return "not a layer file name";
    }

    private static void checkBackingFormat(Optional<String> backingFormat, String backingName) throws Qcow2Exception {
        if (backingFormat.filter("qcow2"::equals).isEmpty()) {
            String found = backingFormat.map(format -> "is " + quote(format.getBytes(StandardCharsets.ISO_8859_1)))
                    .orElse("is missing");
            throw new Qcow2Exception(Check.BACKING_FORMAT, "the backing file format " + found + "; a layer's parent is"
                    + " a qcow2 layer and the header must say so, or qemu would guess the format of downloaded data: run"
                    + " 'qemu-img rebase -u -F qcow2 -b " + backingName + " child.qcow2'");
        }
    }

    private static Qcow2Exception externalDataFile() {
        return new Qcow2Exception(Check.EXTERNAL_DATA_FILE, "the image keeps its guest data in an external data file,"
                + " which the registry cannot serve and which would make qemu open a file on every client; write a"
                + " self-contained copy with 'qemu-img convert -O qcow2 layer.qcow2 fixed.qcow2' and upload that");
    }

    private static Qcow2Exception encryptionRefused(String what) {
        return new Qcow2Exception(Check.ENCRYPTION, "the image is encrypted (" + what + ") and this registry is not"
                + " configured to accept encrypted layers; upload an unencrypted image or ask the operator to allow"
                + " encryption");
    }

    private static void require(ByteBuffer bytes, long needed, String why) throws Qcow2Exception {
        if (bytes.remaining() < needed) {
            throw new Qcow2Exception(Check.TRUNCATED, bytes.remaining() == 0
                    ? "the upload is empty; upload the whole qcow2 file"
                    : "the file ends after " + bytes.remaining() + " bytes, but " + why + "; upload the whole file");
        }
    }

    /** Quotes untrusted bytes for a message: printable ASCII kept, the rest escaped, long names cut. */
    private static String quote(byte[] value) {
        StringBuilder quoted = new StringBuilder("'");
        for (int index = 0; index < value.length && index < MAX_QUOTED_NAME_LENGTH; index++) {
            int character = Byte.toUnsignedInt(value[index]);
            if (character >= 0x20 && character < 0x7f && character != '\\' && character != '\'') {
                quoted.append((char) character);
            } else {
                quoted.append(String.format("\\x%02x", character));
            }
        }
        return quoted.append(value.length > MAX_QUOTED_NAME_LENGTH ? "'..." : "'").toString();
    }

}
