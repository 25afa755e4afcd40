package io.strata.store.s3;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.layer.Digest;
import io.strata.layer.LayerStore;
import io.strata.layer.qcow2.Qcow2Inspector;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.model.CompleteMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.CompletedMultipartUpload;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.CreateMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.UploadPartRequest;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.SequenceInputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

/**
 * An upload into one S3 multipart upload targeting {@code blobs/<id>}, with bounded memory.
 *
 * <p>Bytes collect in a {@value S3LayerStore#PART_BYTES}-byte buffer (taken from the store's
 * shared pool) and go up as a part when it is full, in the background while the next buffer
 * fills (at most one part in flight per upload). A {@link #sync} with fewer bytes than S3's
 * 5 MiB part minimum stores them as a small pending object instead; pending objects are merged
 * into the next part once 5 MiB accumulate, so each byte is read back at most once and small
 * PATCH chunks cost no quadratic copying. The checkpoint ({@link State}: the multipart upload id,
 * parts with their ETags, pending pieces) is JSON the caller records in the database; pieces
 * merged into a part are deleted only after the checkpoint that no longer names them is recorded.
 */
final class S3Upload implements LayerStore.Upload {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a checkpoint records. */
    record State(String multipartId, List<Part> parts, List<Piece> pending) {}

    record Part(int number, String etag, long size) {}

    record Piece(long offset, long size) {}

    private final S3LayerStore store;
    private final String id;
    private final String key;
    private final String multipartId;
    private final List<Part> parts;
    private final List<Piece> pending;
    private final List<String> superseded = new ArrayList<>();
    /** The first bytes, kept for the inspector and written to {@code uploads/<id>/head} at each sync until complete. */
    private final byte[] head;
    private int headLength;
    private int headStored;
    private byte[] buffer;
    private int buffered;
    private Future<Part> inFlight;
    private List<Piece> inFlightPieces = List.of();
    private long offset;
    private boolean sealed;

    private S3Upload(S3LayerStore store, String id, String multipartId, List<Part> parts, List<Piece> pending, long offset,
                     byte[] head, int headLength) {
        this.store = store;
        this.id = id;
        this.key = store.blobKey(id);
        this.multipartId = multipartId;
        this.parts = new ArrayList<>(parts);
        this.pending = new ArrayList<>(pending);
        this.offset = offset;
        this.head = head;
        this.headLength = headLength;
        this.headStored = headLength;
    }

    static S3Upload create(S3LayerStore store, String id) throws IOException {
        String multipartId;
        try {
            multipartId = store.s3.createMultipartUpload(CreateMultipartUploadRequest.builder().bucket(store.bucket)
                    .key(store.blobKey(id)).contentType("application/octet-stream").build()).uploadId();
        } catch (SdkException e) {
            throw store.translate(e, "start an upload in " + store.describe());
        }
        S3Upload upload = new S3Upload(store, id, multipartId, List.of(), List.of(), 0, new byte[Qcow2Inspector.MAX_HEADER_BYTES], 0);
        // An empty head marks when the upload began: the sweep tells an abandoned one by its objects' age.
        upload.put(store.headKey(id), upload.head, 0);
        return upload;
    }

    static S3Upload resume(S3LayerStore store, String id, long offset, String json) throws IOException {
        if (json == null || json.isEmpty()) throw new NoSuchFileException(id, null, "no recorded S3 upload state");
        State state = JSON.readValue(json, State.class);
        long total = state.parts().stream().mapToLong(Part::size).sum() + state.pending().stream().mapToLong(Piece::size).sum();
        if (total != offset) throw new IOException("upload " + id + ": recorded state covers " + total + " bytes, the row says " + offset);
        byte[] head = new byte[Qcow2Inspector.MAX_HEADER_BYTES];
        int headLength = (int) Math.min(head.length, offset);
        if (headLength > 0) {
            ByteBuffer stored = store.uploadHead(id, offset, json, headLength);
            headLength = stored.remaining();
            stored.get(head, 0, headLength);
        }
        return new S3Upload(store, id, state.multipartId(), state.parts(), state.pending(), offset, head, headLength);
    }

    @Override public String id() { return id; }

    @Override public long offset() { return offset; }

    @Override
    public void write(byte[] bytes, int from, int length) throws IOException {
        if (offset < head.length) {
            int take = (int) Math.min(length, head.length - offset);
            System.arraycopy(bytes, from, head, (int) offset, take);
            headLength = (int) offset + take;
        }
        int done = 0;
        while (done < length) {
            if (buffer == null) takeBuffer();
            int n = Math.min(length - done, buffer.length - buffered);
            System.arraycopy(bytes, from + done, buffer, buffered, n);
            buffered += n;
            done += n;
            offset += n;
            if (buffered == buffer.length) uploadPart();
        }
    }

    @Override
    public String sync() throws IOException {
        if (buffered > 0) {
            if (pendingBytes() + buffered >= S3LayerStore.MIN_PART_BYTES) {
                uploadPart();
            } else {
                awaitInFlight();
                long at = offset - buffered;
                put(store.pieceKey(id, at), buffer, buffered);
                pending.add(new Piece(at, buffered));
                buffered = 0;
            }
        }
        awaitInFlight();
        releaseBuffer();
        if (headLength > headStored) {
            put(store.headKey(id), head, headLength);
            headStored = headLength;
        }
        return JSON.writeValueAsString(new State(multipartId, parts, pending));
    }

    @Override
    public void synced() throws IOException {
        for (String piece : superseded) store.deleteObject(piece);
        superseded.clear();
    }

    @Override
    public ByteBuffer head(int max) {
        return ByteBuffer.wrap(head, 0, Math.min(max, headLength)).slice().asReadOnlyBuffer();
    }

    /**
     * Completes the multipart upload: the object {@code blobs/<id>} exists from now on, but no
     * digest maps to it, so nothing serves it until {@link #complete}. Reads are ranged GETs.
     */
    @Override
    public LayerStore.Positional seal() throws IOException {
        if (!sealed) {
            // The last part may be below the minimum: everything still pending or buffered goes into it.
            if (buffered > 0 || !pending.isEmpty() || (parts.isEmpty() && inFlight == null)) uploadPart();
            awaitInFlight();
            releaseBuffer();
            try {
                store.s3.completeMultipartUpload(CompleteMultipartUploadRequest.builder().bucket(store.bucket).key(key).uploadId(multipartId)
                        .multipartUpload(CompletedMultipartUpload.builder().parts(parts.stream()
                                .map(part -> CompletedPart.builder().partNumber(part.number()).eTag(part.etag()).build()).toList()).build())
                        .build());
            } catch (SdkException e) {
                throw store.translate(e, "complete the upload of " + key + " in " + store.describe());
            }
            sealed = true;
        }
        long size = parts.stream().mapToLong(Part::size).sum();
        return (destination, position) -> {
            if (position >= size) return -1;
            int length = (int) Math.min(destination.remaining(), size - position);
            if (length == 0) return 0;
            try (InputStream in = store.get(key, position, length)) {
                byte[] bytes = in.readNBytes(length);
                destination.put(bytes);
                return bytes.length;
            }
        };
    }

    @Override
    public void complete(Digest digest) throws IOException {
        seal();
        long size = parts.stream().mapToLong(Part::size).sum();
        if (store.objects.insert(digest.hex(), key, size, Instant.now().toString()) == 0) {
            store.deleteObject(key); // the same bytes were stored meanwhile: keep the first copy
        }
        store.deleteUnder(store.uploadPrefix(id));
    }

    @Override
    public void abort() throws IOException {
        settle();
        releaseBuffer();
        store.abortMultipart(key, multipartId);
        // A crash inside complete may have left the finished object without its row.
        if (store.objects.countByKey(key) == 0) store.deleteObject(key);
        store.deleteUnder(store.uploadPrefix(id));
    }

    @Override
    public void close() {
        settle();
        releaseBuffer();
    }

    /** Lets a part in flight finish (its outcome no longer matters) so its buffer returns to the pool. */
    private void settle() {
        try {
            awaitInFlight();
        } catch (IOException e) {
            // the upload is being dropped anyway
        }
    }

    // ------------------------------------------------------------------ internals

    private long pendingBytes() { return pending.stream().mapToLong(Piece::size).sum(); }

    /**
     * Sends the pending pieces followed by the buffer as the next part, in the background: the
     * writer goes on filling a fresh buffer meanwhile. At most one part per upload is in flight;
     * its buffer goes back to the pool when it is sent.
     */
    private void uploadPart() throws IOException {
        awaitInFlight();
        long length = pendingBytes() + buffered;
        int number = parts.size() + 1;
        List<Piece> merged = List.copyOf(pending);
        byte[] bytes = buffer;
        int count = buffered;
        buffer = null;
        buffered = 0;
        pending.clear();
        inFlightPieces = merged;
        inFlight = store.workers.submit(() -> {
            try {
                String etag = store.s3.uploadPart(UploadPartRequest.builder().bucket(store.bucket).key(key).uploadId(multipartId)
                                .partNumber(number).contentLength(length).build(),
                        RequestBody.fromContentProvider(() -> partStream(merged, bytes, count), length, "application/octet-stream")).eTag();
                return new Part(number, etag, length);
            } finally {
                if (bytes != null) store.giveBack(bytes);
            }
        });
    }

    /**
     * Waits for the part in flight and records it. On failure this handle is unusable (its pieces
     * are no longer pending here): the caller drops it and resumes from the last checkpoint.
     */
    private void awaitInFlight() throws IOException {
        if (inFlight == null) return;
        try {
            parts.add(inFlight.get());
            for (Piece piece : inFlightPieces) superseded.add(store.pieceKey(id, piece.offset()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for a part upload");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof UncheckedIOException unchecked) throw unchecked.getCause();
            if (cause instanceof SdkException sdk) throw store.translate(sdk, "upload a part of " + key + " to " + store.describe());
            if (cause instanceof IOException io) throw io;
            throw new IOException("part upload failed", cause);
        } finally {
            inFlight = null;
            inFlightPieces = List.of();
        }
    }

    /** The part's bytes: each pending piece read back once, in order, then the buffer (not copied). */
    private InputStream partStream(List<Piece> pieces, byte[] bytes, int count) {
        List<Piece> remaining = new ArrayList<>(pieces);
        Enumeration<InputStream> streams = new Enumeration<>() {
            private int next;
            private boolean bufferGiven;

            @Override public boolean hasMoreElements() { return next < remaining.size() || !bufferGiven; }

            @Override
            public InputStream nextElement() {
                if (next < remaining.size()) {
                    Piece piece = remaining.get(next++);
                    try {
                        return store.get(store.pieceKey(id, piece.offset()), 0, piece.size());
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }
                bufferGiven = true;
                return bytes == null ? InputStream.nullInputStream() : new ByteArrayInputStream(bytes, 0, count);
            }
        };
        return new SequenceInputStream(streams);
    }

    private void put(String objectKey, byte[] bytes, int length) throws IOException {
        try {
            store.s3.putObject(PutObjectRequest.builder().bucket(store.bucket).key(objectKey).contentLength((long) length).build(),
                    RequestBody.fromContentProvider(() -> new ByteArrayInputStream(bytes, 0, length), length, "application/octet-stream"));
        } catch (SdkException e) {
            throw store.translate(e, "store " + objectKey + " in " + store.describe());
        }
    }

    private void takeBuffer() throws IOException {
        try {
            store.buffers.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for an upload buffer");
        }
        byte[] spare = store.spareBuffers.pollFirst();
        buffer = spare != null ? spare : new byte[S3LayerStore.PART_BYTES];
        buffered = 0;
    }

    private void releaseBuffer() {
        if (buffer == null) return;
        byte[] done = buffer;
        buffer = null;
        buffered = 0;
        store.giveBack(done);
    }
}
