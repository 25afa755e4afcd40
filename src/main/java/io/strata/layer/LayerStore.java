package io.strata.layer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Where layer bytes live: a local directory ({@link FsLayerStore}) or an S3-compatible object store.
 * Content-addressed and write-once: a layer's bytes never change once committed, and a committed
 * layer is always complete and verified. Nothing above this interface knows which store runs.
 *
 * <p>Writing is an {@link Upload}: bytes are appended, {@link Upload#sync made durable} at
 * checkpoints whose opaque state the caller records (so another process can {@link #resume} the
 * upload), then {@link Upload#complete completed} into the layer or {@link Upload#abort aborted}.
 * A complete local file can also be stored in one call ({@link #commit}, {@link #copyIn}).
 */
public interface LayerStore {
    // ------------------------------------------------------------------ writing

    /** Starts an upload named {@code id} (32 lowercase hex; unique). */
    Upload create(String id) throws IOException;

    /**
     * Reopens an upload at its last recorded checkpoint: {@code offset} and {@code state} are what
     * {@link Upload#sync} returned. Bytes written after that checkpoint are dropped. Works in any
     * process sharing the store (and, for stores that keep state there, the database).
     */
    Upload resume(String id, long offset, String state) throws IOException;

    /**
     * Up to {@code max} first bytes of an upload at its recorded checkpoint, read without
     * disturbing a writer that may be appending to it (garbage collection peeks at parents).
     * Throws {@link java.nio.file.NoSuchFileException} when the upload is gone.
     */
    ByteBuffer uploadHead(String id, long offset, String state, int max) throws IOException;

    /**
     * Stores a complete, verified local file as {@code digest} and consumes it (moved into place,
     * or uploaded and deleted). Idempotent: an already stored digest stays as it is.
     */
    void commit(Path verifiedFile, Digest digest) throws IOException;

    /** Like {@link #commit} but leaves {@code source} where it is (copies it in). */
    void copyIn(Path source, Digest digest) throws IOException;

    /** A fresh, empty local scratch file (for work that needs a file before {@link #commit}). */
    Path newTempFile(String prefix) throws IOException;

    /**
     * Removes upload leftovers older than {@code olderThan} that belong to none of {@code liveUploads}
     * (a crash between a store write and its database row leaves them); returns how many.
     */
    int sweep(Set<String> liveUploads, Instant olderThan) throws IOException;

    // ------------------------------------------------------------------ reading

    boolean exists(Digest digest);

    /** The layer's bytes for reading; throws {@link java.nio.file.NoSuchFileException} when absent. */
    LayerContent open(Digest digest) throws IOException;

    /**
     * The layer's bytes if the store has them open already, so that neither this call nor
     * reading {@link LayerContent#slices} needs I/O beyond touching mapped pages; empty when
     * {@link #open} would have to do work first (or the store streams). Lets a server answer a
     * hot read on its I/O thread.
     */
    default Optional<LayerContent> alreadyOpen(Digest digest) { return Optional.empty(); }

    /** Removes the layer's bytes; false if there were none. */
    boolean delete(Digest digest) throws IOException;

    /** Every committed layer, in no particular order. */
    Stream<Digest> list() throws IOException;

    /** Bytes free for new layers; {@link Long#MAX_VALUE} when the store has no such limit. */
    long usableSpace() throws IOException;

    /** Throws with one line saying what is wrong when the store cannot be used (startup, {@code /healthz}). */
    void check() throws IOException;

    /** Where the layers are, for humans: a directory or {@code s3://bucket/prefix}. */
    String describe();

    /**
     * A URL the layer's bytes can be fetched from directly for {@code validFor}, when this store is
     * configured to hand them out (an object store with {@code --redirect-layers}: a presigned URL);
     * empty otherwise.
     */
    default Optional<java.net.URI> directUrl(Digest digest, java.time.Duration validFor) throws IOException {
        return Optional.empty();
    }

    /** Reads bytes at a position, as {@link java.nio.channels.FileChannel#read(ByteBuffer, long)} does (-1 at the end). */
    @FunctionalInterface
    interface Positional {
        int read(ByteBuffer destination, long position) throws IOException;
    }

    /** Read access to one committed layer; safe to share between threads. */
    interface LayerContent {
        long size();

        /**
         * Memory-mapped, read-only buffers holding bytes {@code [offset, offset+length)} in order,
         * when the store has them at hand (a local file): the zero-copy path. Empty otherwise.
         */
        Optional<List<ByteBuffer>> slices(long offset, long length) throws IOException;

        /**
         * A stream of bytes {@code [offset, offset+length)}. Closing it before its end releases the
         * source at once (an object store's connection is aborted, not drained).
         */
        InputStream stream(long offset, long length) throws IOException;
    }

    /**
     * One upload being written. One thread at a time; {@link #close} or a terminal call
     * ({@link #complete}, {@link #abort}) releases it.
     */
    interface Upload extends AutoCloseable {
        String id();

        /** Bytes appended so far (durable up to the last {@link #sync}). */
        long offset();

        /** Appends bytes at {@link #offset()}. */
        void write(byte[] bytes, int offset, int length) throws IOException;

        /** May be called from another thread while writing: starts making written bytes durable early. */
        default void flushHint() throws IOException {}

        /** Whether {@link #flushHint} does anything now: a writer need not keep a thread to call it otherwise. */
        default boolean wantsFlushHints() { return false; }

        /**
         * Makes every written byte durable and returns the state to record next to {@link #offset()};
         * after recording it, call {@link #synced}.
         */
        String sync() throws IOException;

        /** The state returned by the last {@link #sync} is recorded: what it superseded may go. */
        default void synced() throws IOException {}

        /** Up to {@code max} first bytes of the upload (as far as synced), for the format inspector. */
        ByteBuffer head(int max) throws IOException;

        /**
         * The synced bytes from the start, when this store can read an unfinished upload back (a
         * local file); used to rebuild a hash state that was not recorded. Empty otherwise.
         */
        default Optional<InputStream> readBack() throws IOException { return Optional.empty(); }

        /** Whether {@link #readBack} gives the bytes: a session may then record its hash state after the fact. */
        default boolean canReadBack() { return false; }

        /**
         * Makes every written byte readable at any position, for the inspector's whole-file checks
         * before {@link #complete}; the bytes stay invisible as a layer. After this only
         * {@link #complete} or {@link #abort} may follow (an object store completes its multipart
         * upload here).
         */
        Positional seal() throws IOException;

        /**
         * Makes the bytes (all written ones, synced here if needed) the layer {@code digest}, which
         * the caller has verified. Idempotent: when the digest is already stored, this copy is dropped.
         */
        void complete(Digest digest) throws IOException;

        /** Removes everything this upload wrote. */
        void abort() throws IOException;

        /** Releases local resources; the upload stays resumable from its last checkpoint. */
        @Override
        void close() throws IOException;
    }
}
