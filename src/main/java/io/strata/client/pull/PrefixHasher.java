package io.strata.client.pull;

import io.strata.client.ClientException;
import io.strata.client.Timings;
import io.strata.client.pull.PartState.Segment;
import io.strata.layer.Digest;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;

/**
 * Hashes a partial download from the start as it becomes contiguous, in its own thread, while the
 * range writers keep writing: verification costs no time after the last byte arrives beyond
 * hashing what is left. Every {@link #FLUSH_BYTES} it also forces the file to disk and records
 * the segments (in a thread beside it), so the final fsync before the rename has little left to
 * do and a crash loses little. It reads back from the page cache, which is cheaper than hashing
 * on the network threads.
 *
 * <p>The record of the segments is kept only once the part can have a hole: when a range starts
 * while a range before it is unfinished ({@link #rangeStarting}: the second half of a split, before
 * its first byte), or when an earlier pull left one. Until then the part is a plain prefix, which a
 * resume reads from its size alone, and no record (a file written with two fsyncs at every flush)
 * is written. Since a layer is split only while it downloads, every part with several ranges has
 * had a hole, so this now matters only between a split and its second half's first request; it
 * was added when ranges were planned up front and a split layer fetched on one connection wrote
 * the record at every flush for nothing (0.37–0.47 s of periodic flushes for the 600 MiB layer of
 * the bench chain, against 0.26–0.38 s without).
 */
final class PrefixHasher implements Runnable {
    static final long FLUSH_BYTES = 64L << 20;
    private static final int CHUNK = 4 << 20;

    private final Path part;
    private final Path record;
    private final Digest layer;
    private final long size;
    private final Ranges ranges;
    private final Timings timings;
    private MessageDigest digest = Digest.sha256();
    private long hashed;
    private long flushed;
    private int generation;
    private boolean stopped;
    private IOException failure;
    private volatile IOException flushFailure;
    /** The part may have a hole, so the record of the segments is kept (see the class comment). */
    private volatile boolean recorded;

    PrefixHasher(Path part, Path record, Digest layer, long size, Ranges ranges, Timings timings) {
        this.timings = timings;
        this.part = part;
        this.record = record;
        this.layer = layer;
        this.size = size;
        this.ranges = ranges;
        this.recorded = java.nio.file.Files.exists(record);
    }

    /**
     * A request for {@code segment} is about to write: if a range before it is unfinished, its
     * bytes leave a hole, so the segments are recorded first (a crash then resumes every range
     * where it got to).
     */
    synchronized void rangeStarting(Segment segment) throws IOException {
        if (recorded || !ranges.holeBefore(segment)) return;
        PartState.save(record, layer, size, ranges.snapshot());
        recorded = true;
    }

    /** A writer added bytes. */
    synchronized void poke() { notifyAll(); }

    /** The single-stream part started over from byte 0 (the registry sent the whole file). */
    synchronized void reset() {
        digest = Digest.sha256();
        hashed = 0;
        flushed = 0;
        generation++;
        notifyAll();
    }

    synchronized void stop() {
        stopped = true;
        notifyAll();
    }

    @Override
    public void run() {
        ByteBuffer buffer = ByteBuffer.allocateDirect(CHUNK);
        Thread flushing = null;
        try (FileChannel channel = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            try {
                while (true) {
                    long from;
                    long until;
                    int seen;
                    MessageDigest into;
                    long idle = timings.start();
                    synchronized (this) {
                        while (!stopped && ranges.prefix() <= hashed) wait(50);
                        timings.add("hash-idle", idle);
                        if (stopped && ranges.prefix() <= hashed) return;
                        from = hashed;
                        until = Math.min(ranges.prefix(), from + CHUNK);
                        seen = generation;
                        into = digest;
                    }
                    buffer.clear().limit((int) (until - from));
                    long reading = timings.start();
                    while (buffer.hasRemaining()) {
                        if (channel.read(buffer, from + buffer.position()) < 0) break;
                    }
                    buffer.flip();
                    timings.add("hash-readback", reading);
                    // Outside the lock: the writers' poke() must not wait for 4 MiB of SHA-256.
                    long hashing = timings.start();
                    into.update(buffer);
                    timings.add("hash", hashing);
                    boolean flush;
                    synchronized (this) {
                        if (seen != generation) continue; // the part was truncated under us: start again
                        hashed = until;
                        flush = hashed - flushed >= FLUSH_BYTES && hashed < size && (flushing == null || !flushing.isAlive());
                        if (flush) flushed = hashed;
                        notifyAll();
                    }
                    if (flush) flushing = flushBeside(channel);
                }
            } finally {
                if (flushing != null) flushing.join();
            }
        } catch (IOException e) {
            fail(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (flushFailure != null) fail(flushFailure);
    }

    private synchronized void fail(IOException e) {
        if (failure == null) failure = e;
        notifyAll();
    }

    /**
     * Forces the written bytes to disk, then records the segments as they were before the force,
     * in a thread of its own: neither the hashing nor the writers wait for the disk.
     */
    private Thread flushBeside(FileChannel channel) {
        List<long[]> snapshot = ranges.snapshot();
        Thread thread = new Thread(() -> {
            long flushing = timings.start();
            try {
                channel.force(false);
                if (recorded) PartState.save(record, layer, size, snapshot);
            } catch (IOException e) {
                flushFailure = e;
            }
            timings.add("fsync-periodic", flushing);
        }, "strata-pull-flush");
        thread.setDaemon(true);
        thread.start();
        return thread;
    }

    /** Forces the part to disk and records where every segment got to (a pull that stops keeps this for the next). */
    void persist() throws IOException {
        if (LayerFiles.sizeOf(part) == 0) {
            java.nio.file.Files.deleteIfExists(part); // nothing arrived: leave nothing behind
            java.nio.file.Files.deleteIfExists(record);
            return;
        }
        List<long[]> snapshot = ranges.snapshot();
        try (FileChannel channel = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            channel.force(false);
        }
        if (recorded) PartState.save(record, layer, size, snapshot);
    }

    /** Waits until the whole layer is hashed and returns the hex sha256. */
    synchronized String awaitDigest() throws IOException, InterruptedException {
        while (hashed < size && failure == null) wait(100);
        if (failure != null) throw new ClientException("cannot read back " + part + " to verify it: " + failure.getMessage(), failure);
        return HexFormat.of().formatHex(digest.digest());
    }

}
