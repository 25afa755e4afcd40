package io.strata.client.pull;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Usable bytes on the file system holding a directory; an interface so tests can stage a full disk. */
@FunctionalInterface
public interface FreeSpace {
    FreeSpace DISK = dir -> Files.getFileStore(dir).getUsableSpace();

    long usableBytes(Path dir) throws IOException;
}
