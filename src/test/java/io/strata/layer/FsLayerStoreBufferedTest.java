package io.strata.layer;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * The {@link LayerStore} contract on a data directory written through the page cache only: the
 * path every upload takes on a file system that refuses O_DIRECT ({@link FsLayerStoreTest} covers
 * the direct path where the test's file system allows it).
 */
class FsLayerStoreBufferedTest extends LayerStoreContract {
    @TempDir Path dir;
    private FsLayerStore store;

    @BeforeEach
    void open() throws IOException {
        store = new FsLayerStore(dir.resolve("data"), false);
        Files.createDirectories(dir.resolve("scratch"));
    }

    @Override protected LayerStore store() { return store; }

    @Override protected Path scratch() { return dir.resolve("scratch"); }

    @Override
    protected List<String> leftovers() throws IOException {
        try (Stream<Path> files = Files.walk(dir.resolve("data"))) {
            return files.filter(Files::isRegularFile).map(Path::toString).sorted().toList();
        }
    }
}
