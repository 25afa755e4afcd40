package io.strata.layer.qcow2;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.strata.layer.Digest;
import io.strata.testing.HostileCorpus;
import io.strata.testing.HostileCorpus.HostileFile;
import io.strata.testing.QemuImg;
import io.strata.testing.Qcow2Fixtures;
import io.strata.testing.Qcow2Fixtures.BadCase;
import io.strata.testing.Qcow2Fixtures.GoodCase;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class Qcow2InspectorTest {
    @TempDir static Path fixtureDir;
    private static List<BadCase> badCases;
    private static List<GoodCase> goodCases;

    @TempDir Path dir;

    @BeforeAll
    static void requireQemu() { QemuImg.assumeAvailable(); }

    static synchronized List<BadCase> badCases() {
        if (badCases == null) {
            badCases = Qcow2Fixtures.badCases(createDirectory(fixtureDir.resolve("bad")));
        }
        return badCases;
    }

    static synchronized List<GoodCase> goodCases() {
        if (goodCases == null) {
            goodCases = Qcow2Fixtures.goodCases(createDirectory(fixtureDir.resolve("good")));
        }
        return goodCases;
    }

    @ParameterizedTest(name = "refuses {0}")
    @MethodSource("badCases")
    void refuses_each_bad_case_for_its_own_reason(BadCase badCase) {
        Qcow2Exception refused = assertThrows(Qcow2Exception.class,
                () -> Qcow2Inspector.inspect(ByteBuffer.wrap(badCase.bytes()), false));

        assertEquals(badCase.expected(), refused.check(), refused.getMessage());
        assertFalse(refused.getMessage().isBlank());
    }

    @ParameterizedTest(name = "qemu-img sees the defect of {0}")
    @MethodSource("badCases")
    void qemu_img_reads_each_bad_case_the_same_way(BadCase badCase) throws IOException {
        Path file = Files.write(Files.createTempDirectory(dir, "case").resolve("layer.qcow2"), badCase.bytes());

        QemuImg.Result info = QemuImg.run(List.of("qemu-img", "info", "--output=json", "-f", "qcow2", file.toString()));

        String said = info.stdout() + info.stderr();
        assertTrue(said.contains(badCase.qemuImgSays()), "expected '" + badCase.qemuImgSays() + "' in: " + said);
    }

    @ParameterizedTest(name = "accepts {0}")
    @MethodSource("goodCases")
    void accepts_each_good_case_and_reads_its_header(GoodCase goodCase) throws Exception {
        Qcow2Info info = Qcow2Inspector.inspect(ByteBuffer.wrap(goodCase.bytes()), false);

        assertAll(
                () -> assertEquals(goodCase.version(), info.version(), "version"),
                () -> assertEquals(goodCase.clusterBits(), info.clusterBits(), "cluster bits"),
                () -> assertEquals(goodCase.virtualSize(), info.virtualSize(), "virtual size"),
                () -> assertEquals(goodCase.parent(), info.parent(), "parent"),
                () -> assertEquals(goodCase.parent().map(Digest::fileName), info.backingName(), "backing name"),
                () -> assertEquals(goodCase.parent().map(parent -> "qcow2"), info.backingFormat(), "backing format"));
    }

    @ParameterizedTest(name = "reads {0} from its file")
    @MethodSource("goodCases")
    void inspecting_the_file_reads_the_same_header(GoodCase goodCase) throws Exception {
        Path file = Files.write(dir.resolve("layer.qcow2"), goodCase.bytes());

        assertEquals(Qcow2Inspector.inspect(ByteBuffer.wrap(goodCase.bytes()), false),
                Qcow2Inspector.inspect(file, false));
    }

    @Test
    void reads_the_parent_layer_id_from_a_canonical_backing_name() throws Exception {
        Digest parent = Digest.of(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32});

        Qcow2Info info = Qcow2Inspector.inspect(ByteBuffer.wrap(Qcow2Fixtures.validChildOf(dir, parent)), true, false);

        assertEquals(Optional.of(parent), info.parent());
        assertEquals(Optional.of(parent.hex() + ".qcow2"), info.backingName());
    }

    @Test
    void a_base_layer_has_no_parent() throws Exception {
        Path base = dir.resolve("base.qcow2");
        QemuImg.create(base, Qcow2Fixtures.VIRTUAL_SIZE);

        assertEquals(Optional.empty(), Qcow2Inspector.inspect(base, false).parent());
    }

    @Test
    void a_backing_format_without_a_backing_name_is_accepted_as_qemu_ignores_it() throws Exception {
        byte[] child = Qcow2Fixtures.validChildOf(dir, Qcow2Fixtures.UNSTORED_PARENT);
        ByteBuffer.wrap(child).putLong(8, 0); // backing_file_offset 0: no backing file

        Qcow2Info info = Qcow2Inspector.inspect(ByteBuffer.wrap(child), true, false);

        assertEquals(Optional.empty(), info.parent());
        assertEquals(Optional.of("qcow2"), info.backingFormat());
    }

    @Test
    void a_local_backing_path_tells_the_publisher_how_to_rebase() throws Exception {
        Path base = dir.resolve("base.qcow2");
        Path child = dir.resolve("child.qcow2");
        QemuImg.create(base, Qcow2Fixtures.VIRTUAL_SIZE);
        QemuImg.createChild(child, base.toAbsolutePath());

        Qcow2Exception refused = assertThrows(Qcow2Exception.class, () -> Qcow2Inspector.inspect(child, false));

        assertEquals(Check.BACKING_NAME, refused.check());
        assertTrue(refused.getMessage().contains("'" + base.toAbsolutePath() + "'"), refused.getMessage());
        assertTrue(refused.getMessage().contains("absolute local path"), refused.getMessage());
        assertTrue(refused.getMessage().contains("qemu-img rebase -u -F qcow2 -b <parent-sha256>.qcow2 child.qcow2"),
                refused.getMessage());
        assertTrue(refused.getMessage().contains("strata push"), refused.getMessage());
    }

    @Test
    void a_raw_backing_format_names_the_rebase_command_with_the_layer_name() {
        Digest parent = Qcow2Fixtures.UNSTORED_PARENT;
        BadCase raw = badCases().stream().filter(badCase -> badCase.expected() == Check.BACKING_FORMAT)
                .findFirst().orElseThrow();

        Qcow2Exception refused = assertThrows(Qcow2Exception.class,
                () -> Qcow2Inspector.inspect(ByteBuffer.wrap(raw.bytes()), true, false));

        assertTrue(refused.getMessage().contains("qemu-img rebase -u -F qcow2 -b " + parent.fileName()),
                refused.getMessage());
    }

    /** The whole-file step reads L1, L2 and refcount tables: every kind of entry qemu writes must pass. */
    @ParameterizedTest(name = "accepts a qemu-img file with {0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"compressed clusters", "zero clusters", "discarded clusters",
            "extended L2 subclusters", "metadata preallocation", "full preallocation", "2 MiB clusters with data",
            "version 2 with data", "512-byte clusters with data", "a bitmap and data", "data written after a bitmap"})
    void accepts_files_with_every_kind_of_table_entry_qemu_writes(String kind) throws Exception {
        Path file = dir.resolve("layer.qcow2");
        switch (kind) {
            case "compressed clusters" -> {
                Path source = dir.resolve("source.qcow2");
                QemuImg.create(source, "4M");
                QemuImg.writePattern(source, 0, 1 << 20, 0x11);
                QemuImg.writePattern(source, 3 << 20, 4096, 0x22);
                QemuImg.runOrFail(List.of("qemu-img", "convert", "-c", "-O", "qcow2", source.toString(), file.toString()));
            }
            case "zero clusters" -> {
                QemuImg.create(file, "4M");
                QemuImg.writePattern(file, 0, 1 << 20, 0x11);
                QemuImg.io(file, "write -z 65536 131072", "write -z 2M 64k");
            }
            case "discarded clusters" -> {
                QemuImg.create(file, "4M");
                QemuImg.writePattern(file, 0, 1 << 20, 0x11);
                QemuImg.io(file, "discard 0 512k");
            }
            case "extended L2 subclusters" -> {
                QemuImg.create(file, "4M", "-o", "extended_l2=on,cluster_size=64k");
                QemuImg.io(file, "write -P 3 2048 2048", "write -P 4 1M 4096", "write -z 2M 64k");
            }
            case "metadata preallocation" -> QemuImg.create(file, "4M", "-o", "preallocation=metadata");
            case "full preallocation" -> QemuImg.create(file, "4M", "-o", "preallocation=full,cluster_size=4k");
            case "2 MiB clusters with data" -> {
                QemuImg.create(file, "8M", "-o", "cluster_size=2M");
                QemuImg.writePattern(file, 5 << 20, 4096, 0x33);
            }
            case "version 2 with data" -> {
                QemuImg.create(file, "4M", "-o", "compat=0.10");
                QemuImg.writePattern(file, 0, 8192, 0x44);
            }
            case "512-byte clusters with data" -> {
                QemuImg.create(file, "4M", "-o", "cluster_size=512");
                QemuImg.writePattern(file, 0, 200_000, 0x55);
                QemuImg.writePattern(file, 3 << 20, 512, 0x66);
            }
            case "a bitmap and data", "data written after a bitmap" -> {
                QemuImg.create(file, "4M");
                if (kind.startsWith("data")) QemuImg.runOrFail(List.of("qemu-img", "bitmap", "--add", file.toString(), "b0"));
                QemuImg.writePattern(file, 0, 1 << 20, 0x77);
                if (kind.startsWith("a bitmap")) QemuImg.runOrFail(List.of("qemu-img", "bitmap", "--add", file.toString(), "b1"));
            }
            default -> throw new IllegalArgumentException(kind);
        }
        QemuImg.check(file);

        assertEquals(List.of(), assertDoesNotThrowQcow2(file));
    }

    private static List<String> assertDoesNotThrowQcow2(Path file) throws IOException {
        try {
            Qcow2Inspector.inspect(file, false);
            Qcow2Inspector.inspect(ByteBuffer.wrap(Files.readAllBytes(file)), false);
            return List.of();
        } catch (Qcow2Exception refused) {
            return List.of(refused.check().id() + ": " + refused.getMessage());
        }
    }

    @Test
    void accepts_luks_encryption_only_when_configured() throws Exception {
        Path luks = dir.resolve("luks.qcow2");
        QemuImg.createEncrypted(luks, Qcow2Fixtures.VIRTUAL_SIZE);
        assertTrue(Files.size(luks) > Qcow2Inspector.MAX_HEADER_BYTES, "the LUKS header makes the file large");

        assertEquals(3, Qcow2Inspector.inspect(luks, true).version());
        assertEquals(Check.ENCRYPTION,
                assertThrows(Qcow2Exception.class, () -> Qcow2Inspector.inspect(luks, false)).check());
    }

    @Test
    void reads_two_mebibyte_clusters_from_the_start_of_a_longer_file() throws Exception {
        Path file = dir.resolve("big-clusters.qcow2");
        QemuImg.create(file, Qcow2Fixtures.VIRTUAL_SIZE, "-o", "cluster_size=2M");
        assertTrue(Files.size(file) > Qcow2Inspector.MAX_HEADER_BYTES);
        ByteBuffer head = ByteBuffer.wrap(Arrays.copyOf(Files.readAllBytes(file), Qcow2Inspector.MAX_HEADER_BYTES));

        assertEquals(21, Qcow2Inspector.inspect(file, false).clusterBits());
        assertEquals(21, Qcow2Inspector.inspect(head, false, false).clusterBits());
    }

    @Test
    void a_two_mebibyte_cluster_cut_short_is_truncated() throws Exception {
        Path file = dir.resolve("big-clusters.qcow2");
        QemuImg.create(file, Qcow2Fixtures.VIRTUAL_SIZE, "-o", "cluster_size=2M");
        byte[] firstMebibyte = Arrays.copyOf(Files.readAllBytes(file), 1 << 20);

        assertEquals(Check.TRUNCATED, assertThrows(Qcow2Exception.class,
                () -> Qcow2Inspector.inspect(ByteBuffer.wrap(firstMebibyte), true, false)).check());
    }

    @Test
    void an_incomplete_head_shorter_than_the_limit_is_a_caller_bug() {
        byte[] child = Qcow2Fixtures.validChildOf(dir, Qcow2Fixtures.UNSTORED_PARENT);

        assertThrows(IllegalArgumentException.class,
                () -> Qcow2Inspector.inspect(ByteBuffer.wrap(child), false, false));
    }

    @Test
    void reads_from_the_buffer_position_and_leaves_the_buffer_as_it_was() throws Exception {
        byte[] child = Qcow2Fixtures.validChildOf(dir, Qcow2Fixtures.UNSTORED_PARENT);
        byte[] prefixed = new byte[child.length + 100];
        Arrays.fill(prefixed, 0, 100, (byte) 0xee);
        System.arraycopy(child, 0, prefixed, 100, child.length);
        ByteBuffer head = ByteBuffer.wrap(prefixed).position(100);

        Qcow2Info info = Qcow2Inspector.inspect(head, true, false);

        assertEquals(Optional.of(Qcow2Fixtures.UNSTORED_PARENT), info.parent());
        assertEquals(100, head.position());
        assertEquals(prefixed.length, head.limit());
    }

    @Test
    void survives_random_mutations_of_a_valid_header() {
        byte[] valid = Qcow2Fixtures.validChildOf(dir, Qcow2Fixtures.UNSTORED_PARENT);
        Random random = new Random(42);
        Set<Check> seen = EnumSet.noneOf(Check.class);
        int accepted = 0;

        for (int iteration = 0; iteration < 2000; iteration++) {
            byte[] mutant = mutate(valid, random);
            boolean allowEncryption = random.nextBoolean();
            try {
                Qcow2Info info = Qcow2Inspector.inspect(ByteBuffer.wrap(mutant), true, allowEncryption);
                info.parent(); // an accepted backing name is always canonical
                accepted++;
            } catch (Qcow2Exception refused) {
                seen.add(refused.check());
            } catch (RuntimeException unexpected) {
                fail("mutation " + iteration + " threw " + unexpected, unexpected);
            }
        }

        assertTrue(accepted > 0, "some mutations only touch ignored bytes");
        assertTrue(seen.size() >= 8, "the mutations reach many checks, saw " + seen);
    }

    @Test
    void survives_random_garbage_with_and_without_the_magic() {
        Random random = new Random(7);
        for (int iteration = 0; iteration < 500; iteration++) {
            byte[] garbage = new byte[random.nextInt(70_000)];
            random.nextBytes(garbage);
            if (iteration % 2 == 0 && garbage.length >= 24) {
                ByteBuffer.wrap(garbage).putInt(0, 0x514649fb).putInt(4, 2 + random.nextInt(2))
                        .putInt(20, 9 + random.nextInt(8));
            }
            try {
                Qcow2Inspector.inspect(ByteBuffer.wrap(garbage), true, random.nextBoolean());
            } catch (Qcow2Exception expected) {
                // refusing garbage is the point
            } catch (RuntimeException unexpected) {
                fail("garbage " + iteration + " threw " + unexpected, unexpected);
            }
        }
    }

    @Test
    void check_ids_are_unique_lowercase_snake_case() {
        Set<String> ids = new HashSet<>();
        for (Check check : Check.values()) {
            assertTrue(Pattern.matches("[a-z][a-z0-9]*(_[a-z0-9]+)*", check.id()), check.id());
            assertTrue(ids.add(check.id()), check.id());
        }
        assertEquals("unknown_incompatible_feature", Check.UNKNOWN_INCOMPATIBLE_FEATURE.id());
    }

    @ParameterizedTest(name = "refuses hostile {0}")
    @MethodSource("io.strata.testing.HostileCorpus#files")
    void refuses_each_hostile_corpus_file_for_its_named_check(HostileFile hostile) {
        Qcow2Exception refused = assertThrows(Qcow2Exception.class,
                () -> Qcow2Inspector.inspect(ByteBuffer.wrap(hostile.bytes()), hostile.allowEncryption()));

        assertEquals(hostile.expected(), refused.check(), refused.getMessage());
    }

    @Test
    void the_bad_cases_and_the_hostile_corpus_cover_every_check() {
        Set<Check> covered = EnumSet.noneOf(Check.class);
        badCases().forEach(badCase -> covered.add(badCase.expected()));
        HostileCorpus.files().forEach(hostile -> covered.add(hostile.expected()));

        assertEquals(EnumSet.allOf(Check.class), covered);
    }

    /**
     * Overwrites a few header bytes, a whole field with an edge value, or cuts the file short:
     * the ways a lying or damaged header differs from a valid one.
     */
    private static byte[] mutate(byte[] valid, Random random) {
        byte[] mutant = valid.clone();
        ByteBuffer fields = ByteBuffer.wrap(mutant);
        int mutations = 1 + random.nextInt(4);
        for (int count = 0; count < mutations; count++) {
            switch (random.nextInt(4)) {
                case 0 -> mutant[random.nextInt(1024)] = (byte) random.nextInt(256);
                case 1 -> fields.putInt(4 * random.nextInt(64), EDGE_INTS[random.nextInt(EDGE_INTS.length)]);
                case 2 -> fields.putLong(8 * random.nextInt(32), EDGE_LONGS[random.nextInt(EDGE_LONGS.length)]);
                default -> mutant[random.nextInt(128)] ^= (byte) (1 << random.nextInt(8));
            }
        }
        return random.nextInt(10) == 0 ? Arrays.copyOf(mutant, random.nextInt(mutant.length)) : mutant;
    }

    private static final int[] EDGE_INTS = {0, 1, 2, 3, 4, 8, 9, 21, 22, 72, 104, 112, 1023, 1024, 65536, -1,
            Integer.MIN_VALUE, Integer.MAX_VALUE, 0xe2792aca, 0x44415441, 0x0537be77};
    private static final long[] EDGE_LONGS = {0, 1, 16, 112, 528, 65535, 65536, -1, -16, Long.MIN_VALUE,
            Long.MAX_VALUE, 1L << 32};

    private static Path createDirectory(Path path) {
        try {
            return Files.createDirectories(path);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
