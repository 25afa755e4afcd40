package io.strata.cli;

import io.strata.StrataServer;
import io.strata.config.ServerConfig;
import io.strata.config.Units;
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

    @Mixin StoreOptions storeOptions;

    @Option(names = "--redirect-layers", defaultValue = "${env:STRATA_REDIRECT_LAYERS:-false}",
            description = {"With an S3 store: answer plain full layer GETs (no Range, no If-* header) with 307 to a presigned URL "
                    + "valid for 5 minutes, so the bytes bypass the server (env STRATA_REDIRECT_LAYERS)."})
    boolean redirectLayers;

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

    private io.strata.config.StoreConfig store() {
        storeOptions.redirectLayers = redirectLayers;
        return storeOptions.config();
    }

    @Override
    public Integer call() throws Exception {
        ServerConfig config = new ServerConfig(data.dataDir.toAbsolutePath().normalize(), host, port,
                Units.parseSize(maxLayerSize), Units.parseSize(minFree), Units.parseDuration(uploadExpiry),
                allowEncrypted, Optional.ofNullable(staticDir), Optional.ofNullable(importDir), store());
        StrataServer server = StrataServer.start(config);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "strata-shutdown"));
        System.out.println("strata listening on " + server.baseUrl() + "  (data: " + config.dataDir() + ")");
        if (config.store().s3().isPresent()) System.out.println("  store:   " + server.services().layers().store().describe());
        System.out.println("  layers:  " + server.baseUrl() + "/layers/<sha256>.qcow2");
        System.out.println("  catalog: " + server.baseUrl() + "/   index: " + server.baseUrl() + "/index.json");
        System.out.println("  health:  " + server.baseUrl() + "/healthz");
        System.out.println("  push token: java -jar strata.jar token create --data " + config.dataDir() + " --scope push");
        stopped.await();
        return 0;
    }
}
