package io.strata.cli;

import io.strata.DataDirLock;
import io.strata.client.Console;
import io.strata.client.Human;
import io.strata.client.Progress;
import io.strata.config.DbConfig;
import io.strata.db.Database;
import io.strata.layer.Digest;
import io.strata.layer.FsLayerStore;
import io.strata.layer.LayerStore;
import io.strata.config.StoreConfig;
import io.strata.migrate.Migration;
import io.strata.store.LayerStores;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/** {@code strata migrate}: an embedded registry (SQLite + data directory) to PostgreSQL and a shared store. */
@Command(name = "migrate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Move an embedded registry to the scale-out backends: every layer copied once into the target store "
                + "and checked against its sha256, then every metadata row (layers, images, aliases and their history, tokens, "
                + "the audit log, LXD items and their jobs, the catalog's last change) upserted into PostgreSQL.",
                "Stop the server first. Resumable: run it again after an interruption and it skips what is done; "
                        + "a run with nothing left to do changes nothing. Upload sessions in progress are not moved.",
                "Example: strata migrate --from-data ./data --to-db 'jdbc:postgresql://db:5432/strata?user=strata' --to-store /srv/strata"})
final class MigrateCommand implements Callable<Integer> {
    @Option(names = "--from-data", paramLabel = "DIR", required = true,
            description = "The embedded registry's data directory (strata.db, layers/).")
    Path from;

    @Option(names = "--to-db", paramLabel = "JDBC_URL", required = true,
            description = "The PostgreSQL database, e.g. jdbc:postgresql://db:5432/strata?user=strata; password from STRATA_DB_PASSWORD or PGPASSWORD.")
    String toDb;

    @Option(names = "--to-store", paramLabel = "STORE", required = true,
            description = "Where the layers go: a directory the replicas share (their --data), or s3://BUCKET/PREFIX (their --store).")
    String toStore;

    @Option(names = "--s3-endpoint", paramLabel = "URL", defaultValue = "${env:STRATA_S3_ENDPOINT}",
            description = "With --to-store s3://...: an S3-compatible endpoint, as for serve (env STRATA_S3_ENDPOINT; default: AWS).")
    String s3Endpoint;

    @Option(names = "--s3-region", paramLabel = "REGION", defaultValue = "${env:STRATA_S3_REGION}",
            description = "With --to-store s3://...: the signing region (env STRATA_S3_REGION; default: AWS_REGION, else us-east-1).")
    String s3Region;

    @Option(names = "--s3-virtual-host", defaultValue = "${env:STRATA_S3_VIRTUAL_HOST:-false}",
            description = "With --to-store s3://...: address the bucket as BUCKET.endpoint.")
    boolean s3VirtualHost;

    @Option(names = {"-q", "--quiet"}, description = "No progress display.")
    boolean quiet;

    @Override
    public Integer call() throws Exception {
        DbConfig db = DbConfig.parse(toDb, System.getenv());
        if (!db.isShared()) throw new IllegalArgumentException("--to-db must name a PostgreSQL database");
        Path source = from.toAbsolutePath().normalize();
        if (!Files.isRegularFile(source.resolve("strata.db"))) {
            throw new IllegalArgumentException("no strata.db in " + source + ": --from-data is the data directory of an embedded registry");
        }
        boolean toS3 = toStore.startsWith("s3://");
        StoreConfig storeConfig = toS3 ? StoreConfig.parse(toStore, s3Endpoint, s3Region, s3VirtualHost, false) : StoreConfig.filesystem();
        // An object store needs a local directory for scratch files only.
        Path storeDir = toS3 ? Files.createTempDirectory("strata-migrate") : Path.of(toStore).toAbsolutePath().normalize();
        if (storeDir.equals(source)) throw new IllegalArgumentException("--to-store must be another directory than --from-data");
        Console console = Console.on(System.err, quiet);
        // The lock also proves no server is writing the source while it is copied.
        try (DataDirLock lock = DataDirLock.acquire(source);
             Database sourceDb = Database.open(source.resolve("strata.db"));
             Database targetDb = Database.open(db, storeDir)) {
            FsLayerStore sourceStore = new FsLayerStore(source);
            LayerStore targetStore = LayerStores.open(storeConfig, Files.createDirectories(storeDir), targetDb.jdbi());
            console.info("migrating " + source + " to " + db.describe() + " and " + targetStore.describe());
            Progress[] progress = new Progress[1];
            Migration.Report report;
            try {
                report = new Migration(sourceDb, sourceStore, targetDb, targetStore, new Migration.Listener() {
                    @Override public void starting(long layers, long bytes) { progress[0] = console.progress("copying", bytes); }
                    @Override public void bytesCopied(long bytes) { progress[0].advance(bytes); }
                    @Override public void layerDone(Digest digest, long size, boolean copied) { if (!copied) progress[0].skip(size); }
                }).run();
            } finally {
                if (progress[0] != null) progress[0].close();
            }
            System.err.printf("layers: %d (%d copied and verified, %s; %d already there)%n", report.layers(), report.layersCopied(),
                    Human.bytes(report.bytesCopied()), report.layers() - report.layersCopied());
            System.err.println("rows: " + report.rows().entrySet().stream().map(e -> e.getKey() + " " + e.getValue())
                    .collect(Collectors.joining(", ")) + " (" + report.totalChanged() + " new or changed)");
            System.err.println(report.layersCopied() == 0 && report.totalChanged() == 0 ? "nothing to do: the target already has everything"
                    : "done; serve it with: strata serve " + (toS3 ? "--store " + toStore : "--data " + storeDir) + " --db '" + db.describe() + "'");
        }
        return 0;
    }

}
