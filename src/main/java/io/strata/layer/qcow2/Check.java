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
    /** The virtual size does not fit a signed 64-bit number, which qemu cannot address. */
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
    /** Incompatible bit 2 or header extension 0x44415441: guest data lives in another file. */
    EXTERNAL_DATA_FILE,
    /** crypt_method set or a full disk encryption header extension, while not configured to allow it. */
    ENCRYPTION,
    /** The header extension area is malformed: an extension runs past its area or repeats. */
    HEADER_EXTENSION;

    /** The lowercase snake name used in the API's error detail, e.g. {@code backing_name}. */
    public String id() { return name().toLowerCase(Locale.ROOT); }
}
