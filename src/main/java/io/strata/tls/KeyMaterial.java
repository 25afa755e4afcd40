package io.strata.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.List;

/**
 * A certificate chain and its private key, read from PEM files with the JDK alone and checked to
 * belong together, so a server never starts (or reloads) with a pair it cannot complete a
 * handshake with.
 *
 * @param chain the server certificate first, then any intermediates, as in the file
 * @param key   the server certificate's private key
 */
public record KeyMaterial(List<X509Certificate> chain, PrivateKey key) {
    /** Only ever used inside this process, to hand the pair to Jetty through a KeyStore. */
    static final String KEY_STORE_PASSWORD = "strata";
    static final String ALIAS = "strata";

    private static final String PKCS8_FIX = "openssl pkcs8 -topk8 -nocrypt -in %s -out key.pk8.pem";

    public KeyMaterial {
        chain = List.copyOf(chain);
    }

    public X509Certificate certificate() { return chain.get(0); }

    /** Reads and checks both files. */
    public static KeyMaterial load(Path certificateFile, Path keyFile) throws TlsMaterialException {
        return parse(certificateFile, read(certificateFile, "certificate"), keyFile, read(keyFile, "key"));
    }

    static byte[] read(Path file, String what) throws TlsMaterialException {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new TlsMaterialException("TLS " + what + " file " + file + " does not exist");
        } catch (IOException e) {
            throw new TlsMaterialException("cannot read TLS " + what + " file " + file + ": " + e.getMessage());
        }
    }

    /** Parses the contents of the two files; the paths only name them in messages. */
    static KeyMaterial parse(Path certificateFile, byte[] certificateText, Path keyFile, byte[] keyText) throws TlsMaterialException {
        List<X509Certificate> chain = certificates(certificateFile, certificateText);
        PrivateKey key = privateKey(keyFile, keyText);
        X509Certificate leaf = chain.get(0);
        if (!belongTogether(leaf.getPublicKey(), key)) {
            throw new TlsMaterialException("TLS key file " + keyFile + " does not belong to the certificate in " + certificateFile
                    + " (" + leaf.getSubjectX500Principal().getName() + ", serial " + leaf.getSerialNumber().toString(16)
                    + "): their public keys differ; give the key the certificate was issued for");
        }
        return new KeyMaterial(chain, key);
    }

    /** A fresh in-memory KeyStore holding the pair under {@link #ALIAS}, for Jetty's SslContextFactory. */
    KeyStore keyStore() {
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            store.setKeyEntry(ALIAS, key, KEY_STORE_PASSWORD.toCharArray(), chain.toArray(new Certificate[0]));
            return store;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("the JDK could not build an in-memory PKCS12 key store", e);
        }
    }

    private static List<X509Certificate> certificates(Path file, byte[] text) throws TlsMaterialException {
        List<Pem.Block> blocks = blocks(file, text, "certificate");
        List<X509Certificate> chain = new ArrayList<>();
        try {
            CertificateFactory factory = CertificateFactory.getInstance("X.509");
            for (Pem.Block block : blocks) {
                if (!block.label().equals("CERTIFICATE")) continue;
                chain.add((X509Certificate) factory.generateCertificate(new ByteArrayInputStream(block.der())));
            }
        } catch (CertificateException e) {
            throw new TlsMaterialException("TLS certificate file " + file + " holds a certificate that cannot be read: " + e.getMessage());
        }
        if (chain.isEmpty()) {
            throw new TlsMaterialException("TLS certificate file " + file
                    + " holds no PEM certificate (a '-----BEGIN CERTIFICATE-----' block)");
        }
        return chain;
    }

    private static PrivateKey privateKey(Path file, byte[] text) throws TlsMaterialException {
        Pem.Block key = null;
        for (Pem.Block block : blocks(file, text, "key")) {
            if (block.label().endsWith("PRIVATE KEY")) {
                key = block;
                break;
            }
        }
        if (key == null) {
            throw new TlsMaterialException("TLS key file " + file + " holds no PEM private key (a '-----BEGIN PRIVATE KEY-----' block)");
        }
        if (!key.label().equals("PRIVATE KEY") || key.headers()) {
            String kind = switch (key.label()) {
                case "RSA PRIVATE KEY" -> key.headers() ? "an encrypted PKCS#1 RSA key" : "a PKCS#1 RSA key";
                case "EC PRIVATE KEY" -> key.headers() ? "an encrypted SEC1 EC key" : "a SEC1 EC key";
                case "ENCRYPTED PRIVATE KEY" -> "an encrypted PKCS#8 key";
                default -> "a key in another format";
            };
            throw new TlsMaterialException("TLS key file " + file + " is " + kind + " ('BEGIN " + key.label()
                    + "'); Strata reads unencrypted PKCS#8 keys ('BEGIN PRIVATE KEY'): convert it with "
                    + String.format(PKCS8_FIX, file));
        }
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(key.der());
        for (String algorithm : List.of("RSA", "EC")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(spec);
            } catch (InvalidKeySpecException e) {
                // not this algorithm; try the next
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("the JDK has no " + algorithm + " key factory", e);
            }
        }
        throw new TlsMaterialException("TLS key file " + file + " holds a PKCS#8 key that is neither RSA nor EC"
                + " (or is damaged); Strata serves RSA and EC keys");
    }

    private static List<Pem.Block> blocks(Path file, byte[] text, String what) throws TlsMaterialException {
        try {
            return Pem.parse(new String(text, StandardCharsets.US_ASCII));
        } catch (IllegalArgumentException e) {
            throw new TlsMaterialException("TLS " + what + " file " + file + " is not valid PEM: " + e.getMessage());
        }
    }

    /**
     * Whether the private key is the certificate's: a signature made with it must verify with the
     * certificate's public key. The JDK cannot derive an EC public key from its private key, so
     * this one check covers RSA and EC alike.
     */
    private static boolean belongTogether(PublicKey publicKey, PrivateKey privateKey) {
        if (!publicKey.getAlgorithm().equals(privateKey.getAlgorithm())) return false;
        String algorithm = privateKey.getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
        byte[] probe = "strata key check".getBytes(StandardCharsets.US_ASCII);
        try {
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(privateKey);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(publicKey);
            verifier.update(probe);
            return verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }
}
