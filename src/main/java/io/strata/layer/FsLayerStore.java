package io.strata.layer;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
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
 *     └── session-&lt;id&gt;.part       bytes of an upload in progress (or a scratch file); never served
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
    /** Upload files open in this process (with a count), which {@link #sweep} must leave alone. */
    private final java.util.concurrent.ConcurrentHashMap<Path, Integer> writing = new java.util.concurrent.ConcurrentHashMap<>();
    // Maintenance on the reading thread (executor): the default hands it to the common pool, which
    // under 100k reads/s woke a pool thread every few requests (13% of a core for nothing).
    private final Cache<Digest, MappedLayer> open = Caffeine.newBuilder().maximumSize(512).executor(Runnable::run).build();

    /** What O_DIRECT writes in {@link #uploadsDir} align to; 0: uploads go through the page cache. */
    private final int directBlock;

    /** Set when replicas share the directory: see {@link #shareWithOtherProcesses}. */
    private volatile boolean shared;

    /** Other processes (replicas on one PostgreSQL database) use this directory too: {@link #sweep} keeps recent files. */
    public void shareWithOtherProcesses() { shared = true; }

    public FsLayerStore(Path dataDir) throws IOException {
        this(dataDir, true);
    }

    /** @param directWrites append uploads with O_DIRECT where the file system allows it ({@link DirectAppender}) */
    public FsLayerStore(Path dataDir, boolean directWrites) throws IOException {
        this.layersDir = Files.createDirectories(dataDir.resolve("layers"));
        this.uploadsDir = Files.createDirectories(dataDir.resolve("uploads"));
        this.directBlock = directWrites ? DirectAppender.blockSize(uploadsDir) : 0;
    }

    public Path pathOf(Digest digest) {
        return layersDir.resolve(digest.hex().substring(0, 2)).resolve(digest.fileName());
    }

    @Override
    public Path newTempFile(String prefix) throws IOException {
        return Files.createTempFile(uploadsDir, prefix, ".part");
    }

    @Override
    public Upload create(String id) throws IOException {
        Path file = uploadFile(id);
        Files.createFile(file);
        return new FileUpload(id, file, 0);
    }

    @Override
    public Upload resume(String id, long offset, String state) throws IOException {
        return new FileUpload(id, uploadFile(id), offset);
    }

    @Override
    public ByteBuffer uploadHead(String id, long offset, String state, int max) throws IOException {
        ByteBuffer head = ByteBuffer.allocate((int) Math.min(max, offset));
        try (FileChannel channel = FileChannel.open(uploadFile(id), StandardOpenOption.READ)) {
            while (head.hasRemaining() && channel.read(head, head.position()) > 0) { /* fill */ }
        }
        return head.flip();
    }

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
    public void copyIn(Path source, Digest digest) throws IOException {
        if (exists(digest)) return;
        Path temp = newTempFile("copy-");
        try {
            Files.copy(source, temp, StandardCopyOption.REPLACE_EXISTING);
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                channel.force(true);
            }
            commit(temp, digest);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    @Override
    public int sweep(Set<String> liveUploads, Instant olderThan) throws IOException {
        // One process owns the data directory (DataDirLock): a file no upload of this process holds is garbage, whatever its age.
        // Replicas sharing it (metadata in PostgreSQL): another process may be writing it, so only an old one is.
        int removed = 0;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(uploadsDir)) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                String id = name.startsWith("session-") && name.endsWith(".part")
                        ? name.substring("session-".length(), name.length() - ".part".length()) : name;
                if (liveUploads.contains(id) || writing.containsKey(file)) continue;
                try {
                    if (shared && !Files.getLastModifiedTime(file).toInstant().isBefore(olderThan)) continue;
                } catch (java.nio.file.NoSuchFileException e) {
                    continue;
                }
                if (Files.deleteIfExists(file)) removed++;
            }
        }
        return removed;
    }

    @Override
    public void check() throws IOException {
        if (!Files.isWritable(uploadsDir)) throw new IOException("the layer directory " + uploadsDir + " is not writable");
    }

    @Override
    public String describe() { return layersDir.getParent().toString(); }

    private Path uploadFile(String id) { return uploadsDir.resolve("session-" + id + ".part"); }

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
    public Optional<LayerContent> alreadyOpen(Digest digest) { return Optional.ofNullable(open.getIfPresent(digest)); }

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

    /**
     * Looked up once: {@code Files.getFileStore} parses the mount table (60 µs with 20 mounts here,
     * longer on a host with many mounts), and every chunk of an upload asks for the
     * free space. The store's {@code getUsableSpace} asks the kernel about the path each time, so
     * it stays true when something is mounted there later.
     */
    private volatile FileStore fileStore;

    @Override
    public long usableSpace() throws IOException {
        FileStore store = fileStore;
        if (store == null) fileStore = store = Files.getFileStore(layersDir);
        return store.getUsableSpace();
    }

    /** Whether {@code upload} (one of this store's) appends with O_DIRECT: for tests that must not fall back silently. */
    static boolean writesDirect(Upload upload) {
        return upload instanceof FileUpload file && file.appender != null;
    }

    /** Makes a rename or unlink in {@code dir} durable. */
    public static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }

    /**
     * An upload written straight into {@code uploads/<id>.part}: durable after each fsync,
     * renamed into place when complete. Resuming cuts the file back to the recorded offset.
     */
    /**
     * Direct buffers for {@link FileUpload#write}, borrowed for one call: a buffer allocated per
     * opened upload (every chunk of a resumable upload reopens it) was freed only by the GC.
     * Bounded, so idle memory stays {@value #POOLED_DIRECT} buffers.
     */
    private static final int POOLED_DIRECT = 8;
    private static final int DIRECT_BYTES = 256 * 1024;
    private static final java.util.concurrent.BlockingQueue<ByteBuffer> DIRECT_BUFFERS =
            new java.util.concurrent.ArrayBlockingQueue<>(POOLED_DIRECT);

    private static ByteBuffer borrowDirect() {
        ByteBuffer direct = DIRECT_BUFFERS.poll();
        return direct != null ? direct : ByteBuffer.allocateDirect(DIRECT_BYTES);
    }

    private final class FileUpload implements Upload {
        private final String id;
        private final Path file;
        /** Reads, and the writes {@link #appender} leaves to the page cache. */
        private final FileChannel channel;
        /** Appends with O_DIRECT where the file system allows it; null: {@link #channel} takes every write. */
        private final DirectAppender appender;
        private long offset;

        FileUpload(String id, Path file, long offset) throws IOException {
            this.id = id;
            this.file = file;
            try {
                this.channel = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.READ);
            } catch (NoSuchFileException e) {
                throw new NoSuchFileException(file.toString(), null, "the upload's bytes are gone");
            }
            if (channel.size() < offset) {
                channel.close();
                throw new IOException("upload file " + file + " is shorter than its recorded length " + offset);
            }
            if (channel.size() > offset) channel.truncate(offset);
            channel.position(offset);
            this.offset = offset;
            try {
                this.appender = DirectAppender.open(file, channel, offset, directBlock).orElse(null);
            } catch (IOException | RuntimeException e) {
                channel.close();
                throw e;
            }
            writing.merge(file, 1, Integer::sum);
        }

        @Override public String id() { return id; }

        @Override public long offset() { return offset; }

        @Override
        public void write(byte[] bytes, int from, int length) throws IOException {
            if (appender != null) {
                appender.write(bytes, from, length);
                offset += length;
                return;
            }
            ByteBuffer direct = borrowDirect();
            try {
                int done = 0;
                while (done < length) {
                    direct.clear();
                    int n = Math.min(direct.capacity(), length - done);
                    direct.put(bytes, from + done, n).flip();
                    while (direct.hasRemaining()) channel.write(direct);
                    done += n;
                }
            } finally {
                DIRECT_BUFFERS.offer(direct);
            }
            offset += length;
        }

        /** Direct writes reach the disk as they are made: only buffered ones need starting early. */
        @Override
        public void flushHint() throws IOException {
            if (appender == null) channel.force(false);
        }

        @Override
        public boolean wantsFlushHints() { return appender == null; }

        @Override
        public String sync() throws IOException {
            drain();
            channel.force(false);
            return "";
        }

        private void drain() throws IOException {
            if (appender != null) appender.drain();
        }

        @Override
        public ByteBuffer head(int max) throws IOException {
            drain();
            ByteBuffer head = ByteBuffer.allocate((int) Math.min(max, offset));
            while (head.hasRemaining() && channel.read(head, head.position()) > 0) { /* fill */ }
            return head.flip();
        }

        @Override
        public boolean canReadBack() { return true; }

        @Override
        public Optional<InputStream> readBack() throws IOException {
            drain();
            return Optional.of(new java.io.BufferedInputStream(Files.newInputStream(file), 256 * 1024));
        }

        @Override
        public Positional seal() throws IOException {
            drain();
            channel.force(false);
            return channel::read;
        }

        @Override
        public void complete(Digest digest) throws IOException {
            drain();
            channel.force(false);
            close();
            commit(file, digest);
        }

        @Override
        public void abort() throws IOException {
            close();
            Files.deleteIfExists(file);
        }

        @Override
        public void close() throws IOException {
            if (!channel.isOpen()) return;
            try {
                if (appender != null) appender.close();
            } finally {
                channel.close();
            }
            writing.computeIfPresent(file, (f, count) -> count == 1 ? null : count - 1);
        }
    }

    /** Reads a list of buffers in order, without copying them first. */
    private static final class ByteBuffersInputStream extends InputStream {
        private final java.util.Iterator<ByteBuffer> buffers;
        private ByteBuffer current;

        ByteBuffersInputStream(List<ByteBuffer> list) {
            this.buffers = list.iterator();
            this.current = buffers.hasNext() ? buffers.next() : ByteBuffer.allocate(0);
        }

        @Override
        public int read() {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] bytes, int offset, int length) {
            if (length == 0) return 0;
            while (!current.hasRemaining()) {
                if (!buffers.hasNext()) return -1;
                current = buffers.next();
            }
            int n = Math.min(length, current.remaining());
            current.get(bytes, offset, n);
            return n;
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
        public Optional<List<ByteBuffer>> slices(long offset, long length) throws IOException {
            return Optional.of(mapped(offset, length));
        }

        @Override
        public InputStream stream(long offset, long length) throws IOException {
            return new ByteBuffersInputStream(mapped(offset, length));
        }

        private List<ByteBuffer> mapped(long offset, long length) throws IOException {
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
