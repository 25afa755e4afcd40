package io.strata.layer;

import io.strata.testing.LayerFactory;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VerifierTest {
    @TempDir Path dir;

    @Test
    void a_healthy_store_verifies_and_a_flipped_byte_or_a_stray_file_is_reported() throws IOException {
        LayerFactory layers = new LayerFactory(dir);
        Digest base = layers.base(), child = layers.child(base);
        try (TestRegistry registry = TestRegistry.start(dir.resolve("data"))) {
            for (Digest d : List.of(base, child)) assertEquals(201, registry.putLayer(layers.bytes(d)).statusCode());
            FsLayerStore store = (FsLayerStore) registry.server().services().layers().store();
            LayerDao dao = registry.server().services().database().dao(LayerDao.class);

            Verifier.Report healthy = new Verifier(store, dao).run(false, done -> { });
            assertTrue(healthy.ok(), healthy.problems().toString());
            assertEquals(2, healthy.layersChecked());
            assertEquals(layers.size(base) + layers.size(child), healthy.bytesChecked());

            try (FileChannel file = FileChannel.open(store.pathOf(child), StandardOpenOption.WRITE)) {
                file.write(ByteBuffer.wrap(new byte[] {0x7f}), layers.size(child) - 10);
            }
            Path stray = store.pathOf(new Digest("cd".repeat(32)));
            Files.createDirectories(stray.getParent());
            Files.write(stray, layers.bytes(base));

            Verifier.Report broken = new Verifier(store, dao).run(false, done -> { });
            assertEquals(2, broken.problems().size(), broken.problems().toString());
            assertTrue(broken.problems().stream().anyMatch(p -> p.layer().equals(child) && p.what().contains("corrupt")));
            assertTrue(broken.problems().stream().anyMatch(p -> p.what().contains("without a row")));
            assertTrue(new Verifier(store, dao).run(true, done -> { }).problems().stream().noneMatch(p -> p.layer().equals(child)),
                    "--quick does not hash, so it cannot see a flipped byte");
        }
    }
}
