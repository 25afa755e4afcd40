package io.strata.layer;

import com.sun.nio.file.ExtendedOpenOption;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The {@link LayerStore} contract on a data directory. */
class FsLayerStoreTest extends LayerStoreContract {
    @TempDir Path dir;
    private FsLayerStore store;

    @BeforeEach
    void open() throws IOException {
        store = new FsLayerStore(dir.resolve("data"));
        Files.createDirectories(dir.resolve("scratch"));
    }

    @Override protected LayerStore store() { return store; }

    @Override protected Path scratch() { return dir.resolve("scratch"); }

    /** Where the file system takes O_DIRECT, uploads use it: the fast path must not be lost to a silent fallback. */
    @Test
    void uploads_append_with_o_direct_where_the_file_system_allows_it() throws IOException {
        Path probe = dir.resolve("scratch/probe");
        boolean supported;
        try (FileChannel channel = FileChannel.open(probe, StandardOpenOption.CREATE, StandardOpenOption.WRITE, ExtendedOpenOption.DIRECT)) {
            supported = true;
        } catch (IOException | UnsupportedOperationException e) {
            supported = false;
        }
        Files.deleteIfExists(probe);
        LayerStore.Upload upload = store.create(id());
        try {
            assertEquals(supported, FsLayerStore.writesDirect(upload), "O_DIRECT supported here: " + supported);
        } finally {
            upload.abort();
        }
    }

    @Override
    protected List<String> leftovers() throws IOException {
        try (Stream<Path> files = Files.walk(dir.resolve("data"))) {
            return files.filter(Files::isRegularFile).map(Path::toString).sorted().toList();
        }
    }
}
