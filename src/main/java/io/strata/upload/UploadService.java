package io.strata.upload;

import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.layer.Digest;
import io.strata.layer.LayerService;
import io.strata.layer.LayerService.Accepted;
import io.strata.layer.LayerStore;
import io.strata.layer.qcow2.BackingName;
import io.strata.layer.qcow2.Qcow2Info;
import io.strata.layer.qcow2.Qcow2Inspector;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
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
 * ({@link #start}, {@link #append}, {@link #finish}, {@link #cancel}). Bytes go to the store's
 * upload area while being hashed; only {@link LayerService#accept} makes them a layer.
 *
 * <p>A session's durable state is its row ({@code received}) plus {@code uploads/<id>.part};
 * the row is updated only after the bytes it counts are fsynced, so after a crash the file is cut
 * back to the row and the client resumes from there. The running sha256 is kept in memory as an
 * optimisation and recomputed from the file when it is missing (after a restart).
 */
public final class UploadService {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(UploadService.class);
    private static final Pattern SESSION_ID = Pattern.compile("[0-9a-f]{32}");
    /** How long a status request waits for a write in flight to settle. */
    private static final Duration STATUS_WAIT = Duration.ofSeconds(2);

    private final LayerService layers;
    private final LayerStore store;
    private final UploadDao dao;
    private final long maxLayerBytes;
    private final long minFreeBytes;
    private final Duration expiry;
    private final Clock clock;
    private final Map<String, Live> live = new ConcurrentHashMap<>();
    private final int maxOpenPerToken;
    private final Supplier<Set<Digest>> publishedLayers;
    /** Serialises session starts so two at once cannot both pass the open-session bound. */
    private final Object startLock = new Object();

    /** In-memory companion of a session row: a lock so one request writes at a time, and the hash so far. */
    private static final class Live {
        final ReentrantLock lock = new ReentrantLock();
        MessageDigest digest;
        long hashedUpTo = -1;
    }

    public UploadService(LayerService layers, UploadDao dao, long maxLayerBytes, long minFreeBytes, Duration expiry, Clock clock) {
        this(layers, dao, maxLayerBytes, minFreeBytes, expiry, clock, Integer.MAX_VALUE, Set::of);
    }

    /**
     * @param maxOpenPerToken resumable sessions one token may have open at once
     * @param publishedLayers the layers some published image uses (they no longer count against a quota)
     */
    public UploadService(LayerService layers, UploadDao dao, long maxLayerBytes, long minFreeBytes, Duration expiry, Clock clock,
                         int maxOpenPerToken, Supplier<Set<Digest>> publishedLayers) {
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
        Path temp = store.newTempFile("put-");
        try {
            long start = System.nanoTime();
            MessageDigest digest = sha256();
            long size;
            long received;
            long synced;
            Accepted accepted;
            try (HeadCapture head = new HeadCapture(layers); FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                HashingFileWriter writer = new HashingFileWriter(channel, digest, maxLayerBytes);
                size = receive(writer, body, head, contentLength);
                received = System.nanoTime();
                channel.force(false);
                synced = System.nanoTime();
                Qcow2Info header = head.finish();
                accepted = layers.accept(temp, claimed, Digest.of(digest.digest()), size, header);
                charge(uploader, accepted);
            }
            long done = System.nanoTime();
            LOG.info("stored layer {} ({} bytes) in {} ms: receive+hash {} ms, final fsync {} ms, commit {} ms", claimed.shortHex(), size,
                    (done - start) / 1_000_000, (received - start) / 1_000_000, (synced - received) / 1_000_000, (done - synced) / 1_000_000);
            return accepted;
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    // ------------------------------------------------------------------ resumable

    public UploadSession start() throws IOException { return start(Uploader.NONE); }

    /** Opens a session for {@code uploader}; refused when its token already has the most open sessions allowed. */
    public UploadSession start(Uploader uploader) throws IOException {
        String id = UUID.randomUUID().toString().replace("-", "");
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
            Files.createFile(partFile(id));
            dao.insert(id, now().toString(), uploader.tokenId().isPresent() ? uploader.tokenId().getAsLong() : null);
        }
        Live state = new Live();
        state.digest = sha256();
        state.hashedUpTo = 0;
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
        UploadSession session = session(id);
        Live state = lockFor(id);
        try {
            session = session(id);
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
            return write(id, state, received, body, declared);
        } finally {
            state.lock.unlock();
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
            if (contentLength != 0) session = write(id, state, session.received(), body, contentLength);
            Path part = partFile(id);
            ensureHashed(id, state, session.received());
            Qcow2Info header = inspectFile(part, session.received());
            Accepted accepted;
            try {
                accepted = layers.accept(part, claimed, Digest.of(state.digest.digest()), session.received(), header);
                charge(uploader, accepted);
            } finally {
                // accept consumed the file (stored or deleted); the session is over either way.
                dao.delete(id);
                live.remove(id);
            }
            return accepted;
        } catch (ApiException e) {
            if (e.code() == ErrorCode.QCOW2_INVALID) forget(id);
            throw e;
        } finally {
            state.lock.unlock();
        }
    }

    public void cancel(String id) throws IOException {
        session(id);
        Live state = lockFor(id);
        try {
            forget(id);
        } finally {
            state.lock.unlock();
        }
    }

    /** Removes sessions untouched for longer than the expiry; returns how many. */
    public int expire() throws IOException {
        Instant cutoff = now().minus(expiry);
        int removed = 0;
        for (UploadSession session : dao.all()) {
            if (!session.updatedAt().isBefore(cutoff)) continue;
            Live state = live.computeIfAbsent(session.id(), k -> new Live());
            if (!state.lock.tryLock()) continue; // being written right now: not abandoned
            try {
                forget(session.id());
                removed++;
            } finally {
                state.lock.unlock();
            }
        }
        return removed;
    }

    /**
     * Startup recovery of the upload area: temp files of monolithic uploads and of sessions with
     * no row are deleted; session files are cut back to the durable length their row records.
     */
    public void recover() throws IOException {
        Set<String> sessions = new HashSet<>();
        for (UploadSession session : dao.all()) {
            Path part = partFile(session.id());
            if (!Files.exists(part)) {
                dao.delete(session.id());
                continue;
            }
            sessions.add(part.getFileName().toString());
            if (Files.size(part) != session.received()) {
                try (FileChannel channel = FileChannel.open(part, StandardOpenOption.WRITE)) {
                    if (channel.size() > session.received()) channel.truncate(session.received());
                    channel.force(true);
                }
                if (Files.size(part) < session.received()) dao.update(session.id(), Files.size(part), now().toString());
            }
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(store.uploadArea())) {
            for (Path file : files) {
                if (!sessions.contains(file.getFileName().toString())) Files.deleteIfExists(file);
            }
        }
    }

    /** The parents the open sessions' headers name so far, and how many sessions are too short to tell yet. */
    public record SessionParents(Set<Digest> parents, int undecided) {}

    /** For garbage collection: what the bytes of every open session say about its parent. */
    public SessionParents sessionParents() throws IOException {
        Set<Digest> parents = new HashSet<>();
        int undecided = 0;
        for (UploadSession session : dao.all()) {
            byte[] head = new byte[(int) Math.min(session.received(), Qcow2Inspector.MAX_HEADER_BYTES)];
            int length = 0;
            try (FileChannel channel = FileChannel.open(partFile(session.id()), StandardOpenOption.READ)) {
                ByteBuffer buffer = ByteBuffer.wrap(head);
                while (buffer.hasRemaining() && channel.read(buffer) > 0) length = buffer.position();
            } catch (java.nio.file.NoSuchFileException e) {
                continue; // finished or cancelled meanwhile
            }
            if (BackingName.decided(head, length)) {
                BackingName.peek(head, length).ifPresent(parents::add);
            } else {
                undecided++;
            }
        }
        return new SessionParents(parents, undecided);
    }

    // ------------------------------------------------------------------ internals

    private UploadSession write(String id, Live state, long received, InputStream body, long declared) throws IOException {
        ensureHashed(id, state, received);
        try (FileChannel channel = FileChannel.open(partFile(id), StandardOpenOption.WRITE)) {
            channel.position(received);
            HashingFileWriter writer = new HashingFileWriter(channel, state.digest, maxLayerBytes);
            HeadCapture head = received == 0 ? new HeadCapture(layers) : null;
            try (head) {
                receive(writer, body, head, declared);
            } catch (ApiException e) {
                if (e.code() == ErrorCode.QCOW2_INVALID) {
                    forget(id); // a bad header can never become a layer: drop the session now
                    throw e;
                }
                persist(id, state, channel, writer.position());
                throw e;
            } catch (IOException e) {
                // The connection was cut: keep what arrived so the client can resume from there.
                persist(id, state, channel, writer.position());
                throw e;
            } catch (RuntimeException e) {
                state.hashedUpTo = -1;
                throw e;
            }
            long total = persist(id, state, channel, writer.position());
            return new UploadSession(id, total, session(id).createdAt(), now());
        }
    }

    private long persist(String id, Live state, FileChannel channel, long position) throws IOException {
        channel.truncate(position);
        channel.force(false);
        state.hashedUpTo = position;
        dao.update(id, position, now().toString());
        return position;
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
                    + " bytes; a resumable upload keeps them: ask GET on the upload for its offset and continue from there",
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

    private void ensureHashed(String id, Live state, long received) throws IOException {
        if (state.digest != null && state.hashedUpTo == received) return;
        // After a restart (or a failed write) the running hash is gone: recompute it from the file.
        MessageDigest digest = sha256();
        try (FileChannel channel = FileChannel.open(partFile(id), StandardOpenOption.READ)) {
            ByteBuffer buffer = ByteBuffer.allocate(HashingFileWriter.CHUNK_BYTES);
            long position = 0;
            while (position < received) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), received - position));
                int n = channel.read(buffer, position);
                if (n < 0) throw new IOException("upload file shorter than its recorded length");
                buffer.flip();
                digest.update(buffer);
                position += n;
            }
        }
        state.digest = digest;
        state.hashedUpTo = received;
    }

    private Qcow2Info inspectFile(Path part, long size) throws IOException {
        int length = (int) Math.min(size, Qcow2Inspector.MAX_HEADER_BYTES);
        ByteBuffer head = ByteBuffer.allocate(length);
        try (FileChannel channel = FileChannel.open(part, StandardOpenOption.READ)) {
            while (head.hasRemaining() && channel.read(head, head.position()) > 0) { /* fill */ }
        }
        head.flip();
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
        Optional<Long> owner = dao.ownerOf(id);
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
        return dao.find(id).orElseThrow(() -> new ApiException(ErrorCode.UPLOAD_UNKNOWN,
                "upload " + id + " does not exist (it may have finished, been cancelled or expired after "
                        + expiry.toHours() + " h); start a new one with POST /api/v1/uploads"));
    }

    private Live lockFor(String id) {
        Live state = live.computeIfAbsent(id, k -> new Live());
        if (!state.lock.tryLock()) {
            throw new ApiException(ErrorCode.CONFLICT, "another request is writing to upload " + id + "; wait for it to finish");
        }
        return state;
    }

    private void forget(String id) throws IOException {
        dao.delete(id);
        live.remove(id);
        Files.deleteIfExists(partFile(id));
    }

    private Path partFile(String id) { return store.uploadArea().resolve("session-" + id + ".part"); }

    private Instant now() { return clock.instant().truncatedTo(ChronoUnit.MILLIS); }

    private static boolean isDiskFull(IOException e) {
        return e.getMessage() != null && e.getMessage().contains("No space left on device");
    }

    private static MessageDigest sha256() { return Digest.sha256(); }
}
