package io.strata.signing;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.EdECPoint;
import java.security.spec.EdECPublicKeySpec;
import java.security.spec.NamedParameterSpec;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;

/**
 * minisign's file formats (https://jedisct1.github.io/minisign/), so that {@code minisign -V}
 * checks what the registry serves with no tool of ours.
 *
 * <p>Signatures are minisign's original ("legacy", algorithm {@code Ed}) kind: Ed25519 over the
 * document itself. minisign 0.11 verifies them by default (only {@code -H} demands the prehashed
 * kind, which hashes with BLAKE2b, an algorithm the JDK does not have). The trusted comment is
 * signed too (the second, "global" signature covers the first signature and the comment), so what
 * it says about the document (its name, ETag and when it was signed) is as trustworthy as the
 * document.
 */
public final class Minisign {
    private static final byte[] ALGORITHM = {'E', 'd'};

    private Minisign() {}

    /** The public key file: {@code minisign -p FILE} reads it. */
    public static String publicKeyFile(SigningKey key) {
        byte[] blob = concat(ALGORITHM, key.keyId(), key.rawPublicKey());
        return "untrusted comment: minisign public key " + key.keyIdHex() + "\n" + Base64.getEncoder().encodeToString(blob) + "\n";
    }

    /**
     * The {@code .minisig} file for {@code message}. {@code trustedComment} is one line (a line
     * break would end the comment early and leave the rest unsigned, so it is refused).
     */
    public static String signature(SigningKey key, byte[] message, String trustedComment) {
        if (trustedComment.indexOf('\n') >= 0 || trustedComment.indexOf('\r') >= 0) {
            throw new IllegalArgumentException("a trusted comment is one line");
        }
        byte[] signature = key.sign(message);
        byte[] comment = trustedComment.getBytes(StandardCharsets.UTF_8);
        byte[] global = key.sign(concat(signature, comment));
        Base64.Encoder base64 = Base64.getEncoder();
        return "untrusted comment: signature from strata secret key " + key.keyIdHex() + "\n"
                + base64.encodeToString(concat(ALGORITHM, key.keyId(), signature)) + "\n"
                + "trusted comment: " + trustedComment + "\n"
                + base64.encodeToString(global) + "\n";
    }

    /** A public key file, read: the key id (as minisign prints it) and the key. */
    public record PublicKeyFile(String keyIdHex, byte[] keyId, PublicKey key) {}

    /** What a verified signature says: whose key made it and its trusted comment. */
    public record Verified(String keyIdHex, String trustedComment) {}

    /** Thrown when a file is not what it should be, or a signature does not hold; the message says which. */
    public static final class BadSignature extends Exception {
        BadSignature(String message) { super(message); }
    }

    /** Reads a minisign public key file ({@code /strata.pub}, {@code minisign -G}'s {@code .pub}), or its second line alone. */
    public static PublicKeyFile readPublicKey(String text) throws BadSignature {
        List<String> lines = text.strip().lines().map(String::strip).filter(line -> !line.isEmpty()).toList();
        if (lines.isEmpty() || lines.size() > 2) throw new BadSignature("not a minisign public key (expected 1 or 2 lines)");
        if (lines.size() == 2 && !lines.get(0).startsWith("untrusted comment:")) throw new BadSignature("not a minisign public key file");
        byte[] blob = decode(lines.get(lines.size() - 1), "public key");
        if (blob.length != 42 || blob[0] != 'E' || blob[1] != 'd') throw new BadSignature("not an Ed25519 minisign public key");
        byte[] keyId = Arrays.copyOfRange(blob, 2, 10);
        try {
            return new PublicKeyFile(keyIdHex(keyId), keyId, ed25519(Arrays.copyOfRange(blob, 10, 42)));
        } catch (GeneralSecurityException e) {
            throw new BadSignature("the public key is not a valid Ed25519 key");
        }
    }

    /**
     * Checks a {@code .minisig} of {@code message} against {@code key}: the key ids, the signature
     * of the message and the global signature over it and the trusted comment.
     */
    public static Verified verify(PublicKeyFile key, byte[] message, String minisig) throws BadSignature {
        List<String> lines = minisig.lines().toList();
        if (lines.size() != 4 || !lines.get(0).startsWith("untrusted comment:") || !lines.get(2).startsWith("trusted comment: ")) {
            throw new BadSignature("not a minisign signature file");
        }
        byte[] blob = decode(lines.get(1), "signature");
        if (blob.length != 74 || blob[0] != 'E' || blob[1] != 'd') {
            throw new BadSignature(blob.length == 74 && blob[0] == 'E' && blob[1] == 'D'
                    ? "a prehashed (ED) signature, which this client does not check" : "not an Ed25519 minisign signature");
        }
        byte[] keyId = Arrays.copyOfRange(blob, 2, 10);
        if (!Arrays.equals(keyId, key.keyId())) {
            throw new BadSignature("signed by key " + keyIdHex(keyId) + ", not by the expected key " + key.keyIdHex());
        }
        byte[] signature = Arrays.copyOfRange(blob, 10, 74);
        String comment = lines.get(2).substring("trusted comment: ".length());
        byte[] global = decode(lines.get(3), "comment signature");
        try {
            Signature check = Signature.getInstance("Ed25519");
            check.initVerify(key.key());
            check.update(message);
            if (!check.verify(signature)) throw new BadSignature("the signature does not match the document");
            check.initVerify(key.key());
            check.update(signature);
            check.update(comment.getBytes(StandardCharsets.UTF_8));
            if (!check.verify(global)) throw new BadSignature("the trusted comment's signature does not match");
        } catch (GeneralSecurityException e) {
            throw new BadSignature("the signature could not be checked: " + e.getMessage());
        }
        return new Verified(key.keyIdHex(), comment);
    }

    static String keyIdHex(byte[] keyId) {
        byte[] reversed = new byte[keyId.length];
        for (int i = 0; i < keyId.length; i++) reversed[i] = keyId[keyId.length - 1 - i];
        return HexFormat.of().withUpperCase().formatHex(reversed);
    }

    /** An Ed25519 public key from its 32 bytes (RFC 8032 §5.1.3: y little-endian, x's parity in the top bit). */
    static PublicKey ed25519(byte[] raw) throws GeneralSecurityException {
        byte[] y = raw.clone();
        boolean xOdd = (y[31] & 0x80) != 0;
        y[31] &= 0x7f;
        for (int i = 0; i < 16; i++) {
            byte t = y[i];
            y[i] = y[31 - i];
            y[31 - i] = t;
        }
        return KeyFactory.getInstance("Ed25519").generatePublic(new EdECPublicKeySpec(NamedParameterSpec.ED25519,
                new EdECPoint(xOdd, new BigInteger(1, y))));
    }

    private static byte[] decode(String base64, String what) throws BadSignature {
        try {
            return Base64.getDecoder().decode(base64.strip());
        } catch (IllegalArgumentException e) {
            throw new BadSignature("the " + what + " is not base64");
        }
    }

    private static byte[] concat(byte[]... parts) {
        int length = 0;
        for (byte[] part : parts) length += part.length;
        byte[] out = new byte[length];
        int at = 0;
        for (byte[] part : parts) {
            System.arraycopy(part, 0, out, at, part.length);
            at += part.length;
        }
        return out;
    }
}
