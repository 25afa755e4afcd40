package io.strata.signing;

import java.nio.charset.StandardCharsets;
import java.util.Base64;

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
