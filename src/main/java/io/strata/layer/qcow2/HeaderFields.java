package io.strata.layer.qcow2;

/**
 * Where things are in a qcow2 header (qemu docs/interop/qcow2.txt, "Header" and "Header
 * extensions"), written once for everything in this package that reads or rewrites one.
 * Big-endian throughout.
 */
final class HeaderFields {
    static final byte[] MAGIC = {'Q', 'F', 'I', (byte) 0xfb};
    static final int VERSION_OFFSET = 4;
    static final int BACKING_FILE_OFFSET_OFFSET = 8;
    static final int BACKING_FILE_SIZE_OFFSET = 16;
    static final int CLUSTER_BITS_OFFSET = 20;
    static final int HEADER_LENGTH_OFFSET = 100;
    /** Version 2 headers have no length field: they are always this long. */
    static final int VERSION_2_HEADER_LENGTH = 72;
    static final int MAX_BACKING_NAME_LENGTH = 1023;

    static final int SIZE_OFFSET = 24;
    static final int CRYPT_METHOD_OFFSET = 32;
    static final int L1_SIZE_OFFSET = 36;
    static final int L1_TABLE_OFFSET_OFFSET = 40;
    static final int REFCOUNT_TABLE_OFFSET_OFFSET = 48;
    static final int REFCOUNT_TABLE_CLUSTERS_OFFSET = 56;
    static final int NB_SNAPSHOTS_OFFSET = 60;
    static final int SNAPSHOTS_OFFSET_OFFSET = 64;
    static final int INCOMPATIBLE_FEATURES_OFFSET = 72;
    static final int COMPATIBLE_FEATURES_OFFSET = 80;
    static final int AUTOCLEAR_FEATURES_OFFSET = 88;
    static final int REFCOUNT_ORDER_OFFSET = 96;
    static final int COMPRESSION_TYPE_OFFSET = 104;

    static final int EXTENSION_END = 0;
    static final int EXTENSION_BACKING_FORMAT = 0xe2792aca;
    static final int EXTENSION_FEATURE_NAME_TABLE = 0x6803f857;
    static final int EXTENSION_BITMAPS = 0x23852875;
    static final int EXTENSION_FULL_DISK_ENCRYPTION = 0x0537be77;
    static final int EXTENSION_EXTERNAL_DATA_FILE = 0x44415441;
    /** Each extension starts with a u32 type and a u32 length. */
    static final int EXTENSION_HEADER_LENGTH = 8;

    private HeaderFields() {}
}
