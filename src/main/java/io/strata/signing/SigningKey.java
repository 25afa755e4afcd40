package io.strata.signing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.interfaces.EdECPrivateKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Arrays;

import io.strata.tls.Pem;

/**
 * The registry's Ed25519 key (DESIGN §12), from the JDK's own EdDSA: no native library, no
 * third-party crypto. The key id that minisign shows and matches is the first 8 bytes of the
 * SHA-256 of the public key, so it follows from the key and needs no storage of its own.
 */
public final class SigningKey {
    private static final String ALGORITHM = "Ed25519";
    /** Unencrypted PKCS#8, as {@code openssl genpkey} writes it. */
    private static final String PEM_LABEL = "PRIVATE KEY";

    private final PrivateKey privateKey;
    private final PublicKey publicKey;
    private final byte[] rawPublicKey;
    private final byte[] keyId;

    private SigningKey(PrivateKey privateKey) throws GeneralSecurityException {
        this.privateKey = privateKey;
        this.publicKey = derivePublic(privateKey);
        byte[] x509 = publicKey.getEncoded();
        this.rawPublicKey = Arrays.copyOfRange(x509, x509.length - 32, x509.length);
        this.keyId = Arrays.copyOf(MessageDigest.getInstance("SHA-256").digest(rawPublicKey), 8);
        // The derivation below leans on how the JDK generates a key pair; prove it gave this key's pair.
        byte[] probe = "strata signing key check".getBytes(StandardCharsets.US_ASCII);
        if (!verify(probe, sign(probe))) throw new GeneralSecurityException("could not derive the public key of the Ed25519 key");
    }

    public static SigningKey generate() {
        try {
            return new SigningKey(KeyPairGenerator.getInstance(ALGORITHM).generateKeyPair().getPrivate());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JDK cannot make Ed25519 keys", e);
        }
    }

    /** A PKCS#8 encoding of an Ed25519 private key (what {@link #pkcs8} gives, or {@code openssl genpkey -algorithm ed25519 -outform DER}). */
    public static SigningKey fromPkcs8(byte[] der) throws GeneralSecurityException {
        PrivateKey key = KeyFactory.getInstance(ALGORITHM).generatePrivate(new PKCS8EncodedKeySpec(der));
        return new SigningKey(key);
    }

    /**
     * Reads a PEM file holding an Ed25519 private key in PKCS#8 ({@code -----BEGIN PRIVATE KEY-----}),
     * as {@code openssl genpkey -algorithm ed25519} writes it.
     */
    public static SigningKey readPem(Path file) throws IOException {
        String fix = "; make one with: openssl genpkey -algorithm ed25519 -out " + file;
        String text;
        try {
            text = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (NoSuchFileException e) {
            throw new IOException("signing key " + file + " does not exist" + fix);
        }
        Pem.Block block;
        try {
            block = Pem.parse(text).stream().filter(b -> b.label().equals(PEM_LABEL)).findFirst().orElse(null);
        } catch (IllegalArgumentException e) {
            throw new IOException("signing key " + file + " is not a PEM private key (" + e.getMessage() + ")" + fix);
        }
        if (block == null) throw new IOException("signing key " + file + " is not a PEM private key (-----BEGIN " + PEM_LABEL + "-----)" + fix);
        try {
            return fromPkcs8(block.der());
        } catch (GeneralSecurityException e) {
            throw new IOException("signing key " + file + " is not an Ed25519 private key (" + e.getMessage() + ")" + fix);
        }
    }

    /** The private key in PKCS#8, for keeping it. */
    public byte[] pkcs8() { return privateKey.getEncoded(); }

    /** The 32-byte Ed25519 public key. */
    public byte[] rawPublicKey() { return rawPublicKey.clone(); }

    /** The 8-byte key id, in the order minisign stores it. */
    public byte[] keyId() { return keyId.clone(); }

    /** The key id as minisign prints it: the 8 bytes read as a little-endian number, in upper-case hex. */
    public String keyIdHex() { return Minisign.keyIdHex(keyId); }

    public byte[] sign(byte[] message) {
        try {
            Signature signature = Signature.getInstance(ALGORITHM);
            signature.initSign(privateKey);
            signature.update(message);
            return signature.sign();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("Ed25519 signing failed", e);
        }
    }

    public boolean verify(byte[] message, byte[] signatureBytes) {
        try {
            Signature signature = Signature.getInstance(ALGORITHM);
            signature.initVerify(publicKey);
            signature.update(message);
            return signature.verify(signatureBytes);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    /**
     * The JDK has no call that turns an EdDSA private key into its public key, but its key pair
     * generator makes the private key from 32 bytes of its random source (RFC 8032 §5.1.5): fed the
     * key's own bytes, it gives back the same private key and the matching public key. The
     * constructor checks the result by signing and verifying.
     */
    private static PublicKey derivePublic(PrivateKey key) throws GeneralSecurityException {
        if (!(key instanceof EdECPrivateKey ed) || ed.getBytes().isEmpty()) {
            throw new GeneralSecurityException("not an Ed25519 private key");
        }
        byte[] seed = ed.getBytes().get();
        KeyPairGenerator generator = KeyPairGenerator.getInstance(ALGORITHM);
        generator.initialize(java.security.spec.NamedParameterSpec.ED25519, new FixedBytes(seed));
        KeyPair pair = generator.generateKeyPair();
        Arrays.fill(seed, (byte) 0);
        return pair.getPublic();
    }

    /** A "random" source that hands out one given byte string. */
    private static final class FixedBytes extends SecureRandom {
        private final byte[] bytes;

        FixedBytes(byte[] bytes) {
            super(new byte[0]);
            this.bytes = bytes.clone();
        }

        @Override
        public void nextBytes(byte[] out) {
            if (out.length != bytes.length) throw new IllegalStateException("expected a request for " + bytes.length + " bytes");
            System.arraycopy(bytes, 0, out, 0, out.length);
        }
    }
}
