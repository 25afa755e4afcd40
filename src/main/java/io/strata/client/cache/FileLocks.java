package io.strata.client.cache;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.StampedLock;
import java.util.function.Consumer;

/**
 * Shared and exclusive locks on lock files, between processes and between threads of this JVM.
 *
 * <p>{@link FileLock} alone is not enough: it is held by the whole JVM, and a second lock on the
 * same file from this JVM throws instead of waiting. So each file has a JVM-wide
 * {@link StampedLock} (not owned by a thread: a pull takes a layer's lock in a download thread
 * and releases it from the main thread) in front of one operating-system lock, which the first
 * shared holder takes and the last one releases.
 */
public final class FileLocks {
    private static final ConcurrentHashMap<Path, Entry> ENTRIES = new ConcurrentHashMap<>();

    private FileLocks() {}

    /** A held lock; closing it releases it. */
    public interface Held extends AutoCloseable {
        @Override void close();
    }

    private static final class Entry {
        final StampedLock local = new StampedLock();
        int sharedHolders;
        FileChannel channel;
        FileLock osLock;
    }

    /**
     * Waits for a shared lock. {@code waiting} is told once if another holder makes us wait,
     * so a command can say why it is not moving.
     */
    public static Held shared(Path file, Consumer<String> waiting) throws IOException, InterruptedException {
        Entry entry = entry(file);
        long stamp = entry.local.tryReadLock();
        if (stamp == 0) {
            waiting.accept("another download in this process holds " + file.getFileName());
            stamp = entry.local.readLockInterruptibly();
        }
        try {
            synchronized (entry) {
                if (entry.sharedHolders == 0) acquireOs(entry, file, true, waiting);
                entry.sharedHolders++;
            }
        } catch (IOException | RuntimeException e) {
            entry.local.unlockRead(stamp);
            throw e;
        }
        long held = stamp;
        return once(() -> {
            synchronized (entry) {
                if (--entry.sharedHolders == 0) releaseOs(entry);
            }
            entry.local.unlockRead(held);
        });
    }

    /** Waits for an exclusive lock. */
    public static Held exclusive(Path file, Consumer<String> waiting) throws IOException, InterruptedException {
        Entry entry = entry(file);
        long stamp = entry.local.tryWriteLock();
        if (stamp == 0) {
            waiting.accept("another download in this process holds " + file.getFileName());
            stamp = entry.local.writeLockInterruptibly();
        }
        try {
            acquireOs(entry, file, false, waiting);
        } catch (IOException | RuntimeException e) {
            entry.local.unlockWrite(stamp);
            throw e;
        }
        long held = stamp;
        return once(() -> {
            releaseOs(entry);
            entry.local.unlockWrite(held);
        });
    }

    /** An exclusive lock if nobody holds the file now, in this process or another; never waits. */
    public static Optional<Held> tryExclusive(Path file) throws IOException {
        Entry entry = entry(file);
        long stamp = entry.local.tryWriteLock();
        if (stamp == 0) return Optional.empty();
        try {
            FileChannel channel = open(file);
            FileLock lock;
            try {
                lock = channel.tryLock(0, Long.MAX_VALUE, false);
            } catch (IOException | RuntimeException e) {
                channel.close();
                throw e;
            }
            if (lock == null) {
                channel.close();
                entry.local.unlockWrite(stamp);
                return Optional.empty();
            }
            entry.channel = channel;
            entry.osLock = lock;
        } catch (IOException | RuntimeException e) {
            entry.local.unlockWrite(stamp);
            throw e;
        }
        long held = stamp;
        return Optional.of(once(() -> {
            releaseOs(entry);
            entry.local.unlockWrite(held);
        }));
    }

    private static Entry entry(Path file) {
        return ENTRIES.computeIfAbsent(file.toAbsolutePath().normalize(), k -> new Entry());
    }

    private static void acquireOs(Entry entry, Path file, boolean shared, Consumer<String> waiting) throws IOException {
        FileChannel channel = open(file);
        try {
            FileLock lock = channel.tryLock(0, Long.MAX_VALUE, shared);
            if (lock == null) {
                waiting.accept("another strata process holds " + file.getFileName() + "; waiting for it");
                lock = channel.lock(0, Long.MAX_VALUE, shared);
            }
            entry.channel = channel;
            entry.osLock = lock;
        } catch (OverlappingFileLockException e) {
            channel.close();
            throw new IllegalStateException("lock file " + file + " is locked in this JVM outside FileLocks", e);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    private static void releaseOs(Entry entry) {
        try {
            if (entry.osLock != null) entry.osLock.release();
            if (entry.channel != null) entry.channel.close();
        } catch (IOException e) {
            // closing the channel releases the lock whatever happened
        } finally {
            entry.osLock = null;
            entry.channel = null;
        }
    }

    private static FileChannel open(Path file) throws IOException {
        return FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
    }

    private static Held once(Runnable release) {
        return new Held() {
            private boolean released;

            @Override
            public synchronized void close() {
                if (released) return;
                released = true;
                release.run();
            }
        };
    }
}
