package io.strata.layer;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.stream.Stream;

/**
 * {@link LayerStore} on a local file system. Layout under the data directory:
 *
 * <pre>
 * data/
 * ├── strata.db                     catalog (SQLite, WAL)
 * ├── layers/
 * │   └── ab/                       first two hex digits, so no directory grows past ~1/256 of the layers
 * │       └── ab12…ef.qcow2         the layer, named by the sha256 of its bytes
 * └── uploads/
 *     └── &lt;id&gt;.part               bytes of an upload in progress; never served
 * </pre>
 *
 * Reads are served from memory-mapped segments of the file: the kernel copies page-cache pages
 * straight to the socket, with no Java heap copy, which is what lets a JVM keep up with nginx's sendfile.
 */
public final class FsLayerStore implements LayerStore {
    /** Mapped segment size: a MappedByteBuffer holds at most 2 GiB, and smaller segments waste less address space for small ranges. */
    static final long SEGMENT_BYTES = 1L << 30;

    private final Path layersDir;
    private final Path uploadsDir;
    private final Cache<Digest, MappedLayer> open = Caffeine.newBuilder().maximumSize(512).build();

    public FsLayerStore(Path dataDir) throws IOException {
        this.layersDir = Files.createDirectories(dataDir.resolve("layers"));
        this.uploadsDir = Files.createDirectories(dataDir.resolve("uploads"));
    }

    public Path pathOf(Digest digest) {
        return layersDir.resolve(digest.hex().substring(0, 2)).resolve(digest.fileName());
    }

    @Override
    public Path newTempFile(String prefix) throws IOException {
        return Files.createTempFile(uploadsDir, prefix, ".part");
    }

    @Override
    public Path uploadArea() { return uploadsDir; }

    @Override
    public void commit(Path verifiedTemp, Digest digest) throws IOException {
        Path target = pathOf(digest);
        Path shard = Files.createDirectories(target.getParent());
        try {
            // Replacing an existing file is safe: equal digests mean equal bytes (a concurrent upload of the same layer).
            Files.move(verifiedTemp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("the upload area and the layer directory must be on one file system", e);
        }
        fsyncDirectory(shard);
    }

    @Override
    public boolean exists(Digest digest) { return Files.isRegularFile(pathOf(digest)); }

    @Override
    public LayerContent open(Digest digest) throws IOException {
        try {
            return open.get(digest, d -> {
                try {
                    return new MappedLayer(pathOf(d));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    @Override
    public boolean delete(Digest digest) throws IOException {
        open.invalidate(digest);
        boolean deleted = Files.deleteIfExists(pathOf(digest));
        if (deleted) fsyncDirectory(pathOf(digest).getParent());
        return deleted;
    }

    @Override
    public Stream<Digest> list() throws IOException {
        List<Digest> out = new ArrayList<>();
        try (DirectoryStream<Path> shards = Files.newDirectoryStream(layersDir)) {
            for (Path shard : shards) {
                if (!Files.isDirectory(shard)) continue;
                try (DirectoryStream<Path> files = Files.newDirectoryStream(shard, "*.qcow2")) {
                    for (Path file : files) {
                        String name = file.getFileName().toString();
                        String hex = name.substring(0, name.length() - ".qcow2".length());
                        if (Digest.isValid(hex) && hex.startsWith(shard.getFileName().toString())) out.add(new Digest(hex));
                    }
                }
            }
        }
        return out.stream();
    }

    @Override
    public long usableSpace() throws IOException { return Files.getFileStore(layersDir).getUsableSpace(); }

    /** Makes a rename or unlink in {@code dir} durable. */
    public static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }

    /** One layer file, mapped lazily segment by segment; mappings stay valid after the file is unlinked. */
    private static final class MappedLayer implements LayerContent {
        private final Path path;
        private final long size;
        private final AtomicReferenceArray<MappedByteBuffer> segments;

        MappedLayer(Path path) throws IOException {
            this.path = path;
            if (!Files.isRegularFile(path)) throw new NoSuchFileException(path.toString());
            this.size = Files.size(path);
            this.segments = new AtomicReferenceArray<>((int) ((size + SEGMENT_BYTES - 1) / SEGMENT_BYTES));
        }

        @Override public long size() { return size; }

        @Override
        public List<ByteBuffer> slices(long offset, long length) throws IOException {
            if (offset < 0 || length < 0 || offset + length > size) {
                throw new IndexOutOfBoundsException("range " + offset + "+" + length + " outside " + size);
            }
            List<ByteBuffer> out = new ArrayList<>(2);
            long position = offset;
            long end = offset + length;
            while (position < end) {
                int index = (int) (position / SEGMENT_BYTES);
                long segmentStart = index * SEGMENT_BYTES;
                long segmentEnd = Math.min(end, segmentStart + SEGMENT_BYTES);
                MappedByteBuffer segment = segment(index);
                out.add(segment.slice((int) (position - segmentStart), (int) (segmentEnd - position)));
                position = segmentEnd;
            }
            return out;
        }

        private MappedByteBuffer segment(int index) throws IOException {
            MappedByteBuffer mapped = segments.get(index);
            if (mapped != null) return mapped;
            long start = index * SEGMENT_BYTES;
            try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
                mapped = channel.map(FileChannel.MapMode.READ_ONLY, start, Math.min(SEGMENT_BYTES, size - start));
            }
            // Two threads may map the same segment at once; either mapping is correct, keep the first.
            return segments.compareAndSet(index, null, mapped) ? mapped : segments.get(index);
        }
    }
}
