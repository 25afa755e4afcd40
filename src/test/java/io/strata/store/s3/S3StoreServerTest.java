package io.strata.store.s3;

import io.strata.StrataServer;
import io.strata.config.ServerConfig;
import io.strata.config.StoreConfig;
import io.strata.testing.FaultyTcpProxy;
import io.strata.testing.LayerFactory;
import io.strata.testing.RawHttp;
import io.strata.testing.S3TestBucket;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The server on an S3 store: startup errors in one line, /healthz checking the bucket, --redirect-layers. */
class S3StoreServerTest {
    static S3TestBucket bucket;
    @TempDir Path dir;

    @BeforeAll
    static void makeBucket() { bucket = S3TestBucket.create(); }

    @AfterAll
    static void removeBucket() {
        if (bucket != null) bucket.close();
    }

    private static StoreConfig storeIn(String otherBucket) {
        return StoreConfig.parse("s3://" + otherBucket + "/p", bucket.endpoint.toString(), null, false, false);
    }

    @Test
    void a_missing_bucket_fails_startup_with_one_line_naming_it() {
        IOException e = assertThrows(IOException.class,
                () -> StrataServer.start(ServerConfig.defaults(dir).withPort(0).withStore(storeIn("strata-no-such-bucket"))));
        assertTrue(e.getMessage().contains("the bucket 'strata-no-such-bucket' does not exist"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line");
    }

    @Test
    void refused_credentials_fail_startup_with_one_line_saying_what_to_check() {
        // System properties come first in the AWS credential chain.
        System.setProperty("aws.accessKeyId", "wrong");
        System.setProperty("aws.secretAccessKey", "wrong");
        try {
            IOException e = assertThrows(IOException.class,
                    () -> StrataServer.start(ServerConfig.defaults(dir).withPort(0).withStore(storeIn(bucket.bucket))));
            assertTrue(e.getMessage().contains("credentials were refused"), e.getMessage());
            assertTrue(e.getMessage().contains("AWS_ACCESS_KEY_ID"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line");
        } finally {
            System.clearProperty("aws.accessKeyId");
            System.clearProperty("aws.secretAccessKey");
        }
    }

    @Test
    void healthz_checks_the_bucket() throws Exception {
        String name = "strata-health-" + Long.toHexString(System.nanoTime());
        bucket.s3.createBucket(b -> b.bucket(name));
        try (TestRegistry registry = TestRegistry.start(ServerConfig.defaults(dir).withStore(storeIn(name)))) {
            assertEquals(200, registry.send(registry.request("/healthz").build()).statusCode());
            bucket.s3.deleteBucket(b -> b.bucket(name));
            HttpResponse<String> failing = registry.send(registry.request("/healthz").build());
            assertEquals(503, failing.statusCode());
            assertTrue(failing.body().contains("\"store\":\"failing\""), failing.body());
        }
    }

    @Test
    void a_client_that_disconnects_mid_layer_aborts_the_s3_transfer_instead_of_draining_it() throws Exception {
        byte[] layer = LayerFactory.randomLayer(dir, 48 << 20, 5);
        // A counting TCP proxy between Strata and the S3 server shows how much Strata read from S3.
        try (FaultyTcpProxy proxy = new FaultyTcpProxy(bucket.endpoint, 1, FaultyTcpProxy.Faults.NONE)) {
            StoreConfig store = StoreConfig.parse("s3://" + bucket.bucket + "/abort", proxy.url(), null, false, false);
            try (TestRegistry registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data")).withStore(store))) {
                assertEquals(201, registry.putLayer(layer).statusCode());
                proxy.resetCounters();
                URI base = URI.create(registry.url("/"));
                RawHttp get = RawHttp.begin(base, "GET", "/layers/" + TestRegistry.sha256(layer).fileName(), java.util.Map.of(), new byte[0]);
                assertTrue(get.responseHead().startsWith("HTTP/1.1 200"));
                get.cut();
                Thread.sleep(2000);
                assertTrue(proxy.bytesToClient() < layer.length / 2,
                        "read " + proxy.bytesToClient() + " of " + layer.length + " bytes from S3 after the client left");
                // The store still serves (the aborted connection was not returned to the pool half read).
                HttpResponse<byte[]> again = registry.sendBytes(registry.request("/layers/" + TestRegistry.sha256(layer).fileName())
                        .header("Range", "bytes=0-99").build());
                assertArrayEquals(Arrays.copyOf(layer, 100), again.body());
            }
        }
    }

    @Test
    void redirect_layers_sends_only_plain_full_gets_to_a_presigned_url() throws Exception {
        byte[] layer = LayerFactory.randomLayer(dir, 1 << 20, 3);
        StoreConfig store = bucket.store("redirect/", true);
        try (TestRegistry registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data")).withStore(store))) {
            assertEquals(201, registry.putLayer(layer).statusCode());
            String path = "/layers/" + TestRegistry.sha256(layer).fileName();

            HttpResponse<byte[]> redirect = registry.sendBytes(registry.request(path).GET().build());
            assertEquals(307, redirect.statusCode());
            assertEquals("no-store", redirect.headers().firstValue("Cache-Control").orElseThrow());
            URI presigned = URI.create(redirect.headers().firstValue("Location").orElseThrow());
            HttpResponse<byte[]> direct = registry.http.send(HttpRequest.newBuilder(presigned).build(), HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(200, direct.statusCode());
            assertArrayEquals(layer, direct.body());

            HttpResponse<byte[]> range = registry.sendBytes(registry.request(path).header("Range", "bytes=10-19").GET().build());
            assertEquals(206, range.statusCode(), "a range is served here, with our semantics");
            assertArrayEquals(Arrays.copyOfRange(layer, 10, 20), range.body());
            String etag = "\"" + TestRegistry.sha256(layer).hex() + "\"";
            assertEquals(304, registry.sendBytes(registry.request(path).header("If-None-Match", etag).GET().build()).statusCode());
            HttpResponse<String> head = registry.send(registry.request(path).method("HEAD", HttpRequest.BodyPublishers.noBody()).build());
            assertEquals(200, head.statusCode());
            assertEquals(Integer.toString(layer.length), head.headers().firstValue("Content-Length").orElseThrow());
        }
    }
}
