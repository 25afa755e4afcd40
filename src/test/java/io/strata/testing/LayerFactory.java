package io.strata.testing;

import io.strata.layer.Digest;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Makes real qcow2 layers with qemu-img in one directory, each stored as {@code <sha256>.qcow2}
 * so that children name their parents canonically and the local chain opens as it will remotely.
 */
public final class LayerFactory {
    private final Path dir;
    private final AtomicInteger counter = new AtomicInteger();

    public LayerFactory(Path dir) {
        this.dir = dir;
        QemuImg.assumeAvailable();
    }

    /** A base layer (64 MiB virtual) with 64 KiB of a pattern unique to this factory call. */
    public Digest base() { return layer(null); }

    /** A child of {@code parent} with 64 KiB of its own data. */
    public Digest child(Digest parent) { return layer(parent); }

    public synchronized Digest layer(Digest parent) {
        int n = counter.incrementAndGet();
        Path file = dir.resolve("new-" + n + ".qcow2");
        if (parent == null) QemuImg.create(file, "64M");
        else QemuImg.createChild(file, Path.of(parent.fileName()));
        QemuImg.writePattern(file, (long) (n % 64) << 20, 65536, n % 255 + 1);
        try {
            Digest digest = TestRegistry.sha256(Files.readAllBytes(file));
            Files.move(file, path(digest));
            return digest;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The bytes of a real base layer (64 MiB virtual) holding {@code bytes} of seeded random data:
     * big enough that a transfer is still in flight when a test interrupts it.
     */
    public static byte[] randomLayer(Path dir, int bytes, long seed) throws IOException {
        QemuImg.assumeAvailable();
        Path image = Files.createTempFile(dir, "random-", ".qcow2");
        Files.delete(image);
        QemuImg.create(image, "64M");
        Path noise = Files.createTempFile(dir, "noise-", ".bin");
        byte[] random = new byte[bytes];
        new java.util.Random(seed).nextBytes(random);
        Files.write(noise, random);
        QemuImg.io(image, "write -s " + noise + " 0 " + bytes);
        Files.delete(noise);
        return Files.readAllBytes(image);
    }

    /** Uploads the layers in the order given (parents first), asserting each is stored or already there. */
    public void uploadTo(TestRegistry registry, Digest... digests) {
        for (Digest d : digests) {
            int status = registry.putLayer(bytes(d)).statusCode();
            if (status != 201 && status != 200) throw new AssertionError("upload of " + d + " answered " + status);
        }
    }

    public Path path(Digest digest) { return dir.resolve(digest.fileName()); }

    public byte[] bytes(Digest digest) {
        try {
            return Files.readAllBytes(path(digest));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public long size(Digest digest) {
        try {
            return Files.size(path(digest));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
