package io.strata.cli;

import io.strata.StrataServer;
import io.strata.config.AccessConfig;
import io.strata.config.Limits;
import io.strata.config.LxdConfig;
import io.strata.config.ServerConfig;
import io.strata.config.Units;
import io.strata.metrics.AccessLogTarget;
import io.strata.tls.TlsConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code strata serve}: the registry, on the embedded SQLite + data directory default. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Run the registry: the catalog page at /, the index at /index.json, layers at /layers/<sha256>.qcow2, "
                + "the publishing API under /api/v1/, health at /healthz. Every option can also come from its STRATA_* environment variable.")
final class ServeCommand implements Callable<Integer> {
    @Mixin DataDirOption data;
    @Mixin DbOption db;

    @Mixin StoreOptions storeOptions;

    @Option(names = "--redirect-layers", defaultValue = "${env:STRATA_REDIRECT_LAYERS:-false}",
            description = {"With an S3 store: answer plain full layer GETs (no Range, no If-* header) with 307 to a presigned URL "
                    + "valid for 5 minutes, so the bytes bypass the server (env STRATA_REDIRECT_LAYERS)."})
    boolean redirectLayers;

    @Option(names = "--buffered-uploads", defaultValue = "${env:STRATA_BUFFERED_UPLOADS:-false}",
            description = "Write uploads to the data directory through the page cache instead of with O_DIRECT: ingest is slower "
                    + "where fresh page-cache memory is slow to touch (3-4x on a small VM), but a freshly uploaded layer's first "
                    + "reads come from memory, not the disk (env STRATA_BUFFERED_UPLOADS).")
    boolean bufferedUploads;

    @Option(names = "--host", paramLabel = "ADDR", defaultValue = "${env:STRATA_HOST:-127.0.0.1}",
            description = "Interface to listen on; 0.0.0.0 for all (env STRATA_HOST; default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", paramLabel = "PORT", defaultValue = "${env:STRATA_PORT:-8080}",
            description = "TCP port; 0 picks a free one (env STRATA_PORT; default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--max-layer-size", paramLabel = "SIZE", defaultValue = "${env:STRATA_MAX_LAYER_SIZE:-64G}",
            description = "Largest layer accepted, e.g. 512M, 64G (env STRATA_MAX_LAYER_SIZE; default: ${DEFAULT-VALUE}).")
    String maxLayerSize;

    @Option(names = "--min-free", paramLabel = "SIZE", defaultValue = "${env:STRATA_MIN_FREE:-256M}",
            description = "Free disk space every upload must leave (env STRATA_MIN_FREE; default: ${DEFAULT-VALUE}).")
    String minFree;

    @Option(names = "--upload-expiry", paramLabel = "DURATION", defaultValue = "${env:STRATA_UPLOAD_EXPIRY:-24h}",
            description = "Remove resumable uploads untouched this long, e.g. 30m, 24h (env STRATA_UPLOAD_EXPIRY; default: ${DEFAULT-VALUE}).")
    String uploadExpiry;

    @Option(names = "--allow-encrypted", defaultValue = "${env:STRATA_ALLOW_ENCRYPTED:-false}",
            description = "Accept encrypted qcow2 layers (off by default: clients need the key to open them).")
    boolean allowEncrypted;

    @Option(names = "--import", paramLabel = "DIR", defaultValue = "${env:STRATA_IMPORT}",
            description = {"At start, store DIR/layers/*.qcow2 and publish DIR/images.json (skips what is already there),",
                    "e.g. --import samples (env STRATA_IMPORT)."})
    Path importDir;

    @Option(names = "--static", paramLabel = "DIR", defaultValue = "${env:STRATA_STATIC}",
            description = "Serve the catalog page from DIR instead of the copy built into the jar (for working on the page).")
    Path staticDir;

    @Option(names = "--tls-cert", paramLabel = "FILE", defaultValue = "${env:STRATA_TLS_CERT}",
            description = "Also serve HTTPS (TLS 1.3/1.2) on the same port with this PEM certificate chain, server certificate first; "
                    + "plain HTTP keeps working. Needs --tls-key; renewed files are picked up without a restart (env STRATA_TLS_CERT).")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "FILE", defaultValue = "${env:STRATA_TLS_KEY}",
            description = "The certificate's private key: unencrypted PKCS#8 PEM ('BEGIN PRIVATE KEY'), RSA or EC (env STRATA_TLS_KEY).")
    Path tlsKey;

    @Option(names = "--write-rate", paramLabel = "N", defaultValue = "${env:STRATA_WRITE_RATE:-100}",
            description = "Write requests (POST/PUT/PATCH/DELETE) per second one client address may make on average; more get 429 (env STRATA_WRITE_RATE; default: ${DEFAULT-VALUE}).")
    String writeRate;

    @Option(names = "--write-burst", paramLabel = "N", defaultValue = "${env:STRATA_WRITE_BURST:-1000}",
            description = "Write requests one address may make at once before --write-rate applies (env STRATA_WRITE_BURST; default: ${DEFAULT-VALUE}).")
    int writeBurst;

    @Option(names = "--min-upload-rate", paramLabel = "SIZE", defaultValue = "${env:STRATA_MIN_UPLOAD_RATE:-16K}",
            description = "Upload bodies slower than SIZE per second over 10 s get 408 (the session keeps what arrived); 0 disables (env STRATA_MIN_UPLOAD_RATE; default: ${DEFAULT-VALUE}).")
    String minUploadRate;

    @Option(names = "--idle-timeout", paramLabel = "DURATION", defaultValue = "${env:STRATA_IDLE_TIMEOUT:-30s}",
            description = "Close connections with no traffic this long (env STRATA_IDLE_TIMEOUT; default: ${DEFAULT-VALUE}).")
    String idleTimeout;

    @Option(names = "--header-timeout", paramLabel = "DURATION", defaultValue = "${env:STRATA_HEADER_TIMEOUT:-10s}",
            description = "Close connections whose request headers take longer than this to arrive (env STRATA_HEADER_TIMEOUT; default: ${DEFAULT-VALUE}).")
    String headerTimeout;

    @Option(names = "--max-virtual-size", paramLabel = "SIZE", defaultValue = "${env:STRATA_MAX_VIRTUAL_SIZE:-16T}",
            description = "Refuse layers whose virtual (guest) disk size is larger (env STRATA_MAX_VIRTUAL_SIZE; default: ${DEFAULT-VALUE}).")
    String maxVirtualSize;

    @Option(names = "--max-chain-depth", paramLabel = "N", defaultValue = "${env:STRATA_MAX_CHAIN_DEPTH:-32}",
            description = "Refuse layers whose backing chain, the layer included, would be longer (env STRATA_MAX_CHAIN_DEPTH; default: ${DEFAULT-VALUE}).")
    int maxChainDepth;

    @Option(names = "--private", defaultValue = "${env:STRATA_PRIVATE:-false}",
            description = {"Every read (index, streams, layers, catalog page, API) needs a token, as Bearer or as the",
                    "password of HTTP Basic (curl -u x:TOKEN); any scope reads; /metrics too. /healthz stays public (env STRATA_PRIVATE)."})
    boolean privateMode;

    @Option(names = "--max-open-uploads", paramLabel = "N", defaultValue = "${env:STRATA_MAX_OPEN_UPLOADS:-32}",
            description = "Resumable upload sessions one token may have open at once; more answer 429 (env STRATA_MAX_OPEN_UPLOADS; default: ${DEFAULT-VALUE}).")
    int maxOpenUploads;

    @Option(names = "--lxd-versions", paramLabel = "N", defaultValue = "${env:STRATA_LXD_VERSIONS:-2}",
            description = {"Make LXD/Incus items (lxd.tar.xz and a flattened disk) for the newest N versions of each product;",
                    "0 turns them off. Needs qemu-img (env STRATA_LXD_VERSIONS; default: ${DEFAULT-VALUE})."})
    int lxdVersions;

    @Option(names = "--qemu-img", paramLabel = "PROGRAM", defaultValue = "${env:STRATA_QEMU_IMG:-qemu-img}",
            description = "The qemu-img that flattens chains for LXD (env STRATA_QEMU_IMG; default: ${DEFAULT-VALUE}).")
    String qemuImg;

    @Option(names = "--signing-key", paramLabel = "FILE", defaultValue = "${env:STRATA_SIGNING_KEY}",
            description = {"Ed25519 private key (PEM, PKCS#8: openssl genpkey -algorithm ed25519 -out FILE) that signs",
                    "the index documents (env STRATA_SIGNING_KEY). Default: a key the registry makes on its first start",
                    "and keeps in its database, which every replica on the same database shares."})
    Path signingKey;

    @Option(names = "--job-lease", paramLabel = "DURATION", defaultValue = "${env:STRATA_JOB_LEASE:-60s}",
            description = {"How long a background job stays claimed without renewal; after a crash its job runs again",
                    "once this passed (env STRATA_JOB_LEASE; default: ${DEFAULT-VALUE})."})
    String jobLease;

    // Off unless asked: at ~90,000 HEADs/s on 2 cores a line per request costs 10-17% of the throughput
    // (bench/head-telemetry.sh), and ../shared/bench compares against an nginx with access_log off.
    @Option(names = "--access-log", paramLabel = "PATH|-|off", defaultValue = "${env:STRATA_ACCESS_LOG:-off}",
            description = {"One line per request: appended to PATH, written to standard output (-), or off",
                    "(env STRATA_ACCESS_LOG; default: ${DEFAULT-VALUE}). Never holds a token."})
    String accessLog;

    /** Where --access-log sends the log (package-private for tests). */
    AccessLogTarget accessLog() { return AccessLogTarget.parse(accessLog); }

    /** The store configuration the options make (package-private for tests). */
    io.strata.config.StoreConfig store() {
        storeOptions.redirectLayers = redirectLayers;
        return storeOptions.config().withDirectWrites(!bufferedUploads);
    }

    @Override
    public Integer call() throws Exception {
        ServerConfig config = new ServerConfig(data.dataDir.toAbsolutePath().normalize(), host, port,
                Units.parseSize(maxLayerSize), Units.parseSize(minFree), Units.parseDuration(uploadExpiry),
                allowEncrypted, Optional.ofNullable(staticDir), Optional.ofNullable(importDir), tls(), limits(),
                new AccessConfig(privateMode, maxOpenUploads),
                new LxdConfig(lxdVersions, qemuImg, Units.parseDuration(jobLease)), store(), db.config(), accessLog(),
                Optional.ofNullable(signingKey).map(path -> path.toAbsolutePath().normalize()));
        StrataServer server = StrataServer.start(config);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "strata-shutdown"));
        System.out.println("strata listening on " + server.baseUrl() + "  (data: " + config.dataDir()
                + (config.db().isShared() ? ", metadata: " + config.db().describe() : "") + ")");
        server.httpsUrl().ifPresent(https -> System.out.println("  https:   " + https + "/   (certificate "
                + server.https().orElseThrow().certificate().getSubjectX500Principal().getName() + ", plain HTTP on the same port)"));
        if (config.store().s3().isPresent()) System.out.println("  store:   " + server.services().layers().store().describe());
        System.out.println("  layers:  " + server.baseUrl() + "/layers/<sha256>.qcow2");
        System.out.println("  catalog: " + server.baseUrl() + "/   index: " + server.baseUrl() + "/index.json");
        System.out.println("  health:  " + server.baseUrl() + "/healthz");
        System.out.println("  signed:  " + server.baseUrl() + "/index.json.minisig  key: " + server.baseUrl() + "/strata.pub");
        System.out.println("  metrics: " + server.baseUrl() + "/metrics   access log: " + config.accessLog().describe());
        if (privateMode) System.out.println("  private: every read needs a token (any scope), e.g. curl -u x:TOKEN " + server.baseUrl() + "/index.json");
        System.out.println("  push token: java -jar strata.jar token create --data " + config.dataDir()
                + (config.db().isShared() ? " --db '" + config.db().describe() + "'" : "") + " --scope push");
        stopped.await();
        return 0;
    }

    private Optional<TlsConfig> tls() {
        if (tlsCert == null && tlsKey == null) return Optional.empty();
        if (tlsCert == null || tlsKey == null) {
            throw new IllegalArgumentException("--tls-cert and --tls-key go together (env STRATA_TLS_CERT, STRATA_TLS_KEY): got only "
                    + (tlsCert == null ? "--tls-key" : "--tls-cert") + "; give both to serve HTTPS, or neither for plain HTTP only");
        }
        return Optional.of(new TlsConfig(tlsCert.toAbsolutePath().normalize(), tlsKey.toAbsolutePath().normalize()));
    }

    private Limits limits() {
        String rate = writeRate.strip();
        if (rate.endsWith("/s")) rate = rate.substring(0, rate.length() - 2);
        return new Limits(Double.parseDouble(rate), writeBurst, Units.parseSize(minUploadRate), Limits.DEFAULT_UPLOAD_RATE_WINDOW,
                Units.parseDuration(idleTimeout), Units.parseDuration(headerTimeout), Units.parseSize(maxVirtualSize), maxChainDepth);
    }
}
