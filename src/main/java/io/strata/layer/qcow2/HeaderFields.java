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

    static final int EXTENSION_END = 0;
    static final int EXTENSION_BACKING_FORMAT = 0xe2792aca;
    /** Each extension starts with a u32 type and a u32 length. */
    static final int EXTENSION_HEADER_LENGTH = 8;

    private HeaderFields() {}
}
