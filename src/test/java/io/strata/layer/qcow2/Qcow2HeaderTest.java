package io.strata.layer.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.strata.testing.QemuImg;
import io.strata.testing.Qcow2Fixtures;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The push rewriter ({@link Qcow2Header}) reads the header extension area with the inspector's
 * walker, so what {@code strata push} keeps and what the registry judges are the same extensions.
 */
class Qcow2HeaderTest {
    private static final int HEADER_LENGTH = 100;

    @TempDir Path dir;

    @BeforeAll
    static void requireQemu() { QemuImg.assumeAvailable(); }

    @Test
    void an_extension_running_past_its_area_is_refused_by_the_rewriter_and_the_inspector_alike() throws Exception {
        byte[] child = Qcow2Fixtures.validChildOf(dir, Qcow2Fixtures.UNSTORED_PARENT);
        int firstExtension = ByteBuffer.wrap(child).getInt(HEADER_LENGTH);
        ByteBuffer.wrap(child).putInt(firstExtension + 4, 65536); // its length: past the backing name and the cluster

        Qcow2Exception rewriter = assertThrows(Qcow2Exception.class, () -> Qcow2Header.parse(firstCluster(child)));
        Qcow2Exception inspector = assertThrows(Qcow2Exception.class,
                () -> Qcow2Inspector.inspect(ByteBuffer.wrap(child), false));

        assertEquals(Check.HEADER_EXTENSION, rewriter.check());
        assertEquals(Check.HEADER_EXTENSION, inspector.check());
    }

    @Test
    void an_end_marker_whose_length_lies_is_refused_by_both_as_qemu_refuses_it() throws Exception {
        Path file = dir.resolve("small.qcow2");
        QemuImg.create(file, "1M", "-o", "cluster_size=512"); // no feature table: the end marker is at 112
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer.wrap(bytes).putInt(112 + 4, 1 << 20);

        assertEquals(Check.HEADER_EXTENSION,
                assertThrows(Qcow2Exception.class, () -> Qcow2Header.parse(firstCluster(bytes))).check());
        assertEquals(Check.HEADER_EXTENSION,
                assertThrows(Qcow2Exception.class, () -> Qcow2Inspector.inspect(ByteBuffer.wrap(bytes), false)).check());
    }

    @Test
    void rebasing_keeps_every_other_extension_and_passes_the_inspector() throws Exception {
        Path base = dir.resolve("base.qcow2");
        Path child = dir.resolve("child.qcow2");
        QemuImg.create(base, "1M");
        QemuImg.createChild(child, base);
        QemuImg.runOrFail(List.of("qemu-img", "bitmap", "--add", child.toString(), "changes"));
        byte[] bytes = Files.readAllBytes(child);
        Qcow2Header header = Qcow2Header.parse(firstCluster(bytes));

        byte[] rebased = header.rebased(firstCluster(bytes), Qcow2Fixtures.UNSTORED_PARENT.fileName(), "qcow2");
        System.arraycopy(rebased, 0, bytes, 0, rebased.length);

        Qcow2Header again = Qcow2Header.parse(firstCluster(bytes));
        assertEquals(header.extensions().stream().map(Qcow2Header.Extension::type).toList(),
                again.extensions().stream().map(Qcow2Header.Extension::type).toList());
        assertEquals(Optional.of(Qcow2Fixtures.UNSTORED_PARENT), Qcow2Inspector.inspect(ByteBuffer.wrap(bytes), false).parent());
    }

    private static ByteBuffer firstCluster(byte[] image) {
        int clusterSize = 1 << ByteBuffer.wrap(image).getInt(20);
        return ByteBuffer.wrap(Arrays.copyOf(image, clusterSize));
    }
}
