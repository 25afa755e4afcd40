package io.strata.client;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.strata.cli.Main;
import io.strata.layer.Digest;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real qcow2 layers with megabytes of data, a registry to publish them on, and the CLI run in-process. */
public final class ClientFixtures {
    public static final ObjectMapper JSON = new ObjectMapper();
    /** Short waits so that retry-heavy tests stay fast; the logic is the same as with the defaults. */
    public static final Backoff FAST = new Backoff(Duration.ofMillis(5), Duration.ofMillis(50));

    private ClientFixtures() {}

    /**
     * A layer holding {@code mib} MiB of seeded random data (incompressible, so sizes mean bytes on
     * the wire) at {@code offsetMib} of a 256 MiB disk, backed by {@code parent} under its canonical
     * name, stored as {@code dir/<sha256>.qcow2} so the local chain opens as it will from a cache.
     */
    public static Digest layer(Path dir, Digest parent, int mib, int offsetMib, long seed) {
        try {
            Path file = Files.createTempFile(dir, "new-", ".qcow2");
            Files.delete(file);
            if (parent == null) QemuImg.create(file, "256M");
            else QemuImg.createChild(file, Path.of(parent.fileName()));
            Path data = Files.createTempFile(dir, "data-", ".bin");
            byte[] noise = new byte[mib << 20];
            new Random(seed).nextBytes(noise);
            Files.write(data, noise);
            QemuImg.io(file, "write -s " + data + " " + ((long) offsetMib << 20) + " " + noise.length);
            Files.delete(data);
            Digest digest = sha256(file);
            Files.move(file, dir.resolve(digest.fileName()));
            return digest;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A publisher's layer at {@code file}: backed by {@code backing} exactly as named (a relative
     * name, resolved by qemu against the file's directory, or an absolute path), with {@code mib} MiB
     * of seeded random data at {@code offsetMib}. {@code options} go to qemu-img create (e.g. compat=0.10).
     */
    public static Path localLayer(Path file, Path backing, int mib, int offsetMib, long seed, String... options) {
        try {
            java.util.List<String> command = new java.util.ArrayList<>(List.of("qemu-img", "create", "-f", "qcow2"));
            command.addAll(List.of(options));
            if (backing != null) command.addAll(List.of("-b", backing.toString(), "-F", "qcow2"));
            command.add(file.toString());
            if (backing == null) command.add("256M");
            QemuImg.runOrFail(command);
            Path data = Files.createTempFile(file.getParent(), "data-", ".bin");
            byte[] noise = new byte[mib << 20];
            new Random(seed).nextBytes(noise);
            Files.write(data, noise);
            QemuImg.io(file, "write -s " + data + " " + ((long) offsetMib << 20) + " " + noise.length);
            Files.delete(data);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void upload(TestRegistry registry, Path dir, Digest... layers) {
        for (Digest layer : layers) {
            try {
                HttpResponse<String> response = registry.putLayer(layer, Files.readAllBytes(dir.resolve(layer.fileName())));
                assertTrue(response.statusCode() == 201 || response.statusCode() == 200, response.body());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** Publishes {@code top} as {@code product} ({@code os:release:arch:variant}) version {@code version}. */
    public static void publish(TestRegistry registry, String product, String version, Digest top, String... aliases) {
        String[] p = product.split(":");
        ObjectNode body = JSON.createObjectNode();
        body.put("os", p[0]).put("release", p[1]).put("arch", p[2]).put("variant", p[3]).put("version", version).put("layer", top.hex());
        body.putArray("aliases").addAll(List.of(aliases).stream().map(JSON.getNodeFactory()::textNode).toList());
        HttpResponse<String> response = registry.send(registry.authed("/api/v1/images", registry.publishToken)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString())).build());
        assertEquals(201, response.statusCode(), response.body());
    }

    public static long size(Path dir, Digest layer) {
        try {
            return Files.size(dir.resolve(layer.fileName()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Digest sha256(Path file) {
        try (DigestInputStream in = new DigestInputStream(Files.newInputStream(file), MessageDigest.getInstance("SHA-256"))) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
            return Digest.of(in.getMessageDigest().digest());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** What a command run in-process printed. */
    public record Run(int exitCode, String out, String err) {
        List<String> outLines() { return out.lines().toList(); }

        public String lastLine() {
            List<String> lines = outLines();
            return lines.isEmpty() ? "" : lines.get(lines.size() - 1);
        }
    }

    /** Runs {@code strata <args>} in this JVM, as {@code java -jar strata.jar} would. */
    public static Run strata(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = Main.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int exit = cli.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    /** A console that records what it was told, for assertions and for failure messages. */
    public static final class Recording {
        final StringWriter text = new StringWriter();
        public final Console console = new Console(new PrintWriter(text, true), false, false);

        @Override public String toString() { return text.toString(); }
    }
}
