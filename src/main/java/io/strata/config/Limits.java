package io.strata.config;

import java.time.Duration;

/**
 * What the server accepts from a client before refusing it: the hardening settings of
 * {@code serve} (README "Limits and hostile input"). Fixed limits that need no option live here
 * as constants so that the code and the README name one number.
 *
 * @param writeRate         write requests (POST, PUT, PATCH, DELETE) per second one client address may make, on average
 * @param writeBurst        write requests one address may make at once before {@code writeRate} applies
 * @param minUploadRate     bytes per second an upload body must at least arrive at, measured over {@code uploadRateWindow}; 0 disables
 * @param uploadRateWindow  how long a body may run below {@code minUploadRate} before it is refused with 408
 * @param idleTimeout       a connection with no traffic this long is closed
 * @param headerTimeout     a request head (request line and headers) must arrive within this, however it trickles
 * @param maxVirtualSize    largest guest-visible disk size a layer may declare
 * @param maxChainDepth     most layers a backing chain may have, the new layer included
 */
public record Limits(
        double writeRate,
        int writeBurst,
        long minUploadRate,
        Duration uploadRateWindow,
        Duration idleTimeout,
        Duration headerTimeout,
        long maxVirtualSize,
        int maxChainDepth) {

    /** Larger header blocks are answered 431 (Jetty's default is 8 KiB; 16 KiB leaves room for long tokens). */
    public static final int MAX_HEADER_BYTES = 16 * 1024;
    /** JSON bodies nested deeper than this are refused: no publish or alias body needs more than a few levels. */
    public static final int MAX_JSON_NESTING = 64;

    public static final double DEFAULT_WRITE_RATE = 100;
    public static final int DEFAULT_WRITE_BURST = 1000;
    public static final long DEFAULT_MIN_UPLOAD_RATE = 16 * 1024;
    public static final Duration DEFAULT_UPLOAD_RATE_WINDOW = Duration.ofSeconds(10);
    public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofSeconds(30);
    public static final Duration DEFAULT_HEADER_TIMEOUT = Duration.ofSeconds(10);
    public static final long DEFAULT_MAX_VIRTUAL_SIZE = 16L << 40;
    public static final int DEFAULT_MAX_CHAIN_DEPTH = 32;

    public Limits {
        if (writeRate <= 0 || writeBurst < 1) throw new IllegalArgumentException("the write rate and burst must be positive");
        if (minUploadRate < 0) throw new IllegalArgumentException("the minimum upload rate cannot be negative");
        if (maxVirtualSize <= 0 || maxChainDepth < 1) throw new IllegalArgumentException("the layer limits must be positive");
    }

    public static Limits defaults() {
        return new Limits(DEFAULT_WRITE_RATE, DEFAULT_WRITE_BURST, DEFAULT_MIN_UPLOAD_RATE, DEFAULT_UPLOAD_RATE_WINDOW,
                DEFAULT_IDLE_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_VIRTUAL_SIZE, DEFAULT_MAX_CHAIN_DEPTH);
    }

    public Limits withWriteRate(double rate, int burst) {
        return new Limits(rate, burst, minUploadRate, uploadRateWindow, idleTimeout, headerTimeout, maxVirtualSize, maxChainDepth);
    }

    public Limits withMinUploadRate(long bytesPerSecond, Duration window) {
        return new Limits(writeRate, writeBurst, bytesPerSecond, window, idleTimeout, headerTimeout, maxVirtualSize, maxChainDepth);
    }

    public Limits withTimeouts(Duration idle, Duration header) {
        return new Limits(writeRate, writeBurst, minUploadRate, uploadRateWindow, idle, header, maxVirtualSize, maxChainDepth);
    }

    public Limits withLayerLimits(long virtualSize, int chainDepth) {
        return new Limits(writeRate, writeBurst, minUploadRate, uploadRateWindow, idleTimeout, headerTimeout, virtualSize, chainDepth);
    }
}
