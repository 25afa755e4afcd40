package io.strata.layer.qcow2;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.strata.layer.Digest;
import io.strata.testing.QemuImg;
import io.strata.testing.Qcow2Fixtures;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A seeded, reproducible mutation fuzzer over real qemu-img files, in the normal test run: byte
 * flips in the header cluster, header fields overwritten with boundary values, header extension
 * lengths that lie, truncations and appended bytes. Each mutant must be either refused with a
 * {@link Qcow2Exception} or accepted; any other exception, or an inspection that takes longer
 * than {@link #PER_CASE}, fails the test with the seed, the case number and the mutations, which
 * reproduce it ({@code -Dstrata.fuzz.seed=N} runs another seed).
 *
 * <p>What the inspector accepts is handed to qemu: every distinct accepted mutant (up to
 * {@link #MAX_QEMU_RUNS_PER_SEED_FILE} per seed file, to keep the test within seconds) must pass {@code qemu-img info}
 * (exit 0) and {@code qemu-img check} under {@code prlimit} CPU and address-space limits. check
 * may report leaked clusters (exit 3): a leak only wastes space and qemu never reads a leaked
 * cluster as data, and a header mutation such as a moved L1 table leaves one. It must not report
 * corruption (exit 2) or fail to check (exit 1), with one exception: a mutant whose refcount
 * width (refcount_order) differs from its seed file's reads every refcount block at the wrong
 * width, which only a full {@code qemu-img check} of every block can find; the inspector checks
 * refcount_order against qemu's limit only. Such a mutant may report corruptions (never exit 1),
 * and it harms no reader: qemu never consults refcounts to read guest data, and a registry layer
 * is only ever opened read-only, as a backing file.
 */
class Qcow2InspectorFuzzTest {
    private static final long DEFAULT_SEED = 20261201L;
    private static final int CASES_PER_SEED_FILE = 400;
    /** Per seed file, so qemu sees accepted mutants of every kind of file; about 2 x 60 qemu-img runs in all. */
    private static final int MAX_QEMU_RUNS_PER_SEED_FILE = 8;
    /** Generous on a loaded machine; an inspection is microseconds, a loop over a lying length would be far longer. */
    private static final Duration PER_CASE = Duration.ofSeconds(2);
    private static final String PRLIMIT_CPU_SECONDS = "10";
    private static final String PRLIMIT_ADDRESS_SPACE = String.valueOf(2L << 30);

    /** Header fields (offset, width) of docs/interop/qcow2.txt, version 3 included. */
    private static final int[][] FIELDS = {{4, 4}, {8, 8}, {16, 4}, {20, 4}, {24, 8}, {32, 4}, {36, 4}, {40, 8},
            {48, 8}, {56, 4}, {60, 4}, {64, 8}, {72, 8}, {80, 8}, {88, 8}, {96, 4}, {100, 4}};
    private static final long[] BOUNDARIES = {0, 1, 2, 3, 4, 6, 7, 8, 9, 16, 21, 22, 63, 64, 72, 104, 112, 511, 512,
            513, 4095, 4096, 65535, 65536, 65537, 1 << 20, 0x400000, 0x400001, 0x800000, 0x2000000, 0x7fffffffL,
            0x80000000L, 0xffffffffL, 1L << 32, 1L << 40, Long.MAX_VALUE, Long.MIN_VALUE, -1, -512, -65536};

    @TempDir static Path dir;
    private static Map<String, byte[]> seeds;

    @BeforeAll
    static void makeSeedFiles() {
        QemuImg.assumeAvailable();
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("v3 512-byte clusters", image("small.qcow2", "-o", "cluster_size=512"));
        files.put("v3 4 KiB clusters", image("v3.qcow2", "-o", "cluster_size=4k"));
        files.put("v2", image("v2.qcow2", "-o", "compat=0.10,cluster_size=4k"));
        files.put("zstd, lazy refcounts", image("zstd.qcow2", "-o", "compression_type=zstd,lazy_refcounts=on,cluster_size=4k"));
        files.put("extended L2", image("extl2.qcow2", "-o", "extended_l2=on,cluster_size=16k"));
        Path bitmap = dir.resolve("bitmap.qcow2");
        QemuImg.create(bitmap, "1M", "-o", "cluster_size=512");
        QemuImg.runOrFail(List.of("qemu-img", "bitmap", "--add", bitmap.toString(), "changes"));
        files.put("bitmap", read(bitmap));
        Path data = dir.resolve("data.qcow2");
        QemuImg.create(data, "1M", "-o", "cluster_size=4k");
        QemuImg.writePattern(data, 0, 8192, 0x5a);
        QemuImg.writePattern(data, 512 << 10, 4096, 0xa5);
        files.put("with data", read(data));
        // A canonical child, with its parent beside it under the name it uses, so qemu can open the chain.
        Path parent = dir.resolve(Qcow2Fixtures.UNSTORED_PARENT.fileName());
        QemuImg.create(parent, "1M", "-o", "cluster_size=4k");
        Path child = dir.resolve("child.qcow2");
        QemuImg.create(child, "1M", "-o", "cluster_size=4k", "-b", parent.getFileName().toString(), "-F", "qcow2");
        files.put("canonical child", read(child));
        seeds = files;
    }

    @Test
    void mutants_are_refused_or_accepted_and_every_accepted_one_passes_qemu_img() throws IOException {
        QemuImg.assumeAvailable();
        long seed = Long.getLong("strata.fuzz.seed", DEFAULT_SEED);
        Random random = new Random(seed);
        Set<Check> refusedBy = EnumSet.noneOf(Check.class);
        Set<Digest> handedToQemu = new HashSet<>();
        int cases = 0;
        int accepted = 0;
        for (Map.Entry<String, byte[]> seedFile : seeds.entrySet()) {
            int qemuRuns = 0;
            for (int index = 0; index < CASES_PER_SEED_FILE; index++, cases++) {
                List<String> applied = new ArrayList<>();
                byte[] mutant = mutate(seedFile.getValue(), random, applied);
                String reproduce = "seed " + seed + ", case " + cases + " (" + seedFile.getKey() + "): " + applied;
                Qcow2Info info = null;
                long start = System.nanoTime();
                try {
                    info = Qcow2Inspector.inspect(ByteBuffer.wrap(mutant), false);
                } catch (Qcow2Exception refused) {
                    refusedBy.add(refused.check());
                } catch (RuntimeException unexpected) {
                    fail(reproduce + " threw " + unexpected, unexpected);
                }
                Duration took = Duration.ofNanos(System.nanoTime() - start);
                if (took.compareTo(PER_CASE) > 0) {
                    fail(reproduce + " took " + took.toMillis() + " ms to inspect");
                }
                if (info == null) continue;
                accepted++;
                Digest digest = Digest.of(Digest.sha256().digest(mutant));
                if (qemuRuns < MAX_QEMU_RUNS_PER_SEED_FILE && handedToQemu.add(digest)) {
                    qemuRuns++;
                    provideParent(info);
                    assertQemuOpensIt(mutant, refcountOrder(mutant) != refcountOrder(seedFile.getValue()), reproduce);
                }
            }
        }
        assertTrue(cases >= 3000, "a few thousand cases, ran " + cases);
        assertTrue(accepted > 0 && handedToQemu.size() >= 4 * seeds.size(), "some mutants are valid (accepted " + accepted
                + ", distinct " + handedToQemu.size() + ")");
        assertTrue(refusedBy.size() >= 15, "the mutations reach many checks, saw " + refusedBy);
    }

    /**
     * One to four mutations of {@code valid}, described in {@code applied}: the description with
     * the seed is enough to rebuild the mutant by hand.
     */
    private static byte[] mutate(byte[] valid, Random random, List<String> applied) {
        byte[] mutant = valid.clone();
        ByteBuffer fields = ByteBuffer.wrap(mutant);
        int clusterSize = 1 << fields.getInt(20);
        int mutations = 1 + random.nextInt(4);
        for (int count = 0; count < mutations && mutant.length > 0; count++) {
            switch (random.nextInt(6)) {
                case 0 -> {
                    int offset = random.nextInt(Math.min(clusterSize, mutant.length));
                    int bit = random.nextInt(8);
                    mutant[offset] ^= (byte) (1 << bit);
                    applied.add("flip bit " + bit + " of byte " + offset);
                }
                case 1, 2 -> {
                    int[] field = FIELDS[random.nextInt(FIELDS.length)];
                    long value = BOUNDARIES[random.nextInt(BOUNDARIES.length)] + (random.nextInt(4) == 0 ? random.nextInt(3) - 1 : 0);
                    if (field[1] == 4) fields.putInt(field[0], (int) value); else fields.putLong(field[0], value);
                    applied.add("field at " + field[0] + " = " + value);
                }
                case 3 -> {
                    List<Integer> lengths = extensionLengthOffsets(mutant, clusterSize);
                    if (lengths.isEmpty()) break;
                    int offset = lengths.get(random.nextInt(lengths.size()));
                    long value = random.nextBoolean() ? BOUNDARIES[random.nextInt(BOUNDARIES.length)]
                            : Integer.toUnsignedLong(fields.getInt(offset)) + random.nextInt(17) - 8;
                    fields.putInt(offset, (int) value);
                    applied.add("extension length at " + offset + " = " + value);
                }
                case 4 -> {
                    int length = random.nextBoolean() ? random.nextInt(mutant.length)
                            : Math.max(0, mutant.length - clusterSize * random.nextInt(4) - random.nextInt(2) * 8);
                    applied.add("truncate to " + length);
                    return java.util.Arrays.copyOf(mutant, length);
                }
                default -> {
                    byte[] tail = new byte[random.nextInt(1024)];
                    random.nextBytes(tail);
                    if (tail.length >= 512 && random.nextBoolean()) System.arraycopy("conectix".getBytes(), 0, tail, tail.length - 512, 8);
                    applied.add("append " + tail.length + " bytes");
                    byte[] longer = java.util.Arrays.copyOf(mutant, mutant.length + tail.length);
                    System.arraycopy(tail, 0, longer, mutant.length, tail.length);
                    return longer;
                }
            }
        }
        return mutant;
    }

    /** Where the length fields of the file's header extensions are, walked as qemu-img wrote them. */
    private static List<Integer> extensionLengthOffsets(byte[] image, int clusterSize) {
        List<Integer> offsets = new ArrayList<>();
        ByteBuffer bytes = ByteBuffer.wrap(image);
        if (image.length < clusterSize || clusterSize < 512) return offsets;
        long position = bytes.getInt(4) == 2 ? 72 : Integer.toUnsignedLong(bytes.getInt(100));
        while (position >= 72 && position + 8 <= Math.min(clusterSize, image.length) && bytes.getInt((int) position) != 0) {
            offsets.add((int) position + 4);
            position += 8 + ((Integer.toUnsignedLong(bytes.getInt((int) position + 4)) + 7) & ~7L);
        }
        return offsets;
    }

    /**
     * A flipped hex digit in a backing name names another layer, which the registry refuses as
     * PARENT_UNKNOWN unless it is stored; stand in a valid base under that name for qemu.
     */
    private static void provideParent(Qcow2Info info) throws IOException {
        if (info.parent().isEmpty()) return;
        Path parent = dir.resolve(info.parent().get().fileName());
        if (Files.notExists(parent)) Files.copy(dir.resolve(Qcow2Fixtures.UNSTORED_PARENT.fileName()), parent);
    }

    private static long refcountOrder(byte[] image) {
        ByteBuffer bytes = ByteBuffer.wrap(image);
        return bytes.getInt(4) == 2 ? 4 : Integer.toUnsignedLong(bytes.getInt(96));
    }

    private static void assertQemuOpensIt(byte[] mutant, boolean refcountWidthChanged, String reproduce) throws IOException {
        Path file = dir.resolve("accepted.qcow2");
        Files.write(file, mutant);
        QemuImg.Result info = QemuImg.run(limited("info", "--output=json", "-f", "qcow2", file.toString()));
        if (info.exitCode() != 0) {
            fail(reproduce + ": accepted, but qemu-img info exits " + info.exitCode() + ": " + info.stderr().strip());
        }
        QemuImg.Result check = QemuImg.run(limited("check", "-f", "qcow2", file.toString()));
        boolean passed = check.exitCode() == 0 || check.exitCode() == 3 || (refcountWidthChanged && check.exitCode() == 2);
        if (!passed) {
            fail(reproduce + ": accepted, but qemu-img check exits " + check.exitCode() + ": "
                    + (check.stdout() + check.stderr()).strip());
        }
    }

    private static List<String> limited(String... qemuImgArguments) {
        List<String> command = new ArrayList<>(List.of("prlimit", "--cpu=" + PRLIMIT_CPU_SECONDS,
                "--as=" + PRLIMIT_ADDRESS_SPACE, "qemu-img"));
        command.addAll(List.of(qemuImgArguments));
        return command;
    }

    private static byte[] image(String name, String... options) {
        Path file = dir.resolve(name);
        QemuImg.create(file, "1M", options);
        return read(file);
    }

    private static byte[] read(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
