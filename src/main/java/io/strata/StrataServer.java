package io.strata;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.javalin.Javalin;
import io.javalin.compression.CompressionStrategy;
import io.javalin.json.JavalinJackson;
import io.strata.audit.AuditDao;
import io.strata.audit.AuditLog;
import io.strata.auth.TokenDao;
import io.strata.auth.TokenService;
import io.strata.catalog.CatalogService;
import io.strata.catalog.SampleImporter;
import io.strata.index.IndexService;
import io.javalin.http.staticfiles.Location;
import io.strata.config.ServerConfig;
import io.strata.db.Database;
import io.strata.gc.GarbageCollector;
import io.strata.http.Routes;
import io.strata.http.Services;
import io.strata.http.guard.Hardening;
import io.strata.jobs.JobDao;
import io.strata.jobs.JobQueue;
import io.strata.jobs.JobWorker;
import io.strata.layer.LayerDao;
import io.strata.layer.LayerService;
import io.strata.layer.LayerStore;
import io.strata.layer.Recovery;
import io.strata.lxd.LxdItemDao;
import io.strata.lxd.LxdService;
import io.strata.metrics.Metrics;
import io.strata.metrics.RequestTelemetry;
import io.strata.metrics.RouteTemplates;
import io.strata.signing.SigningKey;
import io.strata.signing.SigningKeyDao;
import io.strata.signing.SigningKeys;
import io.strata.store.LayerStores;
import io.strata.tls.HttpsEndpoint;
import io.strata.upload.CheckpointRows;
import io.strata.upload.UploadDao;
import io.strata.upload.UploadService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.time.Clock;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/** A running registry: storage opened and recovered, services wired, HTTP listening. */
public final class StrataServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StrataServer.class);
    /** How often a replica on a shared database asks whether another one changed the catalog. */
    static final java.time.Duration CATALOG_POLL = java.time.Duration.ofMillis(200);

    private final ServerConfig config;
    private final Services services;
    private final Javalin app;
    private final ScheduledExecutorService maintenance;
    private final DataDirLock lock;
    private final JobWorker worker;
    private final Optional<HttpsEndpoint> https;
    private final Metrics metrics;

    private StrataServer(ServerConfig config, Services services, Javalin app, ScheduledExecutorService maintenance, DataDirLock lock,
                         JobWorker worker, Optional<HttpsEndpoint> https, Metrics metrics) {
        this.config = config;
        this.services = services;
        this.app = app;
        this.maintenance = maintenance;
        this.lock = lock;
        this.worker = worker;
        this.https = https;
        this.metrics = metrics;
    }

    /** Opens (or creates) the data directory, recovers it after any crash, and starts listening. */
    public static StrataServer start(ServerConfig config) throws IOException {
        Files.createDirectories(config.dataDir());
        // With the metadata in PostgreSQL the data directory is a store that replicas share; the cluster locks coordinate them.
        DataDirLock lock = config.db().isShared() ? null : DataDirLock.acquire(config.dataDir());
        try {
            return start(config, lock);
        } catch (IOException | RuntimeException e) {
            if (lock != null) lock.close();
            throw e;
        }
    }

    private static StrataServer start(ServerConfig config, DataDirLock lock) throws IOException {
        // Unusable certificate files stop the start before the database is touched.
        Optional<HttpsEndpoint> https = config.tls().isPresent() ? Optional.of(HttpsEndpoint.load(config.tls().get())) : Optional.empty();
        Services services = openServices(config);
        try {
            recover(services, config);
        } catch (IOException | RuntimeException e) {
            services.database().close();
            throw e;
        }
        if (config.importDir().isPresent()) new SampleImporter(services.uploads(), services.catalog()).importFrom(config.importDir().get());

        Metrics metrics = new Metrics(services.database(), services.catalog());
        ObjectMapper json = new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);
        Javalin app = Javalin.create(javalin -> {
            javalin.startup.showJavalinBanner = false;
            javalin.startup.showOldJavalinVersionWarning = false;
            javalin.jetty.host = config.host();
            javalin.jetty.port = config.port();
            // Layers are incompressible and the index is gzipped once when rendered: never compress per request.
            javalin.http.compressionStrategy = CompressionStrategy.NONE;
            javalin.jsonMapper(new JavalinJackson(json, false));
            // The catalog page: built into the jar (served from memory by Routes), or a directory given with --static
            // (for working on the page: read from disk on every request).
            config.staticDir().ifPresent(dir -> javalin.staticFiles.add(dir.toAbsolutePath().toString(), Location.EXTERNAL));
            RouteTemplates routes = Routes.install(javalin, services, json, config.limits(), config.access(), privatePages(config),
                    config.staticDir().isEmpty(), metrics);
            https.ifPresent(endpoint -> endpoint.install(javalin.jetty, config.host(), config.port()));
            Hardening.install(javalin, config.limits());
            // Jetty's request log: the request meters and the access log see every request, the fast reads included.
            RequestTelemetry.install(javalin.jetty, metrics, routes, config.accessLog());
        });
        try {
            app.start();
        } catch (RuntimeException e) {
            metrics.close();
            throw e;
        }

        // Two threads: a long expiry run must not hold back the catalog poll of a replica.
        ScheduledExecutorService maintenance = Executors.newScheduledThreadPool(2, runnable -> {
            Thread thread = new Thread(runnable, "strata-maintenance");
            thread.setDaemon(true);
            return thread;
        });
        long period = Math.max(1, Math.min(60, config.uploadExpiry().toSeconds() / 4));
        maintenance.scheduleWithFixedDelay(() -> {
            try {
                if (!services.database().cluster().isLeader()) return;
                int expired = services.uploads().expire();
                if (expired > 0) LOG.info("removed {} abandoned upload(s)", expired);
            } catch (Exception e) {
                LOG.warn("upload expiry failed", e);
            }
        }, period, period, TimeUnit.SECONDS);
        if (services.database().isShared()) {
            // Another replica's publish is served here within CATALOG_POLL plus one reload.
            maintenance.scheduleWithFixedDelay(() -> {
                try {
                    if (services.catalog().refreshIfChanged()) services.layers().invalidateAll();
                } catch (Exception e) {
                    LOG.warn("could not check the catalog for changes made by other replicas: {}", e.getMessage());
                }
            }, CATALOG_POLL.toMillis(), CATALOG_POLL.toMillis(), TimeUnit.MILLISECONDS);
        }

        // Background jobs (LXD items). qemu-img reads chains over this server's own plain HTTP.
        JobWorker worker = new JobWorker(services.jobs(), config.lxd().lease());
        String loopback = config.host().equals("0.0.0.0") || config.host().equals("::") ? "127.0.0.1" : config.host();
        services.lxd().start("http://" + (loopback.contains(":") ? "[" + loopback + "]" : loopback) + ":" + app.port(), worker, config.access().privateMode());
        worker.start();
        maintenance.scheduleWithFixedDelay(() -> {
            try {
                services.lxd().reconcile();
            } catch (Exception e) {
                LOG.warn("LXD items: {}", e.toString());
            }
        }, 1, 1, TimeUnit.SECONDS);
        return new StrataServer(config, services, app, maintenance, lock, worker, https, metrics);
    }

    /**
     * Startup recovery (DESIGN §7). On a shared database it runs while no replica commits a layer,
     * so a file whose row another replica is about to write is not taken for a crash's leftover;
     * the upload area is left to expiry there, since its files may belong to other replicas' uploads.
     */
    private static void recover(Services services, ServerConfig config) throws IOException {
        Recovery.Report report;
        try {
            report = services.database().cluster().exclusive(() -> {
                if (services.database().isShared()) checkSharedStore(services, config);
                return new Recovery(services.layers(), services.database().dao(LayerDao.class), services.lxd().recordedBlobs()).run();
            });
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("startup recovery failed: " + e.getMessage(), e);
        }
        if (report.changedAnything()) services.catalog().changed();
        if (!services.database().isShared()) services.uploads().recover();
    }

    /**
     * Recovery drops rows whose file is missing; on a shared database those rows are every
     * replica's. A replica started on the wrong directory (an unmounted share, a typo) must not
     * take that for a crash and empty the catalog of all of them.
     */
    private static void checkSharedStore(Services services, ServerConfig config) throws IOException {
        java.util.Set<io.strata.layer.Digest> files;
        try (var listed = services.layers().store().list()) {
            files = listed.collect(java.util.stream.Collectors.toSet());
        }
        var rows = services.database().dao(LayerDao.class).all();
        long present = rows.stream().filter(r -> files.contains(r.digest())).count();
        if (!rows.isEmpty() && present * 2 < rows.size()) {
            throw new IOException("the layer store in " + config.dataDir() + " holds only " + present + " of the "
                    + rows.size() + " layers the database records; is --data the store the other replicas use? (nothing was changed)");
        }
    }

    /** The services without HTTP, for commands that work on a data directory directly (token, gc, verify). */
    public static Services openServices(ServerConfig config) throws IOException {
        Files.createDirectories(config.dataDir());
        // A named key file is read first: a wrong path stops the start before anything is opened.
        Optional<SigningKey> keyFile = config.signingKey().isPresent()
                ? Optional.of(SigningKeys.fromFile(config.signingKey().get())) : Optional.empty();
        Database database = Database.open(config.db(), config.dataDir());
        SigningKey signingKey;
        try {
            signingKey = keyFile.isPresent() ? keyFile.get() : SigningKeys.fromDatabase(database.dao(SigningKeyDao.class), Clock.systemUTC());
        } catch (IOException | RuntimeException e) {
            database.close();
            throw e;
        }
        LayerStore store = LayerStores.open(config.store(), config.dataDir(), database.jdbi());
        if (database.isShared() && store instanceof io.strata.layer.FsLayerStore fs) fs.shareWithOtherProcesses();
        LayerService layers = new LayerService(store, database.dao(LayerDao.class), config.allowEncryption(),
                config.limits().maxVirtualSize(), config.limits().maxChainDepth(), database.cluster(),
                database.isShared() ? java.util.Optional.of(database.dao(io.strata.layer.PinDao.class)) : java.util.Optional.empty());
        CatalogService catalog = new CatalogService(database, Clock.systemUTC());
        UploadService uploads = new UploadService(layers, database.dao(UploadDao.class), config.maxLayerBytes(),
                config.minFreeBytes(), config.uploadExpiry(), Clock.systemUTC(), config.access().maxOpenUploads(), catalog::publishedLayers,
                new CheckpointRows(database.checkpointSource()), database.isShared());
        TokenService tokens = new TokenService(database.dao(TokenDao.class), Clock.systemUTC());
        AuditLog audit = new AuditLog(database.dao(AuditDao.class), Clock.systemUTC());
        JobQueue jobs = new JobQueue(database.dao(JobDao.class), Clock.systemUTC());
        LxdService lxd = new LxdService(store, database.dao(LxdItemDao.class), jobs, catalog, config.lxd(), config.minFreeBytes(),
                Clock.systemUTC());
        GarbageCollector gc = new GarbageCollector(layers, database.dao(LayerDao.class), catalog, uploads, Clock.systemUTC(), lxd);
        return new Services(database, layers, uploads, tokens, catalog, new IndexService(catalog, signingKey), gc, audit, jobs, lxd);
    }

    /** The catalog page's HTML, which a private registry answers with 401 to a browser without a token (the page then asks for one). */
    private static java.util.Map<String, java.util.function.Supplier<byte[]>> privatePages(ServerConfig config) {
        java.util.function.Supplier<byte[]> page = () -> {
            try {
                if (config.staticDir().isPresent()) return Files.readAllBytes(config.staticDir().get().resolve("index.html"));
                try (var in = StrataServer.class.getResourceAsStream("/static/index.html")) {
                    return in == null ? "<!doctype html><title>Strata</title>".getBytes() : in.readAllBytes();
                }
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        };
        return java.util.Map.of("/", page, "/index.html", page);
    }

    public int port() { return app.port(); }

    public String baseUrl() {
        String host = config.host().contains(":") ? "[" + config.host() + "]" : config.host();
        return "http://" + (host.equals("0.0.0.0") ? "127.0.0.1" : host) + ":" + port();
    }

    /** The same port over TLS, when {@code --tls-cert} is given; {@link #baseUrl()} keeps answering plain HTTP. */
    public Optional<String> httpsUrl() {
        return https.map(endpoint -> "https" + baseUrl().substring("http".length()));
    }

    /** The HTTPS side (its certificate, a renewal check), when TLS is on. */
    public Optional<HttpsEndpoint> https() { return https; }

    public Services services() { return services; }

    public ServerConfig config() { return config; }

    @Override
    public void close() {
        maintenance.shutdownNow();
        worker.close();
        app.stop();
        metrics.close();
        services.database().close();
        if (lock == null) return;
        try {
            lock.close();
        } catch (IOException e) {
            LOG.warn("could not release {}", config.dataDir().resolve("strata.lock"), e);
        }
    }
}
