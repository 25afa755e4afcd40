package io.strata.config;

import io.strata.metrics.AccessLogTarget;
import io.strata.tls.TlsConfig;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * Everything the server is told at startup, parsed once (flags, then {@code STRATA_*}
 * environment) and passed down by constructor.
 *
 * @param dataDir         holds {@code strata.db}, {@code layers/} and {@code uploads/}
 * @param host            interface to listen on
 * @param port            TCP port; 0 picks a free one (tests)
 * @param maxLayerBytes   largest layer accepted, in bytes
 * @param minFreeBytes    free disk space an upload must leave behind
 * @param uploadExpiry    an upload session untouched this long is removed with its bytes
 * @param allowEncryption accept encrypted qcow2 layers (off by default: clients cannot open them without the key)
 * @param staticDir       the catalog page's files, served at {@code /}; empty means the built-in copy
 * @param importDir       a directory of samples to publish on first start, if any
 * @param tls             HTTPS next to plain HTTP on the same port; empty means plain HTTP only
 * @param limits          what a client may send before it is refused (hostile input, floods, slow clients)
 * @param access          private mode and per-token upload bounds
 * @param lxd             LXD/Incus items (lxd.tar.xz and flattened disks); off in {@link #defaults}, on in {@code serve}
 * @param store           where layer bytes live (the data directory, or an S3-compatible bucket)
 * @param db              the metadata database: embedded SQLite in {@code dataDir}, or PostgreSQL
 * @param accessLog       where the access log goes; off in {@link #defaults} and, unless asked, in {@code serve}
 * @param signingKey      a PEM file with the Ed25519 key that signs the index; empty means the key kept in the database
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
        AccessConfig access,
        LxdConfig lxd,
        StoreConfig store,
        DbConfig db,
        AccessLogTarget accessLog,
        Optional<Path> signingKey) {

    public static final long DEFAULT_MAX_LAYER_BYTES = 64L << 30;
    public static final long DEFAULT_MIN_FREE_BYTES = 256L << 20;
    public static final Duration DEFAULT_UPLOAD_EXPIRY = Duration.ofHours(24);

    /** Defaults for a given data directory: localhost, port 8080, 64 GiB layers, 24 h upload expiry, no LXD items (serve turns them on). */
    public static ServerConfig defaults(Path dataDir) {
        return new ServerConfig(dataDir, "127.0.0.1", 8080, DEFAULT_MAX_LAYER_BYTES, DEFAULT_MIN_FREE_BYTES, DEFAULT_UPLOAD_EXPIRY, false, Optional.empty(), Optional.empty(), Optional.empty(), Limits.defaults(), AccessConfig.defaults(), LxdConfig.off(), StoreConfig.filesystem(),
                DbConfig.embedded(), AccessLogTarget.OFF, Optional.empty());
    }

    public ServerConfig withPort(int value) {
        return new ServerConfig(dataDir, host, value, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, tls, limits, access, lxd, store, db, accessLog, signingKey);
    }

    public ServerConfig withMaxLayerBytes(long value) {
        return new ServerConfig(dataDir, host, port, value, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, tls, limits, access, lxd, store, db, accessLog, signingKey);
    }

    public ServerConfig withMinFreeBytes(long value) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, value, uploadExpiry, allowEncryption, staticDir, importDir, tls, limits, access, lxd, store, db, accessLog, signingKey);
    }

    public ServerConfig withUploadExpiry(Duration value) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, value, allowEncryption, staticDir, importDir, tls, limits, access, lxd, store, db, accessLog, signingKey);
    }

    public ServerConfig withAllowEncryption(boolean value) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, value, staticDir, importDir, tls, limits, access, lxd, store, db, accessLog, signingKey);
    }

    public ServerConfig withStaticDir(Optional<Path> value) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, value, importDir, tls, limits, access, lxd, store, db, accessLog, signingKey);
    }

    public ServerConfig withImportDir(Optional<Path> value) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, value, tls, limits, access, lxd, store, db, accessLog, signingKey);
    }

    public ServerConfig withTls(Optional<TlsConfig> value) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, value, limits, access, lxd, store, db, accessLog, signingKey);
    }

    public ServerConfig withLimits(Limits value) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, tls, value, access, lxd, store, db, accessLog, signingKey);
    }

    public ServerConfig withAccess(AccessConfig value) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, tls, limits, value, lxd, store, db, accessLog, signingKey);
    }

    public ServerConfig withLxd(LxdConfig value) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, tls, limits, access, value, store, db, accessLog, signingKey);
    }

    public ServerConfig withStore(StoreConfig value) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, tls, limits, access, lxd, value, db, accessLog, signingKey);
    }

    public ServerConfig withAccessLog(AccessLogTarget value) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, tls, limits, access, lxd, store, db, value, signingKey);
    }

    public ServerConfig withSigningKey(Optional<Path> value) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, tls, limits, access, lxd, store, db, accessLog, value);
    }

    public ServerConfig withDb(DbConfig value) {
        return new ServerConfig(dataDir, host, port, maxLayerBytes, minFreeBytes, uploadExpiry, allowEncryption, staticDir, importDir, tls, limits, access, lxd, store, value, accessLog, signingKey);
    }
}
