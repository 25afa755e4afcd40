package io.strata.tls;

import java.nio.file.Path;
import java.time.Duration;

/**
 * HTTPS next to plain HTTP on the server's one port.
 *
 * @param certificateFile PEM certificate chain, server certificate first
 * @param keyFile         the server certificate's private key, unencrypted PKCS#8 PEM ({@code BEGIN PRIVATE KEY}), RSA or EC
 * @param checkEvery      how often the two files are re-read for a renewed certificate
 */
public record TlsConfig(Path certificateFile, Path keyFile, Duration checkEvery) {
    public static final Duration DEFAULT_CHECK_EVERY = Duration.ofSeconds(5);

    public TlsConfig(Path certificateFile, Path keyFile) {
        this(certificateFile, keyFile, DEFAULT_CHECK_EVERY);
    }
}
