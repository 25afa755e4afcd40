package io.strata.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.Assumptions;

/**
 * Self-signed server certificates made by the real {@code openssl} for a test, written as PEM
 * files the way an operator would have them: the certificate, and its key as unencrypted PKCS#8.
 * Each call makes a new key and a new random serial. The certificate names 127.0.0.1 and
 * localhost (IP and DNS subjectAltNames), so clients connecting either way accept it.
 */
public final class TestCertificates {
    /** The two files {@code serve --tls-cert --tls-key} takes. */
    public record Pair(Path certificate, Path key) {
        /** The certificate as the JDK reads it (e.g. to compare serials). */
        public X509Certificate x509() { return read(certificate); }

        /** A client context that trusts exactly this certificate. */
        public SSLContext trustingContext() { return TestCertificates.trusting(certificate); }
    }

    public enum KeyType {
        EC("ec", "ec_paramgen_curve:prime256v1"),
        RSA("rsa", "rsa_keygen_bits:2048");

        private final String algorithm;
        private final String option;

        KeyType(String algorithm, String option) {
            this.algorithm = algorithm;
            this.option = option;
        }
    }

    private TestCertificates() {}

    /**
     * Skips the calling test when openssl is not installed, except on CI ({@code CI=true}),
     * where the TLS tests must not silently turn into skips.
     */
    public static void assumeAvailable() {
        String path = System.getenv("PATH");
        if (path != null && List.of(path.split(File.pathSeparator)).stream()
                .anyMatch(directory -> Files.isExecutable(Path.of(directory, "openssl")))) {
            return;
        }
        String missing = "openssl not on PATH (apt-get install openssl)";
        if ("true".equals(System.getenv("CI"))) {
            fail(missing + "; CI=true, so the TLS tests may not be skipped");
        }
        Assumptions.abort(missing);
    }

    /** An EC P-256 certificate {@code dir/name.crt} with key {@code dir/name.key}. */
    public static Pair ec(Path dir, String name) { return generate(dir, name, KeyType.EC); }

    /** An RSA 2048 certificate {@code dir/name.crt} with key {@code dir/name.key}. */
    public static Pair rsa(Path dir, String name) { return generate(dir, name, KeyType.RSA); }

    /** {@code dir/name.crt} and {@code dir/name.key}, replacing files of those names. */
    public static Pair generate(Path dir, String name, KeyType type) {
        assumeAvailable();
        Path certificate = dir.resolve(name + ".crt");
        Path key = dir.resolve(name + ".key");
        QemuImg.runOrFail(List.of("openssl", "req", "-x509", "-newkey", type.algorithm, "-pkeyopt", type.option,
                "-nodes", "-keyout", key.toString(), "-out", certificate.toString(), "-days", "30",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"));
        return new Pair(certificate, key);
    }

    /** The key rewritten in the traditional PKCS#1 form ({@code BEGIN RSA PRIVATE KEY}) that Strata refuses. */
    public static Path pkcs1(Path rsaKey, Path out) {
        QemuImg.runOrFail(List.of("openssl", "rsa", "-traditional", "-in", rsaKey.toString(), "-out", out.toString()));
        return out;
    }

    public static X509Certificate read(Path certificate) {
        try (InputStream in = Files.newInputStream(certificate)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        } catch (Exception e) {
            throw new IllegalStateException("cannot read " + certificate, e);
        }
    }

    /** A client TLS context trusting only the given certificates. */
    public static SSLContext trusting(Path... certificates) {
        try {
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            List<Path> all = new ArrayList<>(List.of(certificates));
            for (int i = 0; i < all.size(); i++) trust.setCertificateEntry("trusted-" + i, read(all.get(i)));
            TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init(trust);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, factory.getTrustManagers(), null);
            return context;
        } catch (IOException | java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
