package io.strata.tls;

import io.javalin.config.JettyConfig;
import org.eclipse.jetty.server.DetectorConnectionFactory;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.component.AbstractLifeCycle;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.Arrays;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * HTTPS and plain HTTP on one port. The connector looks at the first bytes of each connection: a
 * TLS handshake goes through the SslConnectionFactory, anything else straight to the same
 * HTTP/1.1 factory, so plain HTTP keeps Jetty's direct writes (memory-mapped layer slices to the
 * socket) and every Jetty handler, FastReads included, sees both kinds of request alike. LXD
 * needs both: it fetches image files over plain HTTP first, then over HTTPS.
 *
 * <p>The certificate and key files are re-read every {@link TlsConfig#checkEvery()}; a renewed,
 * consistent pair is swapped in for new connections without a restart, and anything else (a
 * half-written file, a key that does not match) is logged while the previous pair keeps serving.
 */
public final class HttpsEndpoint {
    private static final Logger LOG = LoggerFactory.getLogger(HttpsEndpoint.class);

    /** What one look at the files did. */
    public enum Check { UNCHANGED, RELOADED, REJECTED }

    private final TlsConfig config;
    private final SslContextFactory.Server ssl = new SslContextFactory.Server();
    private KeyMaterial serving;
    private byte[] servingCertificate;
    private byte[] servingKey;
    private String lastProblem;

    private HttpsEndpoint(TlsConfig config, KeyMaterial material, byte[] certificate, byte[] key) {
        this.config = config;
        this.serving = material;
        this.servingCertificate = certificate;
        this.servingKey = key;
        ssl.setKeyStore(material.keyStore());
        ssl.setKeyStorePassword(KeyMaterial.KEY_STORE_PASSWORD);
        ssl.setIncludeProtocols("TLSv1.3", "TLSv1.2");
        // Clients (LXD among them) connect by IP address and send no SNI name.
        ssl.setSniRequired(false);
    }

    /** Reads and checks the files; a pair that cannot serve fails here, before anything listens. */
    public static HttpsEndpoint load(TlsConfig config) throws TlsMaterialException {
        byte[] certificate = KeyMaterial.read(config.certificateFile(), "certificate");
        byte[] key = KeyMaterial.read(config.keyFile(), "key");
        KeyMaterial material = KeyMaterial.parse(config.certificateFile(), certificate, config.keyFile(), key);
        warnIfOutOfDate(material.certificate());
        return new HttpsEndpoint(config, material, certificate, key);
    }

    /**
     * Replaces Javalin's plain connector by the detecting one on {@code host:port}, and ties the
     * file watcher's life to the Jetty server's.
     */
    public void install(JettyConfig jetty, String host, int port) {
        jetty.addConnector((server, httpConfig) -> {
            SecureRequestCustomizer secure = new SecureRequestCustomizer();
            secure.setSniHostCheck(false);
            httpConfig.addCustomizer(secure);
            HttpConnectionFactory http = new HttpConnectionFactory(httpConfig);
            SslConnectionFactory tls = new SslConnectionFactory(ssl, http.getProtocol());
            ServerConnector connector = new ServerConnector(server, new DetectorConnectionFactory(tls), http);
            connector.setHost(host);
            connector.setPort(port);
            server.addBean(new Watcher());
            return connector;
        });
    }

    /** The certificate new handshakes present. */
    public synchronized X509Certificate certificate() { return serving.certificate(); }

    /**
     * Re-reads both files and, when they changed into a consistent pair, serves it from the next
     * handshake on. Run by the watcher; callable directly (tests).
     */
    public synchronized Check check() {
        byte[] certificate;
        byte[] key;
        KeyMaterial material;
        try {
            certificate = KeyMaterial.read(config.certificateFile(), "certificate");
            key = KeyMaterial.read(config.keyFile(), "key");
            if (Arrays.equals(certificate, servingCertificate) && Arrays.equals(key, servingKey)) {
                lastProblem = null;
                return Check.UNCHANGED;
            }
            material = KeyMaterial.parse(config.certificateFile(), certificate, config.keyFile(), key);
        } catch (TlsMaterialException e) {
            return rejected(e.getMessage());
        }
        try {
            ssl.reload(factory -> factory.setKeyStore(material.keyStore()));
        } catch (Exception e) {
            restore();
            return rejected("Jetty could not load the new pair: " + e);
        }
        serving = material;
        servingCertificate = certificate;
        servingKey = key;
        lastProblem = null;
        X509Certificate leaf = material.certificate();
        LOG.info("TLS certificate renewed: now serving {} serial {}, valid until {}", leaf.getSubjectX500Principal().getName(),
                leaf.getSerialNumber().toString(16), leaf.getNotAfter().toInstant());
        warnIfOutOfDate(leaf);
        return Check.RELOADED;
    }

    private Check rejected(String problem) {
        // Once per distinct problem, not every few seconds while a renewal is half done.
        if (!problem.equals(lastProblem)) {
            LOG.warn("TLS files changed but cannot be used ({}); still serving serial {}", problem,
                    serving.certificate().getSerialNumber().toString(16));
        }
        lastProblem = problem;
        return Check.REJECTED;
    }

    private void restore() {
        try {
            ssl.reload(factory -> factory.setKeyStore(serving.keyStore()));
        } catch (Exception e) {
            LOG.error("could not go back to the previous TLS certificate; HTTPS handshakes may fail until the files are fixed", e);
        }
    }

    private static void warnIfOutOfDate(X509Certificate leaf) {
        Instant now = Instant.now();
        if (now.isAfter(leaf.getNotAfter().toInstant()) || now.isBefore(leaf.getNotBefore().toInstant())) {
            LOG.warn("TLS certificate {} serial {} is not valid now (valid {} to {}); clients will refuse it",
                    leaf.getSubjectX500Principal().getName(), leaf.getSerialNumber().toString(16),
                    leaf.getNotBefore().toInstant(), leaf.getNotAfter().toInstant());
        }
    }

    /** Polls the files while the server runs. */
    private final class Watcher extends AbstractLifeCycle {
        private ScheduledExecutorService timer;

        @Override
        protected void doStart() {
            timer = Executors.newSingleThreadScheduledExecutor(runnable -> {
                Thread thread = new Thread(runnable, "strata-tls-watch");
                thread.setDaemon(true);
                return thread;
            });
            long every = Math.max(1, config.checkEvery().toMillis());
            timer.scheduleWithFixedDelay(() -> {
                try {
                    check();
                } catch (RuntimeException e) {
                    LOG.warn("checking the TLS files failed", e);
                }
            }, every, every, TimeUnit.MILLISECONDS);
        }

        @Override
        protected void doStop() {
            timer.shutdownNow();
        }
    }
}
