package io.strata.client;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Exponential backoff between attempts: {@code initial}, doubling per failure, capped at {@code max},
 * each delay drawn from its upper half so that parallel downloads failing together do not retry in step.
 */
public record Backoff(Duration initial, Duration max) {
    public static final Backoff DEFAULT = new Backoff(Duration.ofMillis(500), Duration.ofSeconds(30));

    /** The pause before the next attempt after {@code failures} failures in a row (1 for the first). */
    public Duration delay(int failures) {
        long ceiling = initial.toMillis();
        for (int i = 1; i < failures && ceiling < max.toMillis(); i++) ceiling *= 2;
        ceiling = Math.min(ceiling, max.toMillis());
        return Duration.ofMillis(ceiling / 2 + ThreadLocalRandom.current().nextLong(ceiling / 2 + 1));
    }

    public void sleep(int failures) throws InterruptedException {
        Thread.sleep(delay(failures).toMillis());
    }
}
