package io.strata.layer.qcow2;

import static io.strata.layer.qcow2.HeaderFields.BACKING_FILE_OFFSET_OFFSET;
import static io.strata.layer.qcow2.HeaderFields.BACKING_FILE_SIZE_OFFSET;

import io.strata.layer.Digest;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * The parent a qcow2 header names, read from however many leading bytes are at hand: enough for
 * garbage collection to protect the parent of an upload that has only just begun. No validation
 * beyond that; the {@link Qcow2Inspector} judges the whole header when the upload completes.
 */
public final class BackingName {
    private static final String SUFFIX = Qcow2Inspector.LAYER_SUFFIX;

    private BackingName() {}

    /** @return the canonical parent, or empty when there is none or these bytes do not (yet) say */
    public static Optional<Digest> peek(byte[] head, int length) {
        if (length < BACKING_FILE_SIZE_OFFSET + 4) return Optional.empty();
        ByteBuffer header = ByteBuffer.wrap(head, 0, length);
        long offset = header.getLong(BACKING_FILE_OFFSET_OFFSET);
        int size = header.getInt(BACKING_FILE_SIZE_OFFSET);
        if (offset <= 0 || size != 64 + SUFFIX.length() || offset > length - size) return Optional.empty();
        String name = new String(head, (int) offset, size, StandardCharsets.US_ASCII);
        String hex = name.substring(0, 64);
        return name.endsWith(SUFFIX) && Digest.isValid(hex) ? Optional.of(new Digest(hex)) : Optional.empty();
    }

    /** True when {@code length} bytes are enough to know whether the header names a parent. */
    public static boolean decided(byte[] head, int length) {
        if (length < BACKING_FILE_SIZE_OFFSET + 4) return false;
        ByteBuffer header = ByteBuffer.wrap(head, 0, length);
        long offset = header.getLong(BACKING_FILE_OFFSET_OFFSET);
        long size = Integer.toUnsignedLong(header.getInt(BACKING_FILE_SIZE_OFFSET));
        return offset == 0 || size == 0 || offset + size <= length;
    }
}
