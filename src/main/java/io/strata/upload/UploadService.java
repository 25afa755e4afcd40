package io.strata.upload;

import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.layer.Digest;
import io.strata.layer.LayerService;
import io.strata.layer.LayerService.Accepted;
import io.strata.layer.LayerStore;
import io.strata.layer.Sha256State;
import io.strata.layer.qcow2.BackingName;
import io.strata.layer.qcow2.Qcow2Info;
import io.strata.layer.qcow2.Qcow2Inspector;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * Receives layer bytes: in one request ({@link #putLayer}) or as a resumable session
 * ({@link #start}, {@link #append}, {@link #finish}, {@link #cancel}). Bytes go into a store
 * {@link LayerStore.Upload} while being hashed; only {@link LayerService#accept} makes them a layer.
 *
 * <p>A session's durable state is its row: {@code received}, the saved sha256 state and the
 * store's checkpoint, written only after the store made the bytes it counts durable. The sha256
 * state may follow the rest (see {@link #hashStateAt}): a row without one is continued by reading
 * the bytes back. Any process
 * sharing the database and the store can continue from the row (after a crash, or on another
 * replica); the open upload and running hash kept in memory are only an optimisation, dropped
 * whenever the row moved without them.
 */
public final class UploadService {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(UploadService.class);
    private static final Pattern SESSION_ID = Pattern.compile("[0-9a-f]{32}");
    /** How long a status request waits for a write in flight to settle. */
    private static final Duration STATUS_WAIT = Duration.ofSeconds(2);

    private final LayerService layers;
    private final LayerStore store;
    private final UploadDao dao;
    private final CheckpointRows checkpoints;
    private final boolean shared;
    private final long maxLayerBytes;
    private final long minFreeBytes;
    private final Duration expiry;
    private final Clock clock;
    private final Map<String, Live> live = new ConcurrentHashMap<>();
    private final int maxOpenPerToken;
    private final Supplier<Set<Digest>> publishedLayers;
    /** Serialises session starts so two at once cannot both pass the open-session bound. */
    private final Object startLock = new Object();
    /**
     * This process's name in a session's writer claim. The in-process lock keeps two requests of
     * this server apart; the claim in the row keeps replicas sharing the database apart, and lapses
     * on its own when a replica dies mid-request.
     */
    private final String writerId = UUID.randomUUID().toString();
    static final Duration WRITER_LEASE = Duration.ofSeconds(30);
    /** One width for every claim time, so the database compares them as strings in time order. */
    private static final java.time.format.DateTimeFormatter LEASE_TIME =
            java.time.format.DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(java.time.ZoneOffset.UTC);
    private static final java.util.concurrent.ScheduledExecutorService LEASES =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(runnable -> {
                Thread thread = new Thread(runnable, "strata-upload-leases");
                thread.setDaemon(true);
                return thread;
            });

    /** In-memory companion of a session row: a lock so one request writes at a time, the upload open during a request, the hash so far. */
    private static final class Live {
        final ReentrantLock lock = new ReentrantLock();
        /** Renews this process's writer claim in the row while a request holds {@link #lock}. */
        java.util.concurrent.ScheduledFuture<?> renewal;
        LayerStore.Upload upload;
        /** The row's {@code received} and {@code store_state} the open upload matches. */
        long offset = -1;
        String storeState;
        /** The hash of the session's bytes, possibly still running over the last chunk's (none: restore it from the row). */
        HashLane lane;
        /**
         * The token that started the session (empty: none), once looked up: it never changes, and
         * reading it from the row on every chunk cost a query per request.
         */
        volatile Optional<Long> owner;

        /** Closes the open upload between requests (an idle session holds no file, buffer or memory); the hash stays. */
        void closeUpload() {
            if (upload != null) {
                try {
                    upload.close();
                } catch (IOException e) {
                    LOG.debug("closing an upload", e);
                }
            }
            upload = null;
        }

        void drop() {
            closeUpload();
            offset = -1;
            lane = null; // a hasher still running finishes and lets go of its buffers by itself
        }
    }

    /**
     * @param maxOpenPerToken resumable sessions one token may have open at once
     * @param publishedLayers the layers some published image uses (they no longer count against a quota)
     * @param checkpoints the statements every chunk runs on its session's row, through commits that need
     *                    not be durable on their own ({@link io.strata.db.Database#checkpointSource}):
     *                    chunk checkpoints and writer claims, and the reads of a request's session row
     * @param shared      other processes (replicas) may write to the same sessions, so each request
     *                    claims its session in the row; a database with one user needs no claim
     */
    public UploadService(LayerService layers, UploadDao dao, long maxLayerBytes, long minFreeBytes, Duration expiry, Clock clock,
                         int maxOpenPerToken, Supplier<Set<Digest>> publishedLayers, CheckpointRows checkpoints, boolean shared) {
        this.checkpoints = checkpoints;
        this.shared = shared;
        this.maxOpenPerToken = maxOpenPerToken;
        this.publishedLayers = publishedLayers;
        this.layers = layers;
        this.store = layers.store();
        this.dao = dao;
        this.maxLayerBytes = maxLayerBytes;
        this.minFreeBytes = minFreeBytes;
        this.expiry = expiry;
        this.clock = clock;
    }

    // ------------------------------------------------------------------ monolithic

    /**
     * Stores {@code body} as the layer {@code claimed}. An already stored layer answers at once
     * without reading the body (dedup). {@code contentLength} is -1 when the body is chunked.
     */
    public Accepted putLayer(Digest claimed, InputStream body, long contentLength) throws IOException {
        return putLayer(claimed, body, contentLength, Uploader.NONE);
    }

    public Accepted putLayer(Digest claimed, InputStream body, long contentLength, Uploader uploader) throws IOException {
        Optional<io.strata.layer.LayerRecord> existing = layers.find(claimed);
        if (existing.isPresent()) return new Accepted(existing.get(), false);
        checkDeclaredSize(contentLength, 0);
        checkQuota(uploader, contentLength);
        LayerStore.Upload upload = store.create(newId());
        boolean handedOver = false;
        try {
            long start = System.nanoTime();
            HashLane lane = new HashLane(sha256(), 0);
            long size;
            long received;
            long synced;
            Accepted accepted;
            try (HeadCapture head = new HeadCapture(layers)) {
                HashingFileWriter writer = new HashingFileWriter(upload, lane, maxLayerBytes);
                size = receive(writer, body, head, contentLength);
                received = System.nanoTime();
                upload.sync(); // while the hasher finishes the last buffers
                MessageDigest digest = lane.await();
                synced = System.nanoTime();
                Qcow2Info header = head.finish();
                handedOver = true;
                accepted = layers.accept(upload, claimed, Digest.of(digest.digest()), size, header);
                charge(uploader, accepted);
            }
            long done = System.nanoTime();
            LOG.info("stored layer {} ({} bytes) in {} ms: receive {} ms, final sync and hash {} ms, commit {} ms", claimed.shortHex(), size,
                    (done - start) / 1_000_000, (received - start) / 1_000_000, (synced - received) / 1_000_000, (done - synced) / 1_000_000);
            return accepted;
        } finally {
            if (!handedOver) upload.abort();
        }
    }

    // ------------------------------------------------------------------ resumable

    public UploadSession start() throws IOException { return start(Uploader.NONE); }

    /** Opens a session for {@code uploader}; refused when its token already has the most open sessions allowed. */
    public UploadSession start(Uploader uploader) throws IOException {
        String id = newId();
        MessageDigest digest = sha256();
        LayerStore.Upload upload;
        String storeState;
        synchronized (startLock) {
            if (uploader.tokenId().isPresent()) {
                int open = dao.countOpen(uploader.tokenId().getAsLong());
                if (open >= maxOpenPerToken) {
                    Map<String, Object> detail = new LinkedHashMap<>();
                    detail.put("open", open);
                    detail.put("limit", maxOpenPerToken);
                    throw new ApiException(ErrorCode.TOO_MANY_UPLOADS, "this token already has " + open + " open upload sessions (the limit is "
                            + maxOpenPerToken + "); finish or cancel (DELETE) one, or wait until abandoned ones expire", detail);
                }
            }
            upload = store.create(id);
            try {
                storeState = upload.sync();
                dao.insert(id, now().toString(), uploader.tokenId().isPresent() ? uploader.tokenId().getAsLong() : null,
                        Sha256State.save(digest).orElse(null), storeState);
                upload.synced();
            } catch (IOException | RuntimeException e) {
                upload.abort();
                throw e;
            }
        }
        Live state = new Live();
        state.upload = upload;
        state.offset = 0;
        state.storeState = storeState;
        state.lane = new HashLane(digest, 0);
        state.owner = uploader.tokenId().isPresent() ? Optional.of(uploader.tokenId().getAsLong()) : Optional.empty();
        state.closeUpload();
        live.put(id, state);
        return dao.find(id).orElseThrow();
    }

    /**
     * The session as durably recorded. A write in flight (typically one whose connection was just
     * cut, still being wound up) is waited for briefly, so a client resuming after a cut learns
     * the real offset instead of one that is about to move and make its next chunk refused.
     */
    public UploadSession status(String id) throws InterruptedException {
        UploadSession session = session(id);
        Live state = live.get(id);
        if (state != null && state.lock.isLocked() && state.lock.tryLock(STATUS_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
            state.lock.unlock();
            return session(id);
        }
        return session;
    }

    /**
     * Appends a chunk. {@code start} (from Content-Range) must equal the bytes received so far;
     * {@code end} is the inclusive last offset the client claims to send. A body cut short keeps
     * what arrived: the client asks {@link #status} and continues from there.
     */
    public UploadSession append(String id, OptionalLong start, OptionalLong end, InputStream body, long contentLength) throws IOException {
        return append(id, start, end, body, contentLength, Uploader.NONE);
    }

    public UploadSession append(String id, OptionalLong start, OptionalLong end, InputStream body, long contentLength,
                                Uploader uploader) throws IOException {
        // An unknown id is refused before it gets an entry in live; a known one is read again under its lock.
        if (id == null || !live.containsKey(id)) session(id);
        Live state = lockFor(id);
        try {
            UploadSession session = session(id);
            long received = session.received();
            if (start.isPresent() && start.getAsLong() != received) {
                throw new ApiException(ErrorCode.RANGE_INVALID,
                        "this chunk starts at byte " + start.getAsLong() + " but the upload has " + received
                                + " bytes; send the chunk that starts at " + received,
                        Map.of("received", received));
            }
            long declared = end.isPresent() ? end.getAsLong() - received + 1 : contentLength;
            if (end.isPresent() && declared < 0) {
                throw new ApiException(ErrorCode.RANGE_INVALID, "Content-Range ends before it starts", Map.of("received", received));
            }
            // Size first: a range beyond the limit is refused as too large whatever its Content-Length says.
            checkDeclaredSize(declared, received);
            checkQuota(uploader, declared);
            if (end.isPresent() && contentLength >= 0 && contentLength != declared) {
                throw new ApiException(ErrorCode.UPLOAD_INVALID, "Content-Range covers " + declared
                        + " bytes but Content-Length is " + contentLength);
            }
            return write(state, session, body, declared);
        } finally {
            state.closeUpload();
            unlock(id, state);
        }
    }

    /** Completes the session as layer {@code claimed}, with an optional last chunk in {@code body}. */
    public Accepted finish(String id, Digest claimed, InputStream body, long contentLength) throws IOException {
        return finish(id, claimed, body, contentLength, Uploader.NONE);
    }

    public Accepted finish(String id, Digest claimed, InputStream body, long contentLength, Uploader uploader) throws IOException {
        session(id);
        Live state = lockFor(id);
        try {
            UploadSession session = session(id);
            if (contentLength != 0) checkQuota(uploader, contentLength);
            if (contentLength != 0) session = write(state, session, body, contentLength);
            LayerStore.Upload upload = open(state, session);
            ensureHashed(state, upload, session);
            Digest actual = Digest.of(state.lane.await().digest());
            Qcow2Info header = inspect(upload.head(Qcow2Inspector.MAX_HEADER_BYTES), session.received());
            Accepted accepted;
            try {
                accepted = layers.accept(upload, claimed, actual, session.received(), header);
                charge(uploader, accepted);
            } finally {
                // accept consumed the upload (stored or removed); the session is over either way.
                state.upload = null;
                state.drop();
                dao.delete(id);
                live.remove(id);
            }
            return accepted;
        } catch (ApiException e) {
            if (e.code() == ErrorCode.QCOW2_INVALID) {
                // A bad header can never become a layer; accept may already have ended the session.
                Optional<UploadSession> left = dao.find(id);
                if (left.isPresent()) forget(state, left.get());
            }
            throw e;
        } finally {
            unlock(id, state);
        }
    }

    public void cancel(String id) throws IOException {
        UploadSession session = session(id);
        Live state = lockFor(id);
        try {
            forget(state, session);
        } finally {
            unlock(id, state);
        }
    }

    /**
     * Removes sessions untouched for longer than the expiry, with everything they stored, and
     * store leftovers no session owns; returns how many sessions. A plain method: the scheduler
     * decides where and when it runs.
     */
    public int expire() throws IOException {
        Instant cutoff = now().minus(expiry);
        int removed = 0;
        for (UploadSession session : dao.all()) {
            if (!session.updatedAt().isBefore(cutoff)) continue;
            Live state = live.computeIfAbsent(session.id(), k -> new Live());
            if (!state.lock.tryLock()) continue; // being written right now: not abandoned
            try {
                forget(state, session);
                removed++;
            } finally {
                state.lock.unlock();
            }
        }
        int leftovers = store.sweep(java.util.Set.copyOf(dao.ids()), cutoff);
        if (leftovers > 0) LOG.info("removed {} upload leftover(s) no session owns", leftovers);
        return removed;
    }

    /**
     * Startup recovery of the upload area: leftovers of monolithic uploads and of sessions with no
     * row are removed (the store decides what is safe to remove now; an object store shared with
     * other replicas waits for the expiry). Each session is reopened at its row's checkpoint (a
     * local file is cut back to the bytes the row counts); a session whose bytes are gone is dropped.
     */
    public void recover() throws IOException {
        // Runs only in a process that is the database's sole user: any writer claim left is a crashed process's.
        dao.releaseAllWriters();
        for (UploadSession session : dao.all()) {
            try (LayerStore.Upload upload = store.resume(session.id(), session.received(), session.storeState())) {
                LOG.debug("upload {} resumable at {} bytes", session.id(), upload.offset());
            } catch (NoSuchFileException e) {
                dao.delete(session.id());
            }
        }
        store.sweep(java.util.Set.copyOf(dao.ids()), now().minus(expiry));
    }

    /** The parents the open sessions' headers name so far, and how many sessions are too short to tell yet. */
    public record SessionParents(Set<Digest> parents, int undecided) {}

    /** For garbage collection: what the bytes of every open session say about its parent. */
    public SessionParents sessionParents() throws IOException {
        Set<Digest> parents = new HashSet<>();
        int undecided = 0;
        for (UploadSession session : dao.all()) {
            ByteBuffer buffer;
            try {
                buffer = store.uploadHead(session.id(), session.received(), session.storeState(), Qcow2Inspector.MAX_HEADER_BYTES);
            } catch (NoSuchFileException e) {
                continue; // finished or cancelled meanwhile
            }
            byte[] head = new byte[buffer.remaining()];
            buffer.get(head);
            if (BackingName.decided(head, head.length)) {
                BackingName.peek(head, head.length).ifPresent(parents::add);
            } else {
                undecided++;
            }
        }
        return new SessionParents(parents, undecided);
    }

    // ------------------------------------------------------------------ internals

    /** The session's upload, open at its row's checkpoint: the one open here, or reopened from the row. */
    private LayerStore.Upload open(Live state, UploadSession session) throws IOException {
        boolean sameCheckpoint = state.offset == session.received() && java.util.Objects.equals(state.storeState, session.storeState());
        if (state.upload != null && sameCheckpoint) return state.upload;
        state.closeUpload();
        // Written elsewhere (another replica), after a restart or a failed write: the hash kept here is stale too.
        if (!sameCheckpoint) state.lane = null;
        try {
            state.upload = store.resume(session.id(), session.received(), session.storeState());
        } catch (NoSuchFileException e) {
            dao.delete(session.id());
            live.remove(session.id());
            throw new ApiException(ErrorCode.UPLOAD_UNKNOWN, "upload " + session.id() + " lost its bytes; start a new one with POST /api/v1/uploads");
        }
        state.offset = session.received();
        state.storeState = session.storeState();
        return state.upload;
    }

    private UploadSession write(Live state, UploadSession session, InputStream body, long declared) throws IOException {
        String id = session.id();
        long received = session.received();
        LayerStore.Upload upload = open(state, session);
        ensureHashed(state, upload, session);
        HashingFileWriter writer = new HashingFileWriter(upload, state.lane, maxLayerBytes);
        HeadCapture head = received == 0 ? new HeadCapture(layers) : null;
        try (head) {
            receive(writer, body, head, declared);
        } catch (ApiException e) {
            if (e.code() == ErrorCode.QCOW2_INVALID) {
                forget(state, session); // a bad header can never become a layer: drop the session now
                throw e;
            }
            long kept = keepWhatArrived(state, session, writer.position());
            throw e.code() == ErrorCode.INSUFFICIENT_STORAGE ? diskFull(kept) : withOffset(e, kept);
        } catch (IOException e) {
            // The connection was cut: keep what arrived so the client can resume from there.
            keepWhatArrived(state, session, writer.position());
            throw e;
        } catch (RuntimeException e) {
            state.drop();
            throw e;
        }
        long total;
        try {
            total = persist(state, session, writer.position());
        } catch (IOException | RuntimeException e) {
            state.drop();
            if (!isDiskFull(e)) throw e;
            cutBack(session.id());
            throw diskFull(session.received());
        }
        return new UploadSession(id, total, session.createdAt(), now(), null, state.storeState);
    }

    /** What a cut-off body's error promises; {@link #withOffset} takes it back when the bytes could not be kept. */
    private static final String KEPT_HINT = "; a resumable upload keeps them: ask GET on the upload for its offset and continue from there";

    /**
     * A refused chunk's error as sent, saying where the upload now stands: {@link #receive} put the
     * offset the client would reach if the chunk's bytes were kept into its detail, and when keeping
     * them failed the upload stays at its last checkpoint, which is the offset to continue from.
     */
    private static ApiException withOffset(ApiException e, long kept) {
        if (!(e.detail().get("received") instanceof Long claimed) || claimed == kept) return e;
        Map<String, Object> detail = new LinkedHashMap<>(e.detail());
        detail.put("received", kept);
        return new ApiException(e.code(), e.getMessage().replace(KEPT_HINT, "")
                + "; the registry could not keep them, so the upload stays at " + kept + " bytes: continue from there", detail);
    }

    /**
     * After a failed body, makes what arrived the new checkpoint; when that fails too (the disk is
     * full, so the last bytes cannot be synced or the row not written) the session stays at its
     * previous checkpoint. Returns the checkpoint the session now has.
     */
    private long keepWhatArrived(Live state, UploadSession session, long position) {
        try {
            return persist(state, session, position);
        } catch (IOException | RuntimeException e) {
            state.drop();
            if (isDiskFull(e)) cutBack(session.id());
            LOG.warn("upload {}: could not keep the bytes of a failed chunk ({}); it stays at {} bytes", session.id(), e.getMessage(),
                    session.received());
            return session.received();
        }
    }

    /**
     * After a full disk: cuts the upload's bytes back to the checkpoint its row records, as the
     * next chunk would on opening it, but now, so the space comes back (and the next chunk's
     * free-space check sees it). The row, not this request's view of it, says where: never below
     * what another request may have recorded meanwhile.
     */
    private void cutBack(String id) {
        try {
            Optional<UploadSession> row = checkpoints.find(id);
            if (row.isPresent()) store.resume(id, row.get().received(), row.get().storeState()).close();
        } catch (IOException | RuntimeException e) {
            LOG.warn("upload {}: could not cut it back to its checkpoint now ({}); the next chunk will", id, e.getMessage());
        }
    }

    /** A chunk the full disk stopped: 507 with the offset to continue from. */
    private static ApiException diskFull(long kept) {
        return new ApiException(ErrorCode.INSUFFICIENT_STORAGE, "the registry's disk is full; the upload keeps its first " + kept
                + " bytes: continue from there once there is space (or ask the registry's operator to free some)", Map.of("received", kept));
    }

    /** Makes the bytes durable in the store, then records the checkpoint in the row. */
    private long persist(Live state, UploadSession session, long position) throws IOException {
        LayerStore.Upload upload = state.upload;
        String storeState;
        try {
            storeState = upload.sync();
        } catch (IOException | RuntimeException e) {
            state.drop();
            throw e;
        }
        String hashState = hashStateAt(state, position);
        int updated = checkpoints.update(session.id(), session.received(), position, hashState, storeState, now().toString());
        if (updated == 0) {
            state.drop();
            throw new ApiException(ErrorCode.CONFLICT, "upload " + session.id() + " was changed by another request meanwhile; "
                    + "ask GET on the upload for its offset and continue from there");
        }
        if (hashState == null) state.lane.onHashed(position, saved -> fillHashState(session.id(), position, saved));
        state.offset = position;
        state.storeState = storeState;
        upload.synced();
        return position;
    }

    /**
     * The hash state a checkpoint at {@code position} records. With one process on the database and
     * a store that can read an unfinished upload back (the data directory), the chunk's answer does
     * not wait for its hash: the row records no state (a restart re-reads the bytes instead), and the
     * state is filled in once the hasher gets there, normally before the client's next chunk.
     * Replicas wait (the next chunk may reach another one, which needs the state in the row), and so
     * does an object store, which could not rebuild a state that a crash kept from the row.
     */
    private String hashStateAt(Live state, long position) throws IOException {
        HashLane lane = state.lane;
        if (lane.position() != position) throw new IllegalStateException("hashed " + lane.position() + " bytes, checkpoint at " + position);
        if (shared || !state.upload.canReadBack()) {
            try {
                lane.await();
            } catch (IOException e) {
                state.drop();
                throw e;
            }
        }
        return lane.stateNow(position);
    }

    /** Runs on the hasher's thread once it has caught up with a checkpoint recorded without its state. */
    private void fillHashState(String id, long position, String saved) {
        try {
            checkpoints.fillHashState(id, position, saved);
        } catch (RuntimeException e) {
            LOG.debug("upload {}: could not record the hash state at {} bytes (a restart re-reads them)", id, position, e);
        }
    }

    /** Copies the body, translating size and truncation failures into client errors. */
    private long receive(HashingFileWriter writer, InputStream body, HeadCapture head, long declared) throws IOException {
        long before = writer.position();
        long copied;
        try {
            copied = writer.transfer(body, head);
        } catch (HashingFileWriter.TooLargeException e) {
            throw tooLarge();
        } catch (HashingFileWriter.BodyEndedException e) {
            long kept = writer.position();
            throw new ApiException(ErrorCode.UPLOAD_INVALID, "the request body was cut off after " + (kept - before)
                    + " bytes" + KEPT_HINT,
                    Map.of("received", kept));
        } catch (IOException e) {
            if (isDiskFull(e)) throw new ApiException(ErrorCode.INSUFFICIENT_STORAGE, "the registry's disk is full; try again later or ask its operator to free space");
            throw e;
        }
        if (declared >= 0 && copied != declared) {
            throw new ApiException(ErrorCode.UPLOAD_INVALID, "the body has " + copied + " bytes but " + declared + " were declared",
                    Map.of("received", before + copied));
        }
        return before + copied;
    }

    private void ensureHashed(Live state, LayerStore.Upload upload, UploadSession session) throws IOException {
        long received = session.received();
        if (state.lane != null && state.lane.position() == received) return;
        // Not hashed here (a restart, another replica, a failed write): restore the recorded state, or re-read the bytes.
        Optional<MessageDigest> restored = Sha256State.restore(session.hashState());
        if (restored.isPresent()) {
            state.lane = new HashLane(restored.get(), received);
            return;
        }
        Optional<InputStream> bytes = upload.readBack();
        if (bytes.isEmpty()) {
            throw new IOException("upload " + session.id() + " has no recorded hash state and its store cannot read it back; "
                    + "run the server with --add-opens java.base/sun.security.provider=ALL-UNNAMED (java -jar sets it)");
        }
        MessageDigest digest = sha256();
        try (InputStream in = bytes.get()) {
            byte[] buffer = new byte[HashLane.BUFFER_BYTES];
            long position = 0;
            while (position < received) {
                int n = in.read(buffer, 0, (int) Math.min(buffer.length, received - position));
                if (n < 0) throw new IOException("upload " + session.id() + " is shorter than its recorded length");
                digest.update(buffer, 0, n);
                position += n;
            }
        }
        state.lane = new HashLane(digest, received);
    }

    private Qcow2Info inspect(ByteBuffer head, long size) {
        return layers.inspect(head, size <= Qcow2Inspector.MAX_HEADER_BYTES);
    }

    private void checkDeclaredSize(long declared, long alreadyReceived) throws IOException {
        if (declared < 0) return;
        if (alreadyReceived + declared > maxLayerBytes) throw tooLarge();
        long free = store.usableSpace();
        if (free - declared < minFreeBytes) {
            Map<String, Object> detail = new LinkedHashMap<>();
            detail.put("needed", declared);
            detail.put("free", free);
            throw new ApiException(ErrorCode.INSUFFICIENT_STORAGE, "the registry has " + free + " bytes free and needs "
                    + declared + " plus a reserve of " + minFreeBytes + "; try again later or ask its operator to free space", detail);
        }
    }

    /**
     * Refuses, as unknown, a session that another token started: a session belongs to its token
     * (its bytes count against that token's bounds). Sessions from before tokens were recorded
     * belong to anyone, as before.
     */
    public void checkOwner(String id, Uploader uploader) {
        if (uploader.tokenId().isEmpty() || id == null || !SESSION_ID.matcher(id).matches()) return;
        Live state = live.get(id);
        Optional<Long> owner = state != null && state.owner != null ? state.owner : checkpoints.ownerOf(id);
        if (state != null) state.owner = owner;
        if (owner.isPresent() && owner.get() != uploader.tokenId().getAsLong()) {
            throw new ApiException(ErrorCode.UPLOAD_UNKNOWN, "upload " + id + " belongs to another token; continue it with the token "
                    + "that started it, or start a new one with POST /api/v1/uploads");
        }
    }

    /**
     * The quota rule (README "Tokens"): the bytes of the token's open sessions plus the layers its
     * uploads first stored that no published image uses, plus this request's declared bytes, must
     * not exceed the quota. A token with a quota must declare each body's size.
     */
    private void checkQuota(Uploader uploader, long declared) {
        if (uploader.quotaBytes().isEmpty() || uploader.tokenId().isEmpty()) return;
        if (declared < 0) {
            throw new ApiException(ErrorCode.LENGTH_REQUIRED, "this token has an upload quota: send Content-Length (or Content-Range) "
                    + "so the registry can check the quota before storing anything");
        }
        long quota = uploader.quotaBytes().getAsLong();
        long used = pendingBytes(uploader.tokenId().getAsLong());
        if (used + declared > quota) {
            Map<String, Object> detail = new LinkedHashMap<>();
            detail.put("quota", quota);
            detail.put("used", used);
            detail.put("requested", declared);
            throw new ApiException(ErrorCode.QUOTA_EXCEEDED, "this token may hold " + quota + " bytes not yet in a published image and holds "
                    + used + "; this upload needs " + declared + " more. Publish an image using the uploaded layers, cancel open "
                    + "uploads, or ask an admin for a larger quota", detail);
        }
    }

    /** Bytes counted against a token's quota now. */
    public long pendingBytes(long tokenId) {
        Set<Digest> published = publishedLayers.get();
        long total = dao.sessionBytes(tokenId);
        for (String row : dao.layersBy(tokenId)) {
            int space = row.indexOf(' ');
            if (!published.contains(new Digest(row.substring(0, space)))) total += Long.parseLong(row.substring(space + 1));
        }
        return total;
    }

    private void charge(Uploader uploader, Accepted accepted) {
        if (accepted.created() && uploader.tokenId().isPresent()) {
            dao.setUploader(accepted.layer().digest().hex(), uploader.tokenId().getAsLong());
        }
    }

    private ApiException tooLarge() {
        return new ApiException(ErrorCode.LAYER_TOO_LARGE, "a layer may be at most " + maxLayerBytes + " bytes on this registry",
                Map.of("limit", maxLayerBytes));
    }

    private UploadSession session(String id) {
        if (id == null || !SESSION_ID.matcher(id).matches()) throw new ApiException(ErrorCode.UPLOAD_UNKNOWN);
        return checkpoints.find(id).orElseThrow(() -> new ApiException(ErrorCode.UPLOAD_UNKNOWN,
                "upload " + id + " does not exist (it may have finished, been cancelled or expired after "
                        + expiry.toHours() + " h); start a new one with POST /api/v1/uploads"));
    }

    private Live lockFor(String id) {
        Live state = live.computeIfAbsent(id, k -> new Live());
        if (!state.lock.tryLock()) {
            throw new ApiException(ErrorCode.CONFLICT, "another request is writing to upload " + id + "; wait for it to finish");
        }
        try {
            if (!claimWriter(id)) {
                throw new ApiException(ErrorCode.CONFLICT, "another replica is writing to upload " + id + "; wait for it to finish");
            }
        } catch (RuntimeException e) {
            state.lock.unlock();
            throw e;
        }
        if (!shared) return state;
        long every = WRITER_LEASE.toMillis() / 3;
        state.renewal = LEASES.scheduleWithFixedDelay(() -> {
            try {
                claimWriter(id);
            } catch (RuntimeException e) {
                LOG.warn("could not renew the writer claim of upload {}", id, e);
            }
        }, every, every, TimeUnit.MILLISECONDS);
        return state;
    }

    /** True when this process now holds the session's writer claim (also when the row is gone: the caller finds out). */
    private boolean claimWriter(String id) {
        if (!shared) return true; // the in-process lock is all there is to it
        Instant now = now();
        return checkpoints.claimWriter(id, writerId, LEASE_TIME.format(now.plus(WRITER_LEASE)), LEASE_TIME.format(now)) > 0
                || dao.find(id).isEmpty();
    }

    /** Ends a request on the session: the writer claim first, then the in-process lock. */
    private void unlock(String id, Live state) {
        try {
            if (state.renewal != null) state.renewal.cancel(false);
            state.renewal = null;
            if (shared) checkpoints.releaseWriter(id, writerId);
        } catch (RuntimeException e) {
            LOG.warn("could not release the writer claim of upload {} (it lapses by itself)", id, e);
        } finally {
            state.lock.unlock();
        }
    }

    /** Ends a session: its row first (so no one resumes it), then whatever it stored. */
    private void forget(Live state, UploadSession session) throws IOException {
        dao.delete(session.id());
        live.remove(session.id());
        LayerStore.Upload upload = state.upload;
        state.upload = null;
        state.drop();
        try {
            if (upload == null) upload = store.resume(session.id(), session.received(), session.storeState());
            upload.abort();
        } catch (NoSuchFileException e) {
            // nothing stored
        }
    }

    private static String newId() { return UUID.randomUUID().toString().replace("-", ""); }

    private Instant now() { return clock.instant().truncatedTo(ChronoUnit.MILLIS); }

    /** A file write that found no space (ENOSPC), or a database that could not grow (SQLite, PostgreSQL's disk_full). */
    private static boolean isDiskFull(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String message = t.getMessage();
            if (message != null && (message.contains("No space left on device") || message.contains("SQLITE_FULL"))) return true;
            if (t instanceof java.sql.SQLException sql && "53100".equals(sql.getSQLState())) return true;
        }
        return false;
    }

    private static MessageDigest sha256() { return Digest.sha256(); }
}
