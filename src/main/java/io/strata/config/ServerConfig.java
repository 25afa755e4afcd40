package io.strata.config;

import io.strata.tls.TlsConfig;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * Everything the server is told at startup, parsed once (flags, then {@code STRATA_*}
 * environment) and passed down by constructor.
 *
 * @param dataDir          holds {@code strata.db}, {@code layers/} and {@code uploads/}
 * @param host             interface to listen on
 * @param port             TCP port; 0 picks a free one (tests)
 * @param maxLayerBytes    largest layer accepted, in bytes
 * @param minFreeBytes     free disk space an upload must leave behind
 * @param uploadExpiry     an upload session untouched this long is removed with its bytes
 * @param allowEncryption  accept encrypted qcow2 layers (off by default: clients cannot open them without the key)
 * @param staticDir        the catalog page's files, served at {@code /}; empty means the built-in copy
 * @param importDir        a directory of samples to publish on first start, if any
 * @param tls              HTTPS next to plain HTTP on the same port; empty means plain HTTP only
 * @param limits           what a client may send before it is refused (hostile input, floods, slow clients)
 * @param access           private mode and per-token upload bounds
 */
public record ServerConfig(
        Path dataDir,
        String host,
        int port,
        long maxLayerBytes,
        long minFreeBytes,
        Duration uploadExpiry,
        boolean allowEncryption,
        Optional<Path> staticDir,
        Optional<Path> importDir,
        Optional<TlsConfig> tls,
        Limits limits,
        AccessConfig access) {

    public static final long DEFAULT_MAX_LAYER_BYTES = 64L << 30;
    public static final long DEFAULT_MIN_FREE_BYTES = 256L << 20;
    public static final Duration DEFAULT_UPLOAD_EXPIRY = Duration.ofHours(24);

    /** Defaults for a given data directory: localhost, port 8080, 64 GiB layers, 24 h upload expiry. */
    public static ServerConfig defaults(Path dataDir) {
        return new ServerConfig(dataDir, "127.0.0.1", 8080, DEFAULT_MAX_LAYER_BYTES, DEFAULT_MIN_FREE_BYTES,
                DEFAULT_UPLOAD_EXPIRY, false, Optional.empty(), Optional.empty(), Optional.empty(), Limits.defaults(), AccessConfig.defaults());
    }

    public ServerConfig withPort(int newPort) {
        return new ServerConfig(dataDir, host, newPort, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, tls, limits, access);
    }

    public ServerConfig withMaxLayerBytes(long bytes) {
        return new ServerConfig(dataDir, host, port, bytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, tls, limits, access);
    }

    public ServerConfig withUploadExpiry(Duration expiry) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, expiry, allowEncryption, staticDir, importDir, tls, limits, access);
    }

    public ServerConfig withImportDir(Optional<Path> dir) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, dir, tls, limits, access);
    }

    public ServerConfig withStaticDir(Optional<Path> dir) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, dir, importDir, tls, limits, access);
    }

    public ServerConfig withTls(Optional<TlsConfig> newTls) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, newTls, limits, access);
    }

    public ServerConfig withLimits(Limits newLimits) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, tls, newLimits, access);
    }

    public ServerConfig withAllowEncryption(boolean allow) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allow, staticDir, importDir, tls, limits, access);
    }

    public ServerConfig withAccess(AccessConfig newAccess) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, tls, limits,
                newAccess);
    }
}
