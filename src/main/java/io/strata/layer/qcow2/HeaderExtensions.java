package io.strata.layer.qcow2;

import static io.strata.layer.qcow2.HeaderFields.*;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The one walker of a first cluster's header extension area ({@code u32 type, u32 length, data
 * padded to 8}, until a type 0 or the end of the area), shared by the {@link Qcow2Inspector} and
 * the push rewriter ({@link Qcow2Header}), so the registry and {@code strata push} can never
 * disagree about where an extension starts or ends.
 *
 * <p>It judges only the structure: every extension and its padding lie inside the area, and no
 * extension the specification defines appears twice (qemu keeps the last copy, so a checker
 * keeping the first could be fooled by a second one). What the extensions say is the inspector's
 * business; the rewriter keeps them as opaque bytes.
 */
final class HeaderExtensions {
    private static final Set<Integer> SPECIFIED = Set.of(EXTENSION_BACKING_FORMAT, EXTENSION_FEATURE_NAME_TABLE,
            EXTENSION_BITMAPS, EXTENSION_FULL_DISK_ENCRYPTION, EXTENSION_EXTERNAL_DATA_FILE);

    /**
     * One extension as found.
     *
     * @param offset where its type field starts in the first cluster
     * @param data   its data without the padding
     */
    record Found(int type, long offset, byte[] data) {
        String typeHex() { return "0x" + Integer.toHexString(type); }
    }

    private HeaderExtensions() {}

    /**
     * The extensions between {@code start} (the end of the header fields) and {@code end} (the
     * backing name, or the end of the first cluster without one), in file order.
     */
    static List<Found> walk(ByteBuffer cluster, long start, long end) throws Qcow2Exception {
        List<Found> found = new ArrayList<>();
        Set<Integer> seen = new HashSet<>();
        long position = start;
        while (position < end) {
            if (end - position < EXTENSION_HEADER_LENGTH) {
                throw malformed("the header extension at offset " + position + " is cut off by the end of the"
                        + " extension area at " + end);
            }
            int type = cluster.getInt((int) position);
            long length = Integer.toUnsignedLong(cluster.getInt((int) position + 4));
            long data = position + EXTENSION_HEADER_LENGTH;
            long padded = (length + 7) & ~7L;
            if (type == EXTENSION_END) {
                // qemu checks the length of the end marker too, and refuses the image when it lies.
                if (length > end - data) {
                    throw malformed("the end of the header extensions at offset " + position + " claims " + length
                            + " bytes, running past the end of the extension area at " + end);
                }
                break;
            }
            if (padded > end - data) {
                throw malformed("header extension 0x" + Integer.toHexString(type) + " at offset " + position + " claims "
                        + length + " bytes (" + padded + " with its padding to 8), running past the end of the"
                        + " extension area at " + end);
            }
            if (SPECIFIED.contains(type) && !seen.add(type)) {
                throw malformed("header extension 0x" + Integer.toHexString(type) + " appears twice");
            }
            byte[] value = new byte[(int) length];
            cluster.get((int) data, value);
            found.add(new Found(type, position, value));
            position = data + padded;
        }
        return found;
    }

    static Qcow2Exception malformed(String what) {
        return new Qcow2Exception(Check.HEADER_EXTENSION, what + "; the header is damaged: write a fresh copy with"
                + " 'qemu-img convert -O qcow2 layer.qcow2 fixed.qcow2' and upload that");
    }
}
