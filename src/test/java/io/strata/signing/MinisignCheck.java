package io.strata.signing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PublicKey;
import java.security.Signature;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Checks minisign files two ways: with the real {@code minisign -V} (the outside client the
 * design names), and by reading the formats here from minisign's description (apart from
 * {@link Minisign}'s reader), with the JDK's Ed25519, so a wrong field shows even where the tool is missing.
 */
final class MinisignCheck {
    private MinisignCheck() {}

    /** What a {@code .minisig} file holds. */
    record Parsed(byte[] keyId, byte[] signature, String trustedComment, byte[] globalSignature) {}

    static Parsed parse(String minisig) {
        List<String> lines = minisig.lines().toList();
        if (lines.size() != 4) throw new AssertionError("a .minisig has 4 lines, got " + lines.size() + ": " + minisig);
        if (!lines.get(0).startsWith("untrusted comment: ")) throw new AssertionError("line 1: " + lines.get(0));
        byte[] blob = Base64.getDecoder().decode(lines.get(1));
        if (blob.length != 74 || blob[0] != 'E' || blob[1] != 'd') throw new AssertionError("signature blob: " + blob.length + " bytes");
        if (!lines.get(2).startsWith("trusted comment: ")) throw new AssertionError("line 3: " + lines.get(2));
        return new Parsed(Arrays.copyOfRange(blob, 2, 10), Arrays.copyOfRange(blob, 10, 74),
                lines.get(2).substring("trusted comment: ".length()), Base64.getDecoder().decode(lines.get(3)));
    }

    /** The key id and raw public key of a minisign public key file. */
    static byte[][] parsePublicKey(String file) {
        List<String> lines = file.lines().toList();
        if (lines.size() != 2 || !lines.get(0).startsWith("untrusted comment: ")) throw new AssertionError("public key file: " + file);
        byte[] blob = Base64.getDecoder().decode(lines.get(1));
        if (blob.length != 42 || blob[0] != 'E' || blob[1] != 'd') throw new AssertionError("public key blob: " + blob.length + " bytes");
        return new byte[][] {Arrays.copyOfRange(blob, 2, 10), Arrays.copyOfRange(blob, 10, 42)};
    }

    /** True when both signatures hold and the key ids match, by the JDK. */
    static boolean verifies(String publicKeyFile, byte[] message, String minisig) throws Exception {
        byte[][] key = parsePublicKey(publicKeyFile);
        Parsed parsed = parse(minisig);
        if (!Arrays.equals(key[0], parsed.keyId())) return false;
        PublicKey publicKey = Minisign.ed25519(key[1]);
        Signature check = Signature.getInstance("Ed25519");
        check.initVerify(publicKey);
        check.update(message);
        if (!check.verify(parsed.signature())) return false;
        check.initVerify(publicKey);
        check.update(parsed.signature());
        check.update(parsed.trustedComment().getBytes(StandardCharsets.UTF_8));
        return check.verify(parsed.globalSignature());
    }

    /** Skips without minisign on a developer's machine; fails under CI=true, where it must be installed. */
    static void assumeMinisign() {
        boolean present;
        try {
            Process p = new ProcessBuilder("minisign", "-v").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            present = p.waitFor(10, TimeUnit.SECONDS);
        } catch (IOException | InterruptedException e) {
            present = false;
        }
        if (!present && "true".equals(System.getenv("CI"))) fail("minisign is not installed; CI=true, so the signature test may not be skipped");
        assumeTrue(present, "minisign is not installed (apt install minisign)");
    }

    /** {@code minisign -V -m FILE -x SIG -p PUB}: its exit status and what it printed. */
    static String[] minisignVerify(Path dir, byte[] message, String minisig, String publicKeyFile) throws Exception {
        Path file = Files.write(dir.resolve("document"), message);
        Path sig = Files.writeString(dir.resolve("document.minisig"), minisig);
        Path pub = Files.writeString(dir.resolve("strata.pub"), publicKeyFile);
        Process p = new ProcessBuilder("minisign", "-V", "-m", file.toString(), "-x", sig.toString(), "-p", pub.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS)) throw new AssertionError("minisign did not finish");
        return new String[] {String.valueOf(p.exitValue()), out};
    }
}
