package io.strata.layer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Where layer bytes live. Content-addressed and write-once: a layer's bytes are never changed
 * after {@link #commit}; a stored path always holds a complete, verified file.
 *
 * <p>Writers stream into a file under {@link #newTempFile} while hashing, verify, fsync, then
 * {@link #commit} moves it into place atomically.
 */
public interface LayerStore {
    /** A fresh, empty file in the store's upload area, on the same file system as the layers (so commit is a rename). */
    Path newTempFile(String prefix) throws IOException;

    /** The upload area: temp files of in-progress uploads. */
    Path uploadArea();

    /** Atomically moves a verified, fsynced temp file into place as {@code digest}. Idempotent for equal bytes. */
    void commit(Path verifiedTemp, Digest digest) throws IOException;

    boolean exists(Digest digest);

    /** The layer's bytes for reading; throws {@link java.nio.file.NoSuchFileException} when absent. */
    LayerContent open(Digest digest) throws IOException;

    /** Removes the layer's bytes; false if there were none. */
    boolean delete(Digest digest) throws IOException;

    /** Every committed layer, in no particular order. */
    Stream<Digest> list() throws IOException;

    /** Bytes free for new layers on the store's disk. */
    long usableSpace() throws IOException;

    /** Read access to one committed layer; safe to share between threads. */
    interface LayerContent {
        long size();

        /**
         * Read-only buffers that together hold bytes {@code [offset, offset+length)}, in order.
         * Each buffer is independent (own position/limit), so callers may consume them freely.
         */
        List<ByteBuffer> slices(long offset, long length) throws IOException;
    }
}
