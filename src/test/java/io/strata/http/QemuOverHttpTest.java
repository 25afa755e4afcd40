package io.strata.http;

import io.strata.layer.Digest;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DESIGN §1 and §5 from qemu's side: the real qemu-img (curl block driver, Debian qemu-block-extra)
 * opens a three-layer chain straight from the registry, resolving each relative backing name
 * against the child's URL.
 */
class QemuOverHttpTest {
    @TempDir Path dir;

    @Test
    void qemu_img_reads_a_whole_chain_over_http_identical_to_the_original() throws IOException {
        QemuImg.assumeAvailable();
        Digest base = layer(null, 0x11, 0);
        Digest mid = layer(base, 0x22, 4 << 20);
        Digest top = layer(mid, 0x33, 8 << 20);
        try (TestRegistry registry = TestRegistry.start(dir.resolve("data"))) {
            for (Digest d : List.of(base, mid, top)) {
                assertEquals(201, registry.putLayer(Files.readAllBytes(dir.resolve(d.fileName()))).statusCode());
            }
            String url = registry.url("/layers/" + top.fileName());

            String info = QemuImg.runOrFail(List.of("qemu-img", "info", "--backing-chain", "--output=json", url));
            for (Digest d : List.of(base, mid, top)) assertTrue(info.contains(registry.url("/layers/" + d.fileName())), info);
            assertEquals(3, info.split("\"filename\"").length - 1, info);

            Path copy = dir.resolve("copy.qcow2");
            QemuImg.runOrFail(List.of("qemu-img", "convert", "-O", "qcow2", url, copy.toString()));
            QemuImg.Result compare = QemuImg.run(List.of("qemu-img", "compare", copy.toString(), dir.resolve(top.fileName()).toString()));
            assertEquals(0, compare.exitCode(), compare.stdout() + compare.stderr());
            assertTrue(compare.stdout().contains("Images are identical"), compare.stdout());
        }
    }

    /** A layer with 1 MiB of {@code pattern} at {@code offset}, backed by {@code parent} under its canonical name, stored as {@code <sha256>.qcow2}. */
    private Digest layer(Digest parent, int pattern, long offset) throws IOException {
        Path file = dir.resolve("new.qcow2");
        if (parent == null) {
            QemuImg.create(file, "64M");
        } else {
            QemuImg.createChild(file, Path.of(parent.fileName()));
        }
        QemuImg.writePattern(file, offset, 1 << 20, pattern);
        Digest digest = TestRegistry.sha256(Files.readAllBytes(file));
        Files.move(file, dir.resolve(digest.fileName()));
        return digest;
    }
}
