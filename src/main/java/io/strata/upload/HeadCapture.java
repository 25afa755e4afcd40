package io.strata.upload;

import io.strata.layer.LayerService;
import io.strata.layer.qcow2.BackingName;
import io.strata.layer.qcow2.Qcow2Info;
import io.strata.layer.qcow2.Qcow2Inspector;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Keeps the first {@link Qcow2Inspector#MAX_HEADER_BYTES} of an upload as it streams by and has
 * them inspected as soon as they are in, so a bad header is refused after 2 MiB instead of after
 * the whole body.
 */
final class HeadCapture implements HashingFileWriter.HeadListener, AutoCloseable {
    private static final byte[] MAGIC = {'Q', 'F', 'I', (byte) 0xfb};

    private final LayerService layers;
    private final byte[] head = new byte[Qcow2Inspector.MAX_HEADER_BYTES];
    private int length;
    private Qcow2Info info;
    /** Holds the named parent against garbage collection while this upload is in flight. */
    private AutoCloseable pin;

    HeadCapture(LayerService layers) { this.layers = layers; }

    @Override
    public void written(byte[] bytes, int offset, int count, long fileOffset) {
        if (info != null || fileOffset >= head.length) return;
        int take = (int) Math.min(count, head.length - fileOffset);
        System.arraycopy(bytes, offset, head, (int) fileOffset, take);
        length = (int) fileOffset + take;
        if (pin == null) BackingName.peek(head, length).ifPresent(parent -> pin = layers.pin(parent));
        if (length == head.length) {
            info = layers.inspect(ByteBuffer.wrap(head), false);
        } else if (length >= MAGIC.length && !Arrays.equals(head, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
            // Not qcow2 at all: say so now rather than after 2 MiB (the inspector reports the magic first).
            layers.inspect(ByteBuffer.wrap(head, 0, length).slice(), true);
        }
    }

    @Override
    public void close() {
        if (pin == null) return;
        try {
            pin.close();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        pin = null;
    }

    /** The header's facts, inspecting now if the file is shorter than the head. */
    Qcow2Info finish() {
        if (info == null) info = layers.inspect(ByteBuffer.wrap(head, 0, length).slice(), true);
        return info;
    }
}
