package io.strata.http.guard;

import io.strata.config.Limits;
import io.strata.config.ServerConfig;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Write floods from one address get 429 with Retry-After; reads and other addresses are not limited. */
class WriteRateLimitTest {
    static final int BURST = 5;
    @TempDir static Path dir;
    static TestRegistry registry;

    @BeforeAll
    static void start() throws IOException {
        registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data")).withLimits(Limits.defaults().withWriteRate(0.01, BURST)));
    }

    @AfterAll
    static void stop() {
        if (registry != null) registry.close();
    }

    @Test
    void writes_past_the_burst_get_429_with_retry_after_and_reads_still_pass() {
        for (int i = 0; i < BURST; i++) assertEquals(202, startUpload().statusCode(), "write " + (i + 1) + " is within the burst");
        HttpResponse<String> flooded = startUpload();
        assertEquals(429, flooded.statusCode(), flooded.body());
        assertTrue(flooded.body().contains("\"code\":\"RATE_LIMITED\""), flooded.body());
        long retryAfter = Long.parseLong(flooded.headers().firstValue("Retry-After").orElseThrow());
        assertTrue(retryAfter >= 1 && retryAfter <= 100, "Retry-After is the time until a token is back: " + retryAfter);
        // Refused before authentication: a throttled client cannot use the API to guess tokens either.
        HttpResponse<String> anonymous = registry.send(registry.request("/api/v1/uploads").POST(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(429, anonymous.statusCode(), anonymous.body());

        for (int i = 0; i < 20; i++) assertEquals(200, registry.send(registry.request("/index.json").build()).statusCode());
        assertEquals(200, registry.send(registry.request("/healthz").build()).statusCode());
    }

    @Test
    void buckets_are_per_address_and_ipv6_shares_one_per_64() throws Exception {
        WriteLimiter limiter = new WriteLimiter(0.01, 1);
        assertTrue(limiter.acquire(InetAddress.getByName("192.0.2.1")).isEmpty());
        assertTrue(limiter.acquire(InetAddress.getByName("192.0.2.1")).isPresent(), "the second write of one address waits");
        assertTrue(limiter.acquire(InetAddress.getByName("192.0.2.2")).isEmpty(), "another address has its own bucket");
        assertTrue(limiter.acquire(InetAddress.getByName("2001:db8:1:2::1")).isEmpty());
        assertTrue(limiter.acquire(InetAddress.getByName("2001:db8:1:2::ffff")).isPresent(), "the same /64 shares the bucket");
        assertTrue(limiter.acquire(InetAddress.getByName("2001:db8:1:3::1")).isEmpty(), "another /64 has its own");
    }

    HttpResponse<String> startUpload() {
        return registry.send(registry.authed("/api/v1/uploads", registry.pushToken).POST(HttpRequest.BodyPublishers.noBody()).build());
    }
}
