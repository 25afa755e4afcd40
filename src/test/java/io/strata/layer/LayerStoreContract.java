package io.strata.layer;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every {@link LayerStore} must do, run against each implementation (STYLE 5 and 13). Each
 * test removes what it stored and ends by asserting that nothing was left behind: no layer, no
 * upload bytes (files, pending objects, multipart uploads).
 */
public abstract class LayerStoreContract {
    /** The store under test, fresh and empty for each test. */
    protected abstract LayerStore store();

    /** Everything the store holds outside committed layers (upload files, pending objects, multipart uploads). */
    protected abstract List<String> leftovers() throws IOException;

    /** A scratch directory for local files. */
    protected abstract Path scratch();

    private static final Random RANDOM = new Random(42);

    static byte[] bytes(int length) {
        byte[] bytes = new byte[length];
        RANDOM.nextBytes(bytes);
        return bytes;
    }

    static Digest digestOf(byte[] bytes) { return Digest.of(Digest.sha256().digest(bytes)); }

    static String id() { return java.util.UUID.randomUUID().toString().replace("-", ""); }

    void assertNothingLeftBehind() throws IOException {
        assertEquals(List.of(), store().list().toList(), "no layer left");
        assertEquals(List.of(), leftovers(), "no upload bytes left");
    }

    static byte[] read(LayerStore.LayerContent content, long offset, long length) throws IOException {
        try (InputStream in = content.stream(offset, length)) {
            return in.readAllBytes();
        }
    }

    @Test
    void an_upload_written_in_pieces_and_completed_reads_back_in_any_range() throws IOException {
        byte[] layer = bytes(3 * 1024 * 1024 + 17);
        Digest digest = digestOf(layer);
        LayerStore.Upload upload = store().create(id());
        for (int at = 0; at < layer.length; at += 700_000) upload.write(layer, at, Math.min(700_000, layer.length - at));
        upload.sync();
        upload.synced();
        assertEquals(layer.length, upload.offset());
        assertFalse(store().exists(digest), "not visible before complete");
        java.util.Optional<InputStream> back = upload.readBack();
        assertEquals(upload.canReadBack(), back.isPresent(), "canReadBack says whether readBack gives the bytes");
        if (back.isPresent()) {
            try (InputStream in = back.get()) {
                assertArrayEquals(layer, in.readAllBytes());
            }
        }
        upload.complete(digest);

        assertTrue(store().exists(digest));
        assertEquals(List.of(digest), store().list().toList());
        LayerStore.LayerContent content = store().open(digest);
        assertEquals(layer.length, content.size());
        assertArrayEquals(layer, read(content, 0, layer.length));
        assertArrayEquals(java.util.Arrays.copyOfRange(layer, 1_000_000, 1_000_100), read(content, 1_000_000, 100));
        assertArrayEquals(java.util.Arrays.copyOfRange(layer, layer.length - 1, layer.length), read(content, layer.length - 1, 1));
        var slices = content.slices(5, 10);
        if (slices.isPresent()) {
            ByteBuffer joined = ByteBuffer.allocate(10);
            slices.get().forEach(b -> joined.put(b.duplicate()));
            assertArrayEquals(java.util.Arrays.copyOfRange(layer, 5, 15), joined.array());
        }

        assertTrue(store().delete(digest));
        assertFalse(store().exists(digest));
        assertThrows(NoSuchFileException.class, () -> store().open(digest));
        assertFalse(store().delete(digest), "a second delete finds nothing");
        assertNothingLeftBehind();
    }

    @Test
    void closing_a_stream_early_releases_it() throws IOException {
        byte[] layer = bytes(2 * 1024 * 1024);
        Digest digest = digestOf(layer);
        Path file = Files.write(scratch().resolve("early"), layer);
        store().commit(file, digest);
        try (InputStream in = store().open(digest).stream(0, layer.length)) {
            assertEquals(layer[0] & 0xff, in.read());
        }
        assertArrayEquals(java.util.Arrays.copyOfRange(layer, 0, 10), read(store().open(digest), 0, 10), "the store still serves");
        store().delete(digest);
        assertNothingLeftBehind();
    }

    @Test
    void commit_stores_a_local_file_and_consumes_it_copy_in_leaves_it() throws IOException {
        byte[] first = bytes(100_000);
        byte[] second = bytes(200_000);
        Path a = Files.write(scratch().resolve("a"), first);
        Path b = Files.write(scratch().resolve("b"), second);
        store().commit(a, digestOf(first));
        store().copyIn(b, digestOf(second));
        assertFalse(Files.exists(a), "commit consumed the file");
        assertTrue(Files.exists(b), "copyIn left the source");
        assertArrayEquals(first, read(store().open(digestOf(first)), 0, first.length));
        assertArrayEquals(second, read(store().open(digestOf(second)), 0, second.length));
        assertEquals(Set.of(digestOf(first), digestOf(second)), Set.copyOf(store().list().toList()));
        store().delete(digestOf(first));
        store().delete(digestOf(second));
        Files.delete(b);
        assertNothingLeftBehind();
    }

    @Test
    void committing_the_same_digest_again_keeps_one_copy() throws IOException {
        byte[] layer = bytes(300_000);
        Digest digest = digestOf(layer);
        store().commit(Files.write(scratch().resolve("one"), layer), digest);
        store().commit(Files.write(scratch().resolve("two"), layer), digest);
        LayerStore.Upload upload = store().create(id());
        upload.write(layer, 0, layer.length);
        upload.complete(digest);
        assertEquals(List.of(digest), store().list().toList());
        assertArrayEquals(layer, read(store().open(digest), 0, layer.length));
        store().delete(digest);
        assertNothingLeftBehind();
    }

    @Test
    void an_aborted_upload_leaves_nothing() throws IOException {
        byte[] layer = bytes(6 * 1024 * 1024);
        LayerStore.Upload upload = store().create(id());
        upload.write(layer, 0, 1_000_000);
        upload.sync();
        upload.synced();
        upload.write(layer, 1_000_000, layer.length - 1_000_000);
        upload.sync();
        upload.synced();
        upload.abort();
        assertFalse(store().exists(digestOf(layer)));
        assertNothingLeftBehind();
    }

    @Test
    void an_upload_resumes_at_its_last_checkpoint_from_a_new_handle_and_small_chunks_merge() throws IOException {
        byte[] layer = bytes(7 * 1024 * 1024 + 3);
        Digest digest = digestOf(layer);
        String id = id();
        LayerStore.Upload upload = store().create(id);
        // Small chunks, each made durable: below the S3 part minimum they wait as pending pieces until merged.
        int at = 0;
        String state = upload.sync();
        while (at < 6 * 1024 * 1024) {
            upload.write(layer, at, 256 * 1024);
            at += 256 * 1024;
            state = upload.sync();
            upload.synced();
        }
        long checkpoint = upload.offset();
        upload.write(layer, at, 100_000); // written but never synced: lost with the handle
        upload.close();

        assertArrayEquals(java.util.Arrays.copyOfRange(layer, 0, 4096),
                toArray(store().uploadHead(id, checkpoint, state, 4096)), "the head is readable meanwhile");
        LayerStore.Upload resumed = store().resume(id, checkpoint, state);
        assertEquals(checkpoint, resumed.offset());
        assertArrayEquals(java.util.Arrays.copyOfRange(layer, 0, 512), toArray(resumed.head(512)));
        resumed.write(layer, (int) checkpoint, layer.length - (int) checkpoint);
        resumed.complete(digest);
        assertArrayEquals(layer, read(store().open(digest), 0, layer.length));
        store().delete(digest);
        assertNothingLeftBehind();
    }

    /**
     * Checkpoints at offsets no block size divides, each followed by bytes that are written but
     * never made durable, resumed from a new handle every time: what reads back is exactly the
     * synced bytes plus the rest (a store that stages whole blocks must rewrite the partial one).
     */
    @Test
    void resuming_at_unaligned_checkpoints_keeps_every_synced_byte_and_drops_the_rest() throws IOException {
        byte[] layer = bytes(3 * 1024 * 1024 + 5);
        Digest digest = digestOf(layer);
        String id = id();
        LayerStore.Upload upload = store().create(id);
        String state = upload.sync();
        long checkpoint = 0;
        int[] pieces = {1, 4095, 4097, 511, 1024 * 1024 + 3, 70_001, 1024 * 1024 - 1, 12_345};
        for (int piece : pieces) {
            upload.write(layer, (int) checkpoint, piece);
            state = upload.sync();
            upload.synced();
            checkpoint += piece;
            byte[] noise = bytes(9_000);
            upload.write(noise, 0, noise.length); // never synced: gone with the handle
            upload.close();
            upload = store().resume(id, checkpoint, state);
            assertEquals(checkpoint, upload.offset());
        }
        assertArrayEquals(java.util.Arrays.copyOfRange(layer, 0, 4096), toArray(upload.head(4096)));
        upload.write(layer, (int) checkpoint, layer.length - (int) checkpoint);
        upload.complete(digest);
        assertArrayEquals(layer, read(store().open(digest), 0, layer.length));
        store().delete(digest);
        assertNothingLeftBehind();
    }

    @Test
    void concurrent_writers_of_one_digest_both_succeed_and_leave_one_copy() throws Exception {
        byte[] layer = bytes(6 * 1024 * 1024);
        Digest digest = digestOf(layer);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            Callable<Void> writer = () -> {
                LayerStore.Upload upload = store().create(id());
                for (int at = 0; at < layer.length; at += 1 << 20) upload.write(layer, at, 1 << 20);
                upload.complete(digest);
                return null;
            };
            Future<Void> one = pool.submit(writer);
            Future<Void> two = pool.submit(writer);
            one.get();
            two.get();
        } finally {
            pool.shutdownNow();
        }
        assertEquals(List.of(digest), store().list().toList());
        assertArrayEquals(layer, read(store().open(digest), 0, layer.length));
        store().delete(digest);
        assertNothingLeftBehind();
    }

    @Test
    void a_large_layer_streams_in_and_out_without_being_held_in_memory() throws IOException {
        long size = 96L << 20;
        byte[] chunk = bytes(1 << 20);
        MessageDigest sha = Digest.sha256();
        LayerStore.Upload upload = store().create(id());
        for (long written = 0; written < size; written += chunk.length) {
            chunk[0] = (byte) written; // every MiB differs
            upload.write(chunk, 0, chunk.length);
            sha.update(chunk);
        }
        Digest digest = Digest.of(sha.digest());
        upload.complete(digest);
        LayerStore.LayerContent content = store().open(digest);
        assertEquals(size, content.size());
        MessageDigest back = Digest.sha256();
        byte[] buffer = new byte[64 * 1024];
        try (InputStream in = content.stream(0, size)) {
            for (int n; (n = in.read(buffer)) > 0; ) back.update(buffer, 0, n);
        }
        assertEquals(digest, Digest.of(back.digest()));
        store().delete(digest);
        assertNothingLeftBehind();
    }

    @Test
    void sweep_removes_what_no_live_upload_owns_and_keeps_live_ones() throws IOException {
        byte[] bytes = bytes(100_000);
        String liveId = id();
        LayerStore.Upload live = store().create(liveId);
        live.write(bytes, 0, bytes.length);
        String liveState = live.sync();
        live.synced();
        live.close();
        LayerStore.Upload abandoned = store().create(id());
        abandoned.write(bytes, 0, bytes.length);
        abandoned.sync();
        abandoned.synced();
        abandoned.close();

        store().sweep(Set.of(liveId), Instant.now().plusSeconds(60));
        LayerStore.Upload resumed = store().resume(liveId, bytes.length, liveState);
        assertEquals(bytes.length, resumed.offset());
        resumed.abort();
        assertNothingLeftBehind();
    }

    @Test
    void an_upload_sealed_but_never_completed_is_removed_by_the_sweep() throws IOException {
        byte[] bytes = bytes(6 * 1024 * 1024);
        LayerStore.Upload upload = store().create(id());
        upload.write(bytes, 0, bytes.length);
        ByteBuffer tail = ByteBuffer.allocate(100);
        upload.seal().read(tail, bytes.length - 100);
        assertArrayEquals(java.util.Arrays.copyOfRange(bytes, bytes.length - 100, bytes.length), tail.array(), "readable once sealed");
        upload.close(); // the server dies before complete
        assertEquals(List.of(), store().list().toList(), "never visible");
        store().sweep(Set.of(), Instant.now().plusSeconds(60));
        assertNothingLeftBehind();
    }

    @Test
    void a_missing_layer_is_reported_as_no_such_file() {
        Digest absent = new Digest("ab".repeat(32));
        assertFalse(store().exists(absent));
        assertThrows(NoSuchFileException.class, () -> store().open(absent));
    }

    static byte[] toArray(ByteBuffer buffer) {
        byte[] out = new byte[buffer.remaining()];
        buffer.duplicate().get(out);
        return out;
    }
}
