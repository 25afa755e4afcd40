package io.strata.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.strata.layer.Digest;
import io.strata.layer.qcow2.Check;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;

/**
 * qcow2 files for tests: real images made by qemu-img, and byte-level corruptions of them where
 * qemu-img refuses to make the defect. Each bad case fails exactly one inspector {@link Check}, so
 * tests (inspector, upload, HTTP, client) can assert the reason and not just "some error".
 *
 * <p>Patches use the field offsets of qemu's {@code docs/interop/qcow2.txt}, written out here
 * independently of the inspector so that a wrong offset on one side cannot hide in the other. Each
 * bad case also says what {@code qemu-img info} prints for it, which lets a test confirm a patch
 * hit the field it means to.
 */
public final class Qcow2Fixtures {
    /** Small enough that every file stays a few hundred KiB. */
    public static final String VIRTUAL_SIZE = "64M";
    public static final long VIRTUAL_SIZE_BYTES = 64L << 20;

    // Header field offsets (docs/interop/qcow2.txt, "== Header ==").
    private static final int VERSION = 4;
    private static final int BACKING_FILE_OFFSET = 8;
    private static final int BACKING_FILE_SIZE = 16;
    private static final int CLUSTER_BITS = 20;
    private static final int SIZE = 24;
    private static final int CRYPT_METHOD = 32;
    private static final int INCOMPATIBLE_FEATURES = 72;
    private static final int HEADER_LENGTH = 100;
    private static final int COMPRESSION_TYPE = 104;

    private static final long DIRTY_BIT = 1L;
    private static final long CORRUPT_BIT = 1L << 1;
    private static final long EXTERNAL_DATA_FILE_BIT = 1L << 2;
    private static final long COMPRESSION_TYPE_BIT = 1L << 3;

    private static final int EXTENSION_BACKING_FORMAT = 0xe2792aca;
    private static final int EXTENSION_FEATURE_NAME_TABLE = 0x6803f857;

    /** A layer id no store holds: valid as a backing name, unknown as a parent. */
    public static final Digest UNSTORED_PARENT = new Digest("5f".repeat(32));

    /**
     * A file the inspector must refuse.
     *
     * @param name         a sentence naming the defect, used as the test's display name
     * @param expected     the check that must fail
     * @param qemuImgSays  a fragment of what {@code qemu-img info --output=json -f qcow2} prints
     *                     (stdout or stderr) for this file; for a patched header it shows that qemu
     *                     reads the patched field as the case intends
     */
    public record BadCase(String name, byte[] bytes, Check expected, String qemuImgSays) {
        @Override public String toString() { return name; }
    }

    /** A file the inspector must accept, with what it must read from it. */
    public record GoodCase(String name, byte[] bytes, int version, int clusterBits, long virtualSize,
            Optional<Digest> parent) {
        @Override public String toString() { return name; }
    }

    private Qcow2Fixtures() {}

    /** Every bad case of DESIGN §2, built in {@code dir}. Needs qemu-img ({@link QemuImg#assumeAvailable()}). */
    public static List<BadCase> badCases(Path dir) {
        byte[] v3 = image(dir, "plain-v3.qcow2");
        byte[] child = validChildOf(dir, UNSTORED_PARENT);
        int childNameOffset = (int) u64(child, BACKING_FILE_OFFSET);
        String layerName = UNSTORED_PARENT.fileName();
        byte[] withDataFile = image(dir, "data-file.qcow2", "-o", "data_file=" + dir.resolve("data-file.raw"));
        QemuImg.createEncrypted(dir.resolve("luks.qcow2"), VIRTUAL_SIZE);
        byte[] luks = read(dir.resolve("luks.qcow2"));
        byte[] zstd = image(dir, "zstd.qcow2", "-o", "compression_type=zstd");
        byte[] extendedL2 = image(dir, "extended-l2.qcow2", "-o", "extended_l2=on,cluster_size=128k");

        List<BadCase> cases = new ArrayList<>();
        cases.add(new BadCase("an empty file", new byte[0], Check.TRUNCATED, "not in qcow2 format"));
        cases.add(new BadCase("a header cut off after 50 bytes", Arrays.copyOf(v3, 50), Check.TRUNCATED,
                "header too short"));
        cases.add(new BadCase("a first cluster cut off after 4 KiB", Arrays.copyOf(v3, 4096), Check.TRUNCATED,
                "\"format\": \"qcow2\""));

        cases.add(new BadCase("random garbage", garbage(), Check.MAGIC, "not in qcow2 format"));
        cases.add(new BadCase("a raw disk image", rawImage(dir), Check.MAGIC, "not in qcow2 format"));
        cases.add(new BadCase("a wrong magic", withBytes(v3, 0, new byte[] {'Q', 'F', 'I', (byte) 0xfa}),
                Check.MAGIC, "not in qcow2 format"));
        cases.add(new BadCase("a version 1 qcow image made by qemu-img", imageOfFormat(dir, "qcow"), Check.VERSION,
                "Unsupported qcow2 version 1"));
        cases.add(new BadCase("version 4", withU32(v3, VERSION, 4), Check.VERSION, "Unsupported qcow2 version 4"));

        cases.add(new BadCase("a header_length of 96, below the 104 of version 3", withU32(v3, HEADER_LENGTH, 96),
                Check.HEADER_LENGTH, "header too short"));
        cases.add(new BadCase("a header_length larger than the cluster", withU32(v3, HEADER_LENGTH, 65536 + 8),
                Check.HEADER_LENGTH, "header exceeds cluster size"));
        cases.add(new BadCase("a header_length that is not a multiple of 8", withU32(v3, HEADER_LENGTH, 108),
                Check.HEADER_LENGTH, "Header extension too large"));

        cases.add(new BadCase("cluster_bits 8", withU32(v3, CLUSTER_BITS, 8), Check.CLUSTER_BITS,
                "Unsupported cluster size: 2^8"));
        cases.add(new BadCase("cluster_bits 22", withU32(v3, CLUSTER_BITS, 22), Check.CLUSTER_BITS,
                "Unsupported cluster size: 2^22"));
        cases.add(new BadCase("extended L2 entries with 8 KiB clusters", withU32(extendedL2, CLUSTER_BITS, 13),
                Check.CLUSTER_BITS, "Unsupported subcluster size: 256"));
        cases.add(new BadCase("a virtual size of 2^63 bytes", withU64(v3, SIZE, Long.MIN_VALUE), Check.VIRTUAL_SIZE,
                "Image is too big"));

        cases.add(new BadCase("a backing name running past the first cluster",
                withU64(child, BACKING_FILE_OFFSET, 65536 - 8), Check.BACKING_OFFSET, "Backing file name too long"));
        cases.add(new BadCase("a backing offset that overflows when the name length is added",
                withU64(child, BACKING_FILE_OFFSET, -16), Check.BACKING_OFFSET, "Invalid backing file offset"));
        cases.add(new BadCase("a backing name inside the header fields", withU64(child, BACKING_FILE_OFFSET, 16),
                Check.BACKING_OFFSET, "\"format\": \"qcow2\"")); // qemu reads a NUL there: no backing file at all
        cases.add(new BadCase("a backing name of 1024 bytes",
                withU32(withBytes(child, childNameOffset, ascii("a".repeat(1018) + ".qcow2")), BACKING_FILE_SIZE, 1024),
                Check.BACKING_NAME_LENGTH, "Backing file name too long"));

        cases.add(new BadCase("an absolute backing path made by qemu-img create", localChild(dir, true),
                Check.BACKING_NAME, "\"backing-filename\": \"/"));
        cases.add(new BadCase("a relative local backing name made by qemu-img create", localChild(dir, false),
                Check.BACKING_NAME, "\"backing-filename\": \"base.qcow2\""));
        cases.add(rebased(dir, "an absolute path ending in a layer name", "/var/lib/strata/layers/" + layerName));
        cases.add(rebased(dir, "a ../ path to a layer name", "../" + layerName));
        cases.add(rebased(dir, "a ./ path to a layer name", "./" + layerName));
        cases.add(rebased(dir, "an http URL", "http://example.com/layers/" + layerName));
        cases.add(rebased(dir, "an nbd URL", "nbd://localhost:10809/" + layerName));
        cases.add(rebased(dir, "an nbd: protocol name", "nbd:localhost:10809:exportname=" + layerName));
        cases.add(rebased(dir, "a json: specification", "json:{\"file\":{\"driver\":\"file\",\"filename\":\"/etc/shadow\"}}"));
        cases.add(rebased(dir, "uppercase hex", UNSTORED_PARENT.hex().toUpperCase() + ".qcow2"));
        cases.add(rebased(dir, "63 hex digits", UNSTORED_PARENT.hex().substring(1) + ".qcow2"));
        cases.add(rebased(dir, "a layer id without .qcow2", UNSTORED_PARENT.hex()));
        cases.add(new BadCase("a layer name followed by a NUL byte",
                withU32(child, BACKING_FILE_SIZE, layerName.length() + 1), Check.BACKING_NAME,
                "\"backing-filename\""));

        cases.add(new BadCase("a backing format of raw", rebasedWithFormat(dir, layerName, "raw"),
                Check.BACKING_FORMAT, "\"backing-filename-format\": \"raw\""));
        cases.add(new BadCase("a backing name without a backing format",
                withU32(child, extensionOffset(child, EXTENSION_BACKING_FORMAT), 0), Check.BACKING_FORMAT,
                "\"backing-filename\": \"" + layerName + "\""));

        cases.add(new BadCase("an external data file made by qemu-img", withDataFile, Check.EXTERNAL_DATA_FILE,
                "data-file.raw"));
        cases.add(new BadCase("the external data file bit alone",
                withU64(v3, INCOMPATIBLE_FEATURES, EXTERNAL_DATA_FILE_BIT), Check.EXTERNAL_DATA_FILE,
                "\"data-file-raw\""));
        cases.add(new BadCase("the external data file name extension alone",
                withU64(withDataFile, INCOMPATIBLE_FEATURES, 0), Check.EXTERNAL_DATA_FILE,
                "data-file.raw"));

        cases.add(new BadCase("unknown incompatible feature bit 5", withU64(v3, INCOMPATIBLE_FEATURES, 1L << 5),
                Check.UNKNOWN_INCOMPATIBLE_FEATURE, "Unknown incompatible feature: 20"));
        cases.add(new BadCase("unknown incompatible feature bit 63", withU64(v3, INCOMPATIBLE_FEATURES, 1L << 63),
                Check.UNKNOWN_INCOMPATIBLE_FEATURE, "Unknown incompatible feature: 8000000000000000"));
        cases.add(new BadCase("a dirty image left by a crashed qemu-io", dirtyImage(dir), Check.DIRTY,
                "\"dirty-flag\": true"));
        cases.add(new BadCase("the corrupt bit", withU64(v3, INCOMPATIBLE_FEATURES, CORRUPT_BIT), Check.CORRUPT,
                "\"corrupt\": true"));

        cases.add(new BadCase("zstd compression without incompatible bit 3",
                withU64(zstd, INCOMPATIBLE_FEATURES, 0), Check.COMPRESSION_TYPE, "Compression type incompatible feature bit must be set"));
        cases.add(new BadCase("incompatible bit 3 with zlib compression",
                withU64(v3, INCOMPATIBLE_FEATURES, COMPRESSION_TYPE_BIT), Check.COMPRESSION_TYPE,
                "Compression type incompatible feature bit must not be set"));
        cases.add(new BadCase("an unknown compression type 2",
                withBytes(withU64(v3, INCOMPATIBLE_FEATURES, COMPRESSION_TYPE_BIT), COMPRESSION_TYPE, new byte[] {2}),
                Check.COMPRESSION_TYPE, "unknown compression type: 2"));

        cases.add(new BadCase("LUKS encryption made by qemu-img", luks, Check.ENCRYPTION, "\"encrypted\": true"));
        cases.add(new BadCase("AES encryption", withU32(v3, CRYPT_METHOD, 1), Check.ENCRYPTION, "\"encrypted\": true"));
        cases.add(new BadCase("an unknown crypt_method 3", withU32(v3, CRYPT_METHOD, 3), Check.ENCRYPTION,
                "Unsupported encryption method 3"));
        cases.add(new BadCase("a full disk encryption extension with crypt_method 0", withU32(luks, CRYPT_METHOD, 0),
                Check.ENCRYPTION, "CRYPTO header extension only expected with LUKS"));

        cases.add(new BadCase("a header extension longer than the cluster",
                withU32(v3, (int) u32(v3, HEADER_LENGTH) + 4, -1),
                Check.HEADER_EXTENSION, "Header extension too large"));
        cases.add(new BadCase("a repeated backing format extension",
                withU32(child, extensionOffset(child, EXTENSION_FEATURE_NAME_TABLE), EXTENSION_BACKING_FORMAT),
                Check.HEADER_EXTENSION, "ext_backing_format: len=384 too large"));
        cases.add(new BadCase("a backing name overlapping the header extensions",
                withU64(child, BACKING_FILE_OFFSET, u32(child, HEADER_LENGTH) + 8), Check.HEADER_EXTENSION,
                "Header extension too large"));
        return cases;
    }

    /** Valid images of every kind Strata accepts, built in {@code dir}. */
    public static List<GoodCase> goodCases(Path dir) {
        Path withData = dir.resolve("with-data.qcow2");
        QemuImg.create(withData, VIRTUAL_SIZE);
        QemuImg.writePattern(withData, 0, 65536, 0xab);
        QemuImg.writePattern(withData, 1 << 20, 4096, 0x5a);
        Path withBitmap = dir.resolve("bitmap.qcow2");
        QemuImg.create(withBitmap, VIRTUAL_SIZE);
        QemuImg.runOrFail(List.of("qemu-img", "bitmap", "--add", withBitmap.toString(), "changes"));
        Path versionTwoChild = dir.resolve("v2-child.qcow2");
        QemuImg.create(dir.resolve("v2-base.qcow2"), VIRTUAL_SIZE, "-o", "compat=0.10");
        QemuImg.create(versionTwoChild, VIRTUAL_SIZE, "-o", "compat=0.10", "-b", "v2-base.qcow2", "-F", "qcow2");
        QemuImg.rebaseUnsafe(versionTwoChild, UNSTORED_PARENT.fileName());

        return List.of(
                good("a version 2 image", image(dir, "v2.qcow2", "-o", "compat=0.10"), 2, 16, Optional.empty()),
                good("a version 3 image", image(dir, "v3.qcow2"), 3, 16, Optional.empty()),
                good("a zstd compressed image", image(dir, "zstd.qcow2", "-o", "compression_type=zstd"), 3, 16,
                        Optional.empty()),
                good("an image with extended L2 entries and 128 KiB clusters",
                        image(dir, "extended-l2.qcow2", "-o", "extended_l2=on,cluster_size=128k"), 3, 17,
                        Optional.empty()),
                good("an image with 512-byte clusters", image(dir, "small-clusters.qcow2", "-o", "cluster_size=512"),
                        3, 9, Optional.empty()),
                good("an image with lazy refcounts closed cleanly",
                        image(dir, "lazy.qcow2", "-o", "lazy_refcounts=on"), 3, 16, Optional.empty()),
                good("an image with a persistent bitmap extension", read(withBitmap), 3, 16, Optional.empty()),
                good("a base with data written by qemu-io", read(withData), 3, 16, Optional.empty()),
                good("a child whose backing name is its parent's layer id", validChildOf(dir, UNSTORED_PARENT), 3, 16,
                        Optional.of(UNSTORED_PARENT)),
                good("a version 2 child whose backing name is its parent's layer id", read(versionTwoChild), 2, 16,
                        Optional.of(UNSTORED_PARENT)));
    }

    /**
     * A real child image whose header names {@code parent} canonically ({@code <parent>.qcow2},
     * format qcow2), made as a publisher would: qemu-img create on a local base, then
     * {@code qemu-img rebase -u}. Valid for the inspector whether or not the parent is stored.
     */
    public static byte[] validChildOf(Path dir, Digest parent) {
        Path work = createDirectory(dir, "child-of-" + parent.shortHex());
        Path base = work.resolve("base.qcow2");
        Path child = work.resolve("child.qcow2");
        QemuImg.create(base, VIRTUAL_SIZE);
        QemuImg.createChild(child, base);
        QemuImg.rebaseUnsafe(child, parent.fileName());
        return read(child);
    }

    private static GoodCase good(String name, byte[] bytes, int version, int clusterBits, Optional<Digest> parent) {
        return new GoodCase(name, bytes, version, clusterBits, VIRTUAL_SIZE_BYTES, parent);
    }

    private static byte[] image(Path dir, String fileName, String... options) {
        Path file = dir.resolve(fileName);
        QemuImg.create(file, VIRTUAL_SIZE, options);
        return read(file);
    }

    private static byte[] imageOfFormat(Path dir, String format) {
        Path file = dir.resolve("image." + format);
        QemuImg.runOrFail(List.of("qemu-img", "create", "-f", format, file.toString(), VIRTUAL_SIZE));
        return read(file);
    }

    private static byte[] rawImage(Path dir) {
        Path file = dir.resolve("disk.raw");
        QemuImg.runOrFail(List.of("qemu-img", "create", "-f", "raw", file.toString(), "1M"));
        return read(file);
    }

    /** A publisher's local chain: a child of a base beside it, named by absolute path or relative name. */
    private static byte[] localChild(Path dir, boolean absolute) {
        Path work = createDirectory(dir, absolute ? "absolute" : "relative");
        Path base = work.resolve("base.qcow2");
        Path child = work.resolve("child.qcow2");
        QemuImg.create(base, VIRTUAL_SIZE);
        // qemu resolves a relative backing name against the child's directory
        QemuImg.createChild(child, absolute ? base.toAbsolutePath() : base.getFileName());
        return read(child);
    }

    private static BadCase rebased(Path dir, String label, String backingName) {
        return new BadCase("a backing name that is " + label, rebasedWithFormat(dir, backingName, "qcow2"),
                Check.BACKING_NAME, "\"backing-filename\"");
    }

    private static byte[] rebasedWithFormat(Path dir, String backingName, String format) {
        Path work = createDirectory(dir, "rebased");
        Path child = work.resolve("child.qcow2");
        QemuImg.create(work.resolve("base.qcow2"), VIRTUAL_SIZE);
        QemuImg.createChild(child, work.resolve("base.qcow2"));
        QemuImg.runOrFail(List.of("qemu-img", "rebase", "-u", "-F", format, "-b", backingName, child.toString()));
        return read(child);
    }

    /** qemu marks a lazy-refcounts image dirty while writing; killing qemu-io leaves it so. */
    private static byte[] dirtyImage(Path dir) {
        Path file = dir.resolve("dirty.qcow2");
        QemuImg.create(file, VIRTUAL_SIZE, "-o", "lazy_refcounts=on");
        QemuImg.run(List.of("qemu-io", "-f", "qcow2", "-c", "write -P 90 0 65536", "-c", "sigraise 9", file.toString()));
        byte[] bytes = read(file);
        assertEquals(DIRTY_BIT, u64(bytes, INCOMPATIBLE_FEATURES), "qemu-io killed mid-session left the dirty bit");
        return bytes;
    }

    private static byte[] garbage() {
        byte[] bytes = new byte[65536];
        new Random(20261122L).nextBytes(bytes);
        return bytes;
    }

    /** Offset of the first header extension of {@code type}; fails if the image has none. */
    private static int extensionOffset(byte[] image, int type) {
        long position = u32(image, HEADER_LENGTH);
        while (u32(image, (int) position) != 0) {
            if ((int) u32(image, (int) position) == type) {
                return (int) position;
            }
            position += 8 + ((u32(image, (int) position + 4) + 7) & ~7L);
        }
        throw new IllegalStateException("no header extension 0x" + Integer.toHexString(type));
    }

    private static byte[] withU32(byte[] original, int offset, int value) {
        byte[] copy = original.clone();
        ByteBuffer.wrap(copy).putInt(offset, value);
        return copy;
    }

    private static byte[] withU64(byte[] original, int offset, long value) {
        byte[] copy = original.clone();
        ByteBuffer.wrap(copy).putLong(offset, value);
        return copy;
    }

    private static byte[] withBytes(byte[] original, int offset, byte[] value) {
        byte[] copy = original.clone();
        System.arraycopy(value, 0, copy, offset, value.length);
        return copy;
    }

    private static long u32(byte[] bytes, int offset) { return Integer.toUnsignedLong(ByteBuffer.wrap(bytes).getInt(offset)); }

    private static long u64(byte[] bytes, int offset) { return ByteBuffer.wrap(bytes).getLong(offset); }

    private static byte[] ascii(String text) { return text.getBytes(StandardCharsets.US_ASCII); }

    private static Path createDirectory(Path dir, String prefix) {
        try {
            return Files.createTempDirectory(dir, prefix);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads a file qemu made; public so other tests can load their own qemu-img outputs. */
    public static byte[] read(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
