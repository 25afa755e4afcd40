package io.strata.layer;

import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.Optional;

/**
 * Saves and restores the running state of the JDK's SHA-256 {@link MessageDigest}, so that a
 * resumable upload's hash can be recorded in the database and continued by another process.
 *
 * <p>Why the JDK's digest and reflection rather than a small SHA-256 of our own with exportable
 * state: the JDK's compress function is a HotSpot intrinsic (SHA-NI/AVX2), several times faster than
 * the same algorithm in plain Java, and it runs on every byte of every upload. Measured here (1 GiB,
 * 256 KiB updates, 2 shared cores under load): 445 MiB/s with the intrinsic, 70 MiB/s with
 * {@code -XX:-UseSHA256Intrinsics}, which runs the JDK's own plain-Java compress, what a
 * pure-Java SHA-256 of ours would be. Reading its fields
 * needs {@code --add-opens java.base/sun.security.provider=ALL-UNNAMED} and
 * {@code java.base/java.security} (the jar's manifest has {@code Add-Opens}; tests pass the flag).
 * Without them {@link #available()} is false and callers fall back to re-reading the bytes.
 *
 * <p>The state is {@code H0..H7}, the bytes processed, and the partial block:
 * {@code base64(8 x int32 | int64 | up to 63 bytes)}.
 */
public final class Sha256State {
    private static final Field SPI;
    private static final Field STATE;
    private static final Field BUFFER;
    private static final Field BUF_OFS;
    private static final Field BYTES_PROCESSED;

    static {
        Field spi = null, state = null, buffer = null, bufOfs = null, processed = null;
        try {
            MessageDigest probe = Digest.sha256();
            spi = Class.forName("java.security.MessageDigest$Delegate").getDeclaredField("digestSpi");
            spi.setAccessible(true);
            Class<?> sha2 = Class.forName("sun.security.provider.SHA2");
            Class<?> base = Class.forName("sun.security.provider.DigestBase");
            if (!sha2.isInstance(spi.get(probe))) throw new IllegalStateException("not the JDK's SHA2");
            state = sha2.getDeclaredField("state");
            buffer = base.getDeclaredField("buffer");
            bufOfs = base.getDeclaredField("bufOfs");
            processed = base.getDeclaredField("bytesProcessed");
            for (Field field : new Field[] {state, buffer, bufOfs, processed}) field.setAccessible(true);
        } catch (ReflectiveOperationException | RuntimeException e) {
            spi = null;
        }
        SPI = spi;
        STATE = state;
        BUFFER = buffer;
        BUF_OFS = bufOfs;
        BYTES_PROCESSED = processed;
    }

    private Sha256State() {}

    /** Whether states can be saved and restored in this JVM. */
    public static boolean available() { return SPI != null; }

    /** The digest's state, or empty when {@link #available()} is false. The digest is unchanged. */
    public static Optional<String> save(MessageDigest digest) {
        if (SPI == null) return Optional.empty();
        try {
            Object spi = SPI.get(digest);
            int[] h = (int[]) STATE.get(spi);
            byte[] buffer = (byte[]) BUFFER.get(spi);
            int pending = BUF_OFS.getInt(spi);
            long processed = BYTES_PROCESSED.getLong(spi);
            ByteBuffer out = ByteBuffer.allocate(8 * 4 + 8 + pending);
            for (int word : h) out.putInt(word);
            out.putLong(processed).put(buffer, 0, pending);
            return Optional.of(Base64.getEncoder().encodeToString(out.array()));
        } catch (ReflectiveOperationException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** A digest continuing from {@code saved}; empty when the state cannot be restored here. */
    public static Optional<MessageDigest> restore(String saved) {
        if (SPI == null || saved == null || saved.isEmpty()) return Optional.empty();
        try {
            ByteBuffer in = ByteBuffer.wrap(Base64.getDecoder().decode(saved));
            MessageDigest digest = Digest.sha256();
            Object spi = SPI.get(digest);
            int[] h = (int[]) STATE.get(spi);
            for (int i = 0; i < 8; i++) h[i] = in.getInt();
            long processed = in.getLong();
            int pending = in.remaining();
            if (pending >= 64 || processed % 64 != pending) return Optional.empty();
            in.get((byte[]) BUFFER.get(spi), 0, pending);
            BUF_OFS.setInt(spi, pending);
            BYTES_PROCESSED.setLong(spi, processed);
            return Optional.of(digest);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return Optional.empty();
        }
    }
}
