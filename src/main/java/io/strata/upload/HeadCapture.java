package io.strata.upload;

import io.strata.layer.LayerService;
import io.strata.layer.qcow2.Qcow2Info;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Keeps the first cluster of an upload as it streams by and has it inspected as soon as it is
 * complete, so a bad header is refused after a few KiB instead of after the whole body.
 */
final class HeadCapture implements HashingFileWriter.HeadListener {
    /** Enough for every fixed header field; the cluster size is known once these bytes are in. */
    private static final int MIN_HEAD = 512;
    private static final int CLUSTER_BITS_OFFSET = 20;

    private final LayerService layers;
    private byte[] head = new byte[MIN_HEAD];
    private int length;
    private int needed = MIN_HEAD;
    private boolean neededKnown;
    private Qcow2Info info;

    HeadCapture(LayerService layers) { this.layers = layers; }

    @Override
    public void written(byte[] bytes, int offset, int count, long fileOffset) {
        while (info == null && count > 0 && fileOffset < needed) {
            int take = (int) Math.min(count, needed - fileOffset);
            System.arraycopy(bytes, offset, head, (int) fileOffset, take);
            length = (int) fileOffset + take;
            offset += take;
            count -= take;
            fileOffset += take;
            if (!neededKnown && length >= CLUSTER_BITS_OFFSET + 4) {
                neededKnown = true;
                int bits = ByteBuffer.wrap(head, CLUSTER_BITS_OFFSET, 4).getInt();
                // An invalid cluster_bits is refused by the inspector from the fixed header alone.
                needed = bits >= 9 && bits <= 21 ? Math.max(MIN_HEAD, 1 << bits) : MIN_HEAD;
                if (needed > head.length) head = Arrays.copyOf(head, needed);
            }
            if (neededKnown && length >= needed) info = layers.inspect(ByteBuffer.wrap(head, 0, length).slice(), false);
        }
    }

    /** The header's facts, inspecting now if the file ended before its first cluster did. */
    Qcow2Info finish() {
        if (info == null) info = layers.inspect(ByteBuffer.wrap(head, 0, length).slice(), true);
        return info;
    }
}
