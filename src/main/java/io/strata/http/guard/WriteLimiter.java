package io.strata.http.guard;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.time.Duration;
import java.util.Arrays;
import java.util.OptionalLong;

/**
 * A token bucket per client address for write requests: {@code burst} requests at once, then
 * {@code rate} per second. IPv6 addresses share a bucket per /64, the block one subscriber
 * usually gets, so a client cannot escape the limit by cycling through its own addresses.
 * The buckets live in a bounded cache: a flood from more addresses than it holds evicts the
 * least recently seen, which then start full again (the limit is best effort, memory is not).
 */
final class WriteLimiter {
    static final int MAX_CLIENTS = 100_000;

    private final double rate;
    private final int burst;
    private final Cache<String, Bucket> buckets;

    WriteLimiter(double rate, int burst) {
        this.rate = rate;
        this.burst = burst;
        // A bucket untouched for the time it takes to refill is full again: forgetting it changes nothing.
        long refillSeconds = (long) Math.ceil(burst / rate) + 1;
        this.buckets = Caffeine.newBuilder().maximumSize(MAX_CLIENTS).expireAfterAccess(Duration.ofSeconds(refillSeconds)).build();
    }

    /** Takes one token for {@code client}; empty when allowed, otherwise the seconds until a token is back. */
    OptionalLong acquire(InetAddress client) {
        return buckets.get(key(client), k -> new Bucket(burst, System.nanoTime())).take(rate, burst, System.nanoTime());
    }

    static String key(InetAddress address) {
        if (address instanceof Inet6Address) return Arrays.toString(Arrays.copyOf(address.getAddress(), 8)) + "/64";
        return address.getHostAddress();
    }

    private static final class Bucket {
        private double tokens;
        private long updated;

        Bucket(double tokens, long now) {
            this.tokens = tokens;
            this.updated = now;
        }

        synchronized OptionalLong take(double rate, int burst, long now) {
            tokens = Math.min(burst, tokens + (now - updated) / 1e9 * rate);
            updated = now;
            if (tokens >= 1) {
                tokens -= 1;
                return OptionalLong.empty();
            }
            return OptionalLong.of(Math.max(1, (long) Math.ceil((1 - tokens) / rate)));
        }
    }
}
