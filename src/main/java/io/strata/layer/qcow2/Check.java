package io.strata.layer.qcow2;

import java.util.Locale;

/**
 * One constant per rule of the format inspector (DESIGN §2). The {@link #id()} is what the API
 * puts in an error's detail, so a publisher's tooling can react to a rule without parsing prose;
 * renaming a constant changes the API.
 */
public enum Check {
    /** The bytes end before the header (the whole first cluster) does. */
    TRUNCATED,
    /** The file does not start with {@code QFI\xfb}: not qcow2 at all. */
    MAGIC,
    /** Only qcow2 versions 2 and 3 exist; qemu opens nothing else. */
    VERSION,
    /** Version 3 header_length below 104, not a multiple of 8, or beyond the first cluster. */
    HEADER_LENGTH,
    /** cluster_bits outside 9..21 (qemu's limits), or below 14 with extended L2 entries. */
    CLUSTER_BITS,
    /** The virtual size does not fit a signed 64-bit number, or is not a multiple of qemu's 512-byte sectors. */
    VIRTUAL_SIZE,
    /** The backing file name does not lie between the header and the end of the first cluster. */
    BACKING_OFFSET,
    /** The backing file name is longer than the 1023 bytes qcow2 allows. */
    BACKING_NAME_LENGTH,
    /** The backing file name is not exactly {@code <64 lowercase hex>.qcow2}. */
    BACKING_NAME,
    /** A backing file name without the backing format header extension saying {@code qcow2}. */
    BACKING_FORMAT,
    /** An incompatible feature bit the qcow2 specification does not define. */
    UNKNOWN_INCOMPATIBLE_FEATURE,
    /** compression_type unknown, or inconsistent with incompatible feature bit 3. */
    COMPRESSION_TYPE,
    /** Incompatible bit 0: refcounts may be wrong because the image was not closed cleanly. */
    DIRTY,
    /** Incompatible bit 1: qemu found the metadata inconsistent. */
    CORRUPT,
    /** Incompatible bit 2, autoclear bit 1 or header extension 0x44415441: guest data lives in another file. */
    EXTERNAL_DATA_FILE,
    /** crypt_method set or a full disk encryption header extension, while not configured to allow it. */
    ENCRYPTION,
    /**
     * The header extension area is malformed: an extension or its padding runs past its area, an
     * extension repeats, or a known extension has the wrong length.
     */
    HEADER_EXTENSION,
    /** l1_size is beyond qemu's QCOW_MAX_L1_SIZE: an L1 table larger than 32 MiB. */
    L1_TABLE_SIZE,
    /** l1_size is smaller than the virtual size needs: qemu refuses "L1 table is too small". */
    L1_TABLE_TOO_SMALL,
    /** The L1 table is not cluster-aligned, overflows 64 bits, or does not end inside the file. */
    L1_TABLE_OFFSET,
    /**
     * An L1 entry sets reserved bits or points at an L2 table that is not a whole, aligned cluster
     * inside the file, apart from the header and the other tables.
     */
    L1_ENTRY,
    /** The same for a refcount table entry and the refcount block it points at. */
    REFCOUNT_TABLE_ENTRY,
    /**
     * An L2 entry sets reserved bits or puts guest data outside the file (a file cut short), in the
     * header cluster or in a table; or the L1 table shares L2 tables, which only snapshots do.
     */
    L2_ENTRY,
    /** refcount_table_clusters is 0 or beyond qemu's QCOW_MAX_REFTABLE_SIZE (8 MiB). */
    REFCOUNT_TABLE_SIZE,
    /** The refcount table is not cluster-aligned, overflows 64 bits, or does not end inside the file. */
    REFCOUNT_TABLE_OFFSET,
    /** refcount_order above 6 (64-bit refcounts), the largest qcow2 defines. */
    REFCOUNT_ORDER,
    /**
     * nb_snapshots is not 0 (a layer is one state of a disk, not a set of internal snapshots), or
     * snapshots_offset is not cluster-aligned, which qemu refuses even without snapshots.
     */
    SNAPSHOTS,
    /** A header extension type other than the ones Strata knows (backing format, feature names, bitmaps, encryption). */
    UNKNOWN_HEADER_EXTENSION,
    /**
     * The bitmaps extension is malformed or unbounded: not 24 bytes, reserved bits set, 0 or more than
     * 65535 bitmaps, a directory of 0 or more than qemu's 64 MiB limit, unaligned or outside the file.
     */
    BITMAPS_EXTENSION,
    /**
     * A bitmap directory entry qemu would refuse when opening the image: unknown type, flags or extra
     * data, marked in use, a bad name length, or a bitmap table not sized for the disk, unaligned or
     * outside the file; or the entries do not match nb_bitmaps.
     */
    BITMAP_DIRECTORY,
    /** The full disk encryption extension is not 16 bytes, or its header is empty, unaligned or outside the file. */
    CRYPT_HEADER,
    /** Two tables (L1, refcount table, bitmap directory, encryption header) or a table and the header cluster overlap. */
    TABLE_OVERLAP,
    /** Bytes 510-511 hold the MBR boot signature 0x55aa: the file also reads as a partitioned disk. */
    OTHER_FORMAT_MBR,
    /** Offset 512 holds the GPT signature "EFI PART": the file also reads as a GPT disk. */
    OTHER_FORMAT_GPT,
    /** "CD001" at 0x8001, 0x8801 or 0x9001: the file also reads as an ISO 9660 image. */
    OTHER_FORMAT_ISO9660,
    /** The file ends in a VHD footer ("conectix"): it also reads as a fixed VHD disk. */
    OTHER_FORMAT_VHD;

    /** The lowercase snake name used in the API's error detail, e.g. {@code backing_name}. */
    public String id() { return name().toLowerCase(Locale.ROOT); }
}
