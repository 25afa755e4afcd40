package io.strata.store.s3;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.strata.config.StoreConfig;
import io.strata.layer.Digest;
import io.strata.layer.LayerStore;
import org.jdbi.v3.core.Jdbi;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.model.AbortMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.GetObjectRequest;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadBucketRequest;
import software.amazon.awssdk.services.s3.model.ListMultipartUploadsRequest;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.NoSuchUploadException;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;
import software.amazon.awssdk.services.s3.presigner.model.GetObjectPresignRequest;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Semaphore;
import java.util.stream.Stream;

/**
 * {@link LayerStore} on an S3-compatible bucket. Layout under {@code s3://BUCKET/PREFIX}:
 *
 * <pre>
 * PREFIX/
 * ├── blobs/
 * │   └── &lt;upload-id&gt;                 a layer, at the key its upload chose when it started (a multipart
 * │                                   upload in progress targets it too); the database table
 * │                                   store_objects maps digest → key, so commit copies nothing
 * └── uploads/
 *     └── &lt;upload-id&gt;/
 *         ├── head                    the first 2 MiB of an unfinished upload (inspector, GC)
 *         └── &lt;offset, 20 digits&gt;     a piece below the 5 MiB part minimum, merged into one part later
 * </pre>
 *
 * A layer is visible only once its row in {@code store_objects} exists, written after the
 * multipart upload completed and after the caller verified digest and format. Reads are ranged
 * GETs streamed to the client; closing a stream early aborts its connection.
 */
public final class S3LayerStore implements LayerStore {
    /** Part size: a part is uploaded from one buffer of this size (plus merged pending pieces). */
    static final int PART_BYTES = 8 << 20;
    /** S3's minimum size of every part but the last. */
    static final int MIN_PART_BYTES = 5 << 20;

    final S3Client s3;
    private final S3Presigner presigner;
    final String bucket;
    final String prefix;
    final ObjectDao objects;
    private final Path scratch;
    private final String where;
    private final boolean redirectLayers;
    /** Part buffers in use across all uploads: what bounds an upload's memory, whatever the number of clients. */
    final Semaphore buffers;
    private volatile Instant lastBlobSweep;
    /** Sends parts while their upload's writer fills the next buffer. */
    final java.util.concurrent.ExecutorService workers = java.util.concurrent.Executors.newCachedThreadPool(runnable -> {
        Thread thread = new Thread(runnable, "strata-s3-part");
        thread.setDaemon(true);
        return thread;
    });
    private final Cache<Digest, ObjectDao.StoredObject> located = Caffeine.newBuilder().maximumSize(100_000).build();

    private S3LayerStore(S3Client s3, S3Presigner presigner, StoreConfig.S3Location location, String where, ObjectDao objects,
                         Path scratch, boolean redirectLayers) {
        this.s3 = s3;
        this.redirectLayers = redirectLayers;
        this.presigner = presigner;
        this.bucket = location.bucket();
        this.prefix = location.prefix();
        this.where = where;
        this.objects = objects;
        this.scratch = scratch;
        // An eighth of the heap: the SDK holds another copy of a part while it signs and sends it over
        // plain HTTP. With -Xmx64m that is one buffer, so a part is sent before the next one fills.
        long budget = Runtime.getRuntime().maxMemory() / 8;
        int permits = (int) Math.max(1, Math.min(16, budget / PART_BYTES));
        this.buffers = new Semaphore(permits, true);
        // Made now, while the heap is empty: later, under load, an 8 MiB array may not fit in one piece.
        for (int i = 0; i < permits; i++) spareBuffers.offerFirst(new byte[PART_BYTES]);
    }

    /**
     * Part buffers given back, reused by the next upload: a fresh 8 MiB array per part is a humongous
     * allocation each time, and at -Xmx64m the heap ran out between them. All of them are made when
     * the store opens, one per permit of {@link #buffers}.
     */
    final java.util.concurrent.ConcurrentLinkedDeque<byte[]> spareBuffers = new java.util.concurrent.ConcurrentLinkedDeque<>();

    /** Returns a part buffer and its permit. */
    void giveBack(byte[] buffer) {
        spareBuffers.offerFirst(buffer);
        buffers.release();
    }

    /** A store for {@code config.s3()}; credentials from the standard AWS chain. Not yet {@link #check checked}. */
    public static S3LayerStore open(StoreConfig config, Path dataDir, Jdbi jdbi) throws IOException {
        StoreConfig.S3Location location = config.s3().orElseThrow();
        AwsCredentialsProvider credentials = DefaultCredentialsProvider.builder().build();
        Region region = Region.of(config.region());
        var builder = S3Client.builder()
                .region(region)
                .credentialsProvider(credentials)
                .httpClientBuilder(ApacheHttpClient.builder()
                        .connectionTimeout(Duration.ofSeconds(10))
                        .socketTimeout(Duration.ofSeconds(120))
                        .maxConnections(128))
                .forcePathStyle(config.pathStyle())
                // Only where the S3 API requires a checksum: other S3-compatible stores reject the newer checksum headers.
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED);
        var presign = S3Presigner.builder().region(region).credentialsProvider(credentials)
                .serviceConfiguration(S3Configuration.builder().pathStyleAccessEnabled(config.pathStyle()).build());
        config.endpoint().ifPresent(endpoint -> {
            builder.endpointOverride(endpoint);
            presign.endpointOverride(endpoint);
        });
        String where = location + config.endpoint().map(e -> " at " + e).orElse("");
        Path scratch = Files.createDirectories(dataDir.resolve("uploads"));
        return new S3LayerStore(builder.build(), presign.build(), location, where, jdbi.onDemand(ObjectDao.class), scratch,
                config.redirectLayers());
    }

    String blobKey(String id) { return prefix + "blobs/" + id; }

    String uploadPrefix(String id) { return prefix + "uploads/" + id + "/"; }

    String headKey(String id) { return uploadPrefix(id) + "head"; }

    String pieceKey(String id, long offset) { return uploadPrefix(id) + String.format("%020d", offset); }

    // ------------------------------------------------------------------ writing

    @Override
    public Upload create(String id) throws IOException {
        return S3Upload.create(this, id);
    }

    @Override
    public Upload resume(String id, long offset, String state) throws IOException {
        return S3Upload.resume(this, id, offset, state);
    }

    @Override
    public ByteBuffer uploadHead(String id, long offset, String state, int max) throws IOException {
        int length = (int) Math.min(max, offset);
        if (length == 0) return ByteBuffer.allocate(0);
        try (InputStream in = get(headKey(id), 0, length)) {
            return ByteBuffer.wrap(in.readNBytes(length));
        }
    }

    @Override
    public void commit(Path verifiedFile, Digest digest) throws IOException {
        copyIn(verifiedFile, digest);
        Files.deleteIfExists(verifiedFile);
    }

    @Override
    public void copyIn(Path source, Digest digest) throws IOException {
        if (exists(digest)) return;
        Upload upload = create(UUID.randomUUID().toString().replace("-", ""));
        boolean done = false;
        try (InputStream in = Files.newInputStream(source)) {
            byte[] buffer = new byte[1 << 20];
            for (int n; (n = in.read(buffer)) > 0; ) upload.write(buffer, 0, n);
            upload.complete(digest);
            done = true;
        } finally {
            if (!done) upload.abort();
        }
    }

    @Override
    public Path newTempFile(String prefix) throws IOException {
        return Files.createTempFile(scratch, prefix, ".part");
    }

    @Override
    public int sweep(Set<String> liveUploads, Instant olderThan) throws IOException {
        int removed = 0;
        try {
            // Each upload's objects, newest first: their last change is the upload's last activity
            // (create() writes an empty head, so even a monolithic upload has one).
            String uploads = prefix + "uploads/";
            Map<String, Instant> lastActive = new HashMap<>();
            List<S3Object> leftovers = new java.util.ArrayList<>();
            for (S3Object object : s3.listObjectsV2Paginator(ListObjectsV2Request.builder().bucket(bucket).prefix(uploads).build()).contents()) {
                String rest = object.key().substring(uploads.length());
                int slash = rest.indexOf('/');
                if (slash < 0 || slash == rest.length() - 1) continue; // a directory marker of some S3 servers
                String id = rest.substring(0, slash);
                if (liveUploads.contains(id)) continue;
                lastActive.merge(id, object.lastModified(), (x, y) -> x.isAfter(y) ? x : y);
                leftovers.add(object);
            }
            // Other replicas' monolithic uploads have no session row: only their age tells an abandoned one.
            // (The multipart upload's own 'initiated' is not trusted alone: some S3 servers report the current time.)
            String blobs = prefix + "blobs/";
            for (MultipartUpload upload : s3.listMultipartUploadsPaginator(ListMultipartUploadsRequest.builder()
                    .bucket(bucket).prefix(blobs).build()).uploads()) {
                String id = upload.key().substring(blobs.length());
                if (liveUploads.contains(id)) continue;
                Instant active = lastActive.getOrDefault(id, upload.initiated());
                if (active == null || !active.isBefore(olderThan)) continue;
                abortMultipart(upload.key(), upload.uploadId());
                removed++;
            }
            for (S3Object object : leftovers) {
                String id = object.key().substring(uploads.length(), object.key().indexOf('/', uploads.length()));
                if (lastActive.get(id).isBefore(olderThan)) {
                    deleteObject(object.key());
                    removed++;
                }
            }
            removed += sweepUnmappedBlobs(liveUploads, olderThan);
        } catch (SdkException e) {
            throw translate(e, "sweep " + where);
        }
        return removed;
    }

    /**
     * Objects under {@code blobs/} that no digest maps to: a server that died between completing
     * an upload's multipart upload and recording its digest. Listing every blob is the costly
     * part, so this runs at most once an hour (and at the first sweep, at startup).
     */
    private int sweepUnmappedBlobs(Set<String> liveUploads, Instant olderThan) throws IOException {
        Instant now = Instant.now();
        if (lastBlobSweep != null && lastBlobSweep.isAfter(now.minus(Duration.ofHours(1)))) return 0;
        lastBlobSweep = now;
        Set<String> mapped = Set.copyOf(objects.keys());
        String blobs = prefix + "blobs/";
        int removed = 0;
        for (S3Object object : s3.listObjectsV2Paginator(ListObjectsV2Request.builder().bucket(bucket).prefix(blobs).build()).contents()) {
            String id = object.key().substring(blobs.length());
            if (id.isEmpty() || id.contains("/") || liveUploads.contains(id) || mapped.contains(object.key())) continue;
            if (!object.lastModified().isBefore(olderThan) || objects.countByKey(object.key()) > 0) continue;
            deleteObject(object.key());
            removed++;
        }
        return removed;
    }

    // ------------------------------------------------------------------ reading

    @Override
    public boolean exists(Digest digest) { return locate(digest).isPresent(); }

    @Override
    public LayerContent open(Digest digest) throws IOException {
        ObjectDao.StoredObject object = locate(digest).orElseThrow(() -> new NoSuchFileException(digest.fileName(), null, "not in " + where));
        return new LayerContent() {
            @Override public long size() { return object.size(); }

            @Override public Optional<List<ByteBuffer>> slices(long offset, long length) { return Optional.empty(); }

            @Override
            public InputStream stream(long offset, long length) throws IOException {
                if (offset < 0 || length < 0 || offset + length > object.size()) {
                    throw new IndexOutOfBoundsException("range " + offset + "+" + length + " outside " + object.size());
                }
                if (length == 0) return InputStream.nullInputStream();
                return get(object.key(), offset, length);
            }
        };
    }

    @Override
    public boolean delete(Digest digest) throws IOException {
        Optional<ObjectDao.StoredObject> object = objects.find(digest.hex());
        located.invalidate(digest);
        if (object.isEmpty()) return false;
        // Row first: from then on nothing serves the key, so removing the object can race no reader that matters.
        objects.delete(digest.hex());
        located.invalidate(digest);
        deleteObject(object.get().key());
        return true;
    }

    @Override
    public Stream<Digest> list() {
        return objects.digests().stream().map(Digest::new);
    }

    @Override
    public long usableSpace() { return Long.MAX_VALUE; }

    @Override
    public void check() throws IOException {
        try {
            s3.headBucket(HeadBucketRequest.builder().bucket(bucket).build());
        } catch (SdkException e) {
            throw translate(e, "open " + where);
        }
    }

    @Override
    public String describe() { return where; }

    @Override
    public Optional<URI> directUrl(Digest digest, Duration validFor) throws IOException {
        if (!redirectLayers) return Optional.empty();
        Optional<ObjectDao.StoredObject> object = locate(digest);
        if (object.isEmpty()) return Optional.empty();
        try {
            return Optional.of(presigner.presignGetObject(GetObjectPresignRequest.builder().signatureDuration(validFor)
                    .getObjectRequest(GetObjectRequest.builder().bucket(bucket).key(object.get().key()).build()).build()).url().toURI());
        } catch (java.net.URISyntaxException e) {
            throw new IOException(e);
        }
    }

    private Optional<ObjectDao.StoredObject> locate(Digest digest) {
        ObjectDao.StoredObject cached = located.getIfPresent(digest);
        if (cached != null) return Optional.of(cached);
        // Only hits are cached: a layer being committed by another replica must be found as soon as its row exists.
        Optional<ObjectDao.StoredObject> found = objects.find(digest.hex());
        found.ifPresent(object -> located.put(digest, object));
        return found;
    }

    // ------------------------------------------------------------------ S3 calls

    /** A ranged GET; closing the stream before its end aborts the connection instead of draining it. */
    InputStream get(String key, long offset, long length) throws IOException {
        ResponseInputStream<GetObjectResponse> response;
        try {
            response = s3.getObject(GetObjectRequest.builder().bucket(bucket).key(key)
                    .range("bytes=" + offset + "-" + (offset + length - 1)).build());
        } catch (NoSuchKeyException e) {
            throw new NoSuchFileException(key, null, "not in " + where);
        } catch (SdkException e) {
            throw translate(e, "read " + key + " from " + where);
        }
        return new FilterInputStream(response) {
            private long left = length;

            @Override
            public int read() throws IOException {
                int b = super.read();
                if (b >= 0) left--;
                return b;
            }

            @Override
            public int read(byte[] bytes, int off, int len) throws IOException {
                int n = super.read(bytes, off, len);
                if (n > 0) left -= n;
                return n;
            }

            @Override
            public void close() throws IOException {
                if (left > 0) response.abort();
                super.close();
            }
        };
    }

    void deleteObject(String key) throws IOException {
        try {
            s3.deleteObject(b -> b.bucket(bucket).key(key));
        } catch (NoSuchKeyException e) {
            // already gone
        } catch (SdkException e) {
            throw translate(e, "delete " + key + " in " + where);
        }
    }

    /** Deletes every object under {@code keyPrefix} (an upload's head and pieces). */
    void deleteUnder(String keyPrefix) throws IOException {
        try {
            for (S3Object object : s3.listObjectsV2Paginator(ListObjectsV2Request.builder().bucket(bucket).prefix(keyPrefix).build()).contents()) {
                deleteObject(object.key());
            }
        } catch (SdkException e) {
            throw translate(e, "list " + keyPrefix + " in " + where);
        }
    }

    void abortMultipart(String key, String uploadId) throws IOException {
        try {
            s3.abortMultipartUpload(AbortMultipartUploadRequest.builder().bucket(bucket).key(key).uploadId(uploadId).build());
        } catch (NoSuchUploadException e) {
            // already completed or aborted
        } catch (S3Exception e) {
            if (e.statusCode() != 404) throw translate(e, "abort the upload of " + key + " in " + where);
        } catch (SdkException e) {
            throw translate(e, "abort the upload of " + key + " in " + where);
        }
    }

    /** One line saying what went wrong and what to do, for the log, the health check and the command line. */
    IOException translate(SdkException e, String doing) {
        String message;
        if (e instanceof S3Exception s3e) {
            int status = s3e.statusCode();
            String code = s3e.awsErrorDetails() == null ? null : s3e.awsErrorDetails().errorCode();
            if (status == 404 && (code == null || code.equals("NoSuchBucket"))) {
                message = "the bucket '" + bucket + "' does not exist (" + where + "); create it first";
            } else if (status == 403 || "InvalidAccessKeyId".equals(code) || "SignatureDoesNotMatch".equals(code)) {
                message = "the S3 credentials were refused for " + where + " (" + (code == null ? "HTTP 403" : code)
                        + "): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the AWS profile) and the bucket's policy";
            } else if (status == 301) {
                message = "the bucket '" + bucket + "' is in another region: set --s3-region";
            } else {
                message = "S3 answered HTTP " + status + (code == null ? "" : " " + code) + " when trying to " + doing;
            }
        } else if (e instanceof SdkClientException && e.getMessage() != null && e.getMessage().contains("credentials")) {
            message = "no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials";
        } else {
            String detail = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().lines().findFirst().orElse("");
            message = "cannot " + doing + ": " + detail;
        }
        return new IOException(message, e);
    }

    @Override
    public String toString() { return "S3LayerStore(" + where + ")"; }
}
