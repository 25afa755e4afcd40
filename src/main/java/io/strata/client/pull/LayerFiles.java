package io.strata.client.pull;

import io.strata.client.cache.RefStore;
import io.strata.client.Timings;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/** Small file operations the download path shares. */
final class LayerFiles {
    private LayerFiles() {}

    static long sizeOf(Path file) throws IOException {
        try {
            return Files.size(file);
        } catch (NoSuchFileException e) {
            return 0;
        }
    }

    /** fsync, then an atomic rename, then fsync of the directory: the verified layer appears whole or not at all. */
    static void commit(Path part, Path target, Timings timings) throws IOException {
        long syncing = timings.start();
        try (FileChannel channel = FileChannel.open(part, StandardOpenOption.WRITE)) {
            channel.force(true);
        }
        timings.add("fsync-final", syncing);
        long renaming = timings.start();
        Files.move(part, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        RefStore.fsyncDirectory(target.getParent());
        timings.add("rename+dirsync", renaming);
    }
}
