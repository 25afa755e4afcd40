package io.strata.layer;

import io.strata.layer.qcow2.Qcow2Exception;
import io.strata.layer.qcow2.Qcow2Info;
import io.strata.layer.qcow2.Qcow2Inspector;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.function.LongConsumer;

/** Checks of a committed layer's bytes through any {@link LayerStore} (startup recovery, {@code strata verify}). */
final class StoredBytes {
    private StoredBytes() {}

    /** The sha256 of the whole layer, telling {@code progress} the bytes hashed so far. */
    static Digest hash(LayerStore.LayerContent content, LongConsumer progress) throws IOException {
        MessageDigest digest = Digest.sha256();
        byte[] buffer = new byte[1 << 20];
        long done = 0;
        try (InputStream in = content.stream(0, content.size())) {
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
                done += n;
                progress.accept(done);
            }
        }
        return Digest.of(digest.digest());
    }

    /** The format inspector on the layer's first {@link Qcow2Inspector#MAX_HEADER_BYTES}. */
    static Qcow2Info inspect(LayerStore.LayerContent content, boolean allowEncryption) throws IOException, Qcow2Exception {
        int length = (int) Math.min(content.size(), Qcow2Inspector.MAX_HEADER_BYTES);
        byte[] head;
        try (InputStream in = content.stream(0, length)) {
            head = in.readNBytes(length);
        }
        return Qcow2Inspector.inspect(ByteBuffer.wrap(head), content.size() <= Qcow2Inspector.MAX_HEADER_BYTES, allowEncryption);
    }
}
