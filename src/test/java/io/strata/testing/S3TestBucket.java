package io.strata.testing;

import io.strata.config.StoreConfig;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.S3Object;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * A bucket of its own on the S3-compatible server named by {@code STRATA_TEST_S3_ENDPOINT}
 * (S3Proxy in CI, see .ci/services.sh), removed with everything in it on {@link #close}. Tests
 * needing it skip without the variable, but fail under {@code CI=true}.
 *
 * <p>As a JUnit extension ({@code @ExtendWith(S3TestBucket.class)}) it makes every
 * {@link TestRegistry} the test class starts use a fresh prefix of one bucket as its layer store:
 * that is how the API suites run against S3 ({@code ...OnS3Test} subclasses).
 */
public final class S3TestBucket implements AutoCloseable, BeforeAllCallback, AfterAllCallback {
    public final S3Client s3;
    public final String bucket;
    public final URI endpoint;

    /** For JUnit: the extension instance; the bucket is made in {@link #beforeAll}. */
    public S3TestBucket() {
        this.s3 = null;
        this.bucket = null;
        this.endpoint = null;
    }

    private S3TestBucket(S3Client s3, String bucket, URI endpoint) {
        this.s3 = s3;
        this.bucket = bucket;
        this.endpoint = endpoint;
    }

    /** Skips (or, under CI=true, fails) the test when no S3 endpoint is configured. */
    public static URI assumeAvailable() {
        String endpoint = System.getenv("STRATA_TEST_S3_ENDPOINT");
        if (endpoint != null && !endpoint.isBlank()) return URI.create(endpoint);
        String missing = "STRATA_TEST_S3_ENDPOINT is not set (source the environment .ci/services.sh prints)";
        if ("true".equals(System.getenv("CI"))) fail(missing + "; CI=true, so the S3 tests may not be skipped");
        Assumptions.abort(missing);
        return null;
    }

    public static S3TestBucket create() {
        URI endpoint = assumeAvailable();
        S3Client s3 = S3Client.builder().region(Region.of(Optional.ofNullable(System.getenv("AWS_REGION")).orElse("us-east-1")))
                .credentialsProvider(DefaultCredentialsProvider.builder().build())
                .httpClient(ApacheHttpClient.create()).endpointOverride(endpoint).forcePathStyle(true)
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED).build();
        String bucket = "strata-test-" + UUID.randomUUID().toString().replace("-", "").substring(0, 16);
        s3.createBucket(b -> b.bucket(bucket));
        return new S3TestBucket(s3, bucket, endpoint);
    }

    /** The store option for {@code s3://bucket/prefix}. */
    public StoreConfig store(String prefix) {
        return StoreConfig.parse("s3://" + bucket + "/" + prefix, endpoint.toString(), null, false, false);
    }

    public StoreConfig store(String prefix, boolean redirectLayers) {
        return StoreConfig.parse("s3://" + bucket + "/" + prefix, endpoint.toString(), null, false, redirectLayers);
    }

    /**
     * Keys of the objects under {@code prefix}, sorted. S3Proxy's filesystem backend lists the
     * directory holding {@code a/b} as an object {@code a/}: such markers are left out.
     */
    public List<String> keys(String prefix) {
        List<String> keys = new ArrayList<>();
        for (S3Object object : s3.listObjectsV2Paginator(b -> b.bucket(bucket).prefix(prefix)).contents()) keys.add(object.key());
        return keys.stream().filter(key -> !key.endsWith("/")).sorted().toList();
    }

    /** Keys of the multipart uploads in progress under {@code prefix}. */
    public List<String> multipartUploads(String prefix) {
        List<String> keys = new ArrayList<>();
        for (MultipartUpload upload : s3.listMultipartUploadsPaginator(b -> b.bucket(bucket).prefix(prefix)).uploads()) keys.add(upload.key());
        return keys.stream().sorted().toList();
    }

    @Override
    public void close() {
        for (MultipartUpload upload : s3.listMultipartUploadsPaginator(b -> b.bucket(bucket)).uploads()) {
            s3.abortMultipartUpload(b -> b.bucket(bucket).key(upload.key()).uploadId(upload.uploadId()));
        }
        List<String> all = new ArrayList<>();
        for (S3Object object : s3.listObjectsV2Paginator(b -> b.bucket(bucket)).contents()) all.add(object.key());
        // Deepest first, so S3Proxy's directory markers go after what they hold.
        all.sort(java.util.Comparator.comparingInt(String::length).reversed());
        for (String key : all) s3.deleteObject(b -> b.bucket(bucket).key(key));
        s3.deleteBucket(b -> b.bucket(bucket));
        s3.close();
    }

    // ------------------------------------------------------------------ as an extension

    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(S3TestBucket.class);

    @Override
    public void beforeAll(ExtensionContext context) {
        S3TestBucket bucket = create();
        context.getStore(NAMESPACE).put("bucket", bucket);
        TestRegistry.useS3(bucket);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        TestRegistry.useS3(null);
        S3TestBucket bucket = context.getStore(NAMESPACE).remove("bucket", S3TestBucket.class);
        if (bucket != null) bucket.close();
    }
}
