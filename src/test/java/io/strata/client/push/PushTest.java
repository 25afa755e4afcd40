package io.strata.client.push;

import io.strata.client.ClientFixtures;
import io.strata.client.Console;
import io.strata.layer.Digest;
import io.strata.layer.qcow2.Qcow2Info;
import io.strata.layer.qcow2.Qcow2Inspector;
import io.strata.testing.FaultyTcpProxy;
import io.strata.testing.FaultyTcpProxy.Direction;
import io.strata.testing.FaultyTcpProxy.Faults;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static io.strata.client.ClientFixtures.FAST;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code strata push}: a publisher's chain with local backing names becomes canonical layers
 * (DESIGN §1) without a byte of the publisher's files changing, uploads resume, and a push
 * followed by a pull gives the same disk.
 */
class PushTest {
    @TempDir static Path server;
    @TempDir Path dir;
    static TestRegistry registry;

    @BeforeAll
    static void start() throws IOException {
        QemuImg.assumeAvailable();
        registry = TestRegistry.start(server.resolve("data"));
    }

    @AfterAll
    static void stop() {
        if (registry != null) registry.close();
    }

    /** base.qcow2 ← mid.qcow2 (relative name "base.qcow2") ← top.qcow2 (absolute path of mid), as publishers make them. */
    List<Path> publisherChain(Path where, int mib, long seed, String... options) throws IOException {
        Files.createDirectories(where);
        Path base = ClientFixtures.localLayer(where.resolve("base.qcow2"), null, mib, 0, seed, options);
        Path mid = ClientFixtures.localLayer(where.resolve("mid.qcow2"), Path.of("base.qcow2"), mib, 64, seed + 1, options);
        Path top = ClientFixtures.localLayer(where.resolve("top.qcow2"), mid.toAbsolutePath(), mib, 128, seed + 2, options);
        return List.of(base, mid, top);
    }

    static Map<Path, String> fingerprints(List<Path> files) throws IOException {
        Map<Path, String> state = new LinkedHashMap<>();
        for (Path file : files) {
            state.put(file, ClientFixtures.sha256(file) + " " + Files.getLastModifiedTime(file).toMillis());
        }
        return state;
    }

    @ParameterizedTest(name = "qcow2 compat={0}")
    @ValueSource(strings = {"1.1", "0.10"})
    void canonical_layers_are_byte_for_byte_what_qemu_img_rebase_writes(String compat) throws Exception {
        List<Path> chain = publisherChain(dir.resolve("publisher"), 1, 31, "-o", "compat=" + compat);
        Map<Path, String> before = fingerprints(chain);

        List<LocalChain.LocalLayer> local = LocalChain.follow(chain.get(2));
        assertEquals(chain, local.stream().map(LocalChain.LocalLayer::file).toList(), "followed from the top, listed base first");
        List<CanonicalLayer> canonical = new ArrayList<>();
        Optional<Digest> parent = Optional.empty();
        for (LocalChain.LocalLayer layer : local) {
            CanonicalLayer made = CanonicalLayer.of(layer, parent, Console.silent().progress("hash", 0));
            canonical.add(made);
            parent = Optional.of(made.digest());
        }

        Path out = Files.createDirectories(dir.resolve("canonical"));
        for (CanonicalLayer layer : canonical) {
            Path file = out.resolve(layer.digest().fileName());
            try (InputStream in = layer.open(0, layer.size())) {
                Files.copy(in, file);
            }
            assertEquals(layer.digest(), ClientFixtures.sha256(file), "the id is the sha256 of the stream");
            QemuImg.check(file);
            Qcow2Info info = Qcow2Inspector.inspect(file, false);
            assertEquals(layer.parent(), info.parent(), "the registry's inspector reads the parent from the header");
            if (layer.parent().isEmpty()) {
                assertArrayEquals(Files.readAllBytes(layer.local().file()), Files.readAllBytes(file), "a base is uploaded as it is");
                continue;
            }
            Path rebased = Files.copy(layer.local().file(), dir.resolve("rebased-" + layer.digest().shortHex() + ".qcow2"));
            QemuImg.rebaseUnsafe(rebased, layer.parent().get().fileName());
            assertArrayEquals(Files.readAllBytes(rebased), Files.readAllBytes(file),
                    "'qemu-img rebase -u -F qcow2 -b " + layer.parent().get().fileName() + "' writes the same bytes");
            String json = QemuImg.info(file);
            assertTrue(json.contains("\"backing-filename\": \"" + layer.parent().get().fileName() + "\""), json);
            assertTrue(json.contains("\"backing-filename-format\": \"qcow2\""), json);
        }
        Path top = out.resolve(canonical.get(2).digest().fileName());
        String info = QemuImg.runOrFail(List.of("qemu-img", "info", "--backing-chain", "--output=json", top.toString()));
        for (CanonicalLayer layer : canonical) assertTrue(info.contains(out.resolve(layer.digest().fileName()).toString()), info);
        assertTrue(QemuImg.compare(top, chain.get(2)), "the canonical chain shows the publisher's disk");
        assertEquals(before, fingerprints(chain), "the publisher's files are untouched");
    }

    @Test
    void push_then_pull_gives_the_same_disk_leaves_the_publishers_files_alone_and_a_second_push_uploads_nothing()
            throws Exception {
        List<Path> chain = publisherChain(dir.resolve("publisher"), 2, 41);
        Map<Path, String> before = fingerprints(chain);
        String token = registry.adminToken;

        ClientFixtures.Run push = ClientFixtures.strata("push", chain.get(2).toString(), "--registry", registry.url("/"),
                "--token", token, "--product", "pushed:1:amd64:cloud", "--version", "20261122_1000", "--alias", "pushed/1",
                "--chunk-size", "1M");

        assertEquals(0, push.exitCode(), push.err());
        Digest fingerprint = new Digest(push.lastLine());
        assertTrue(push.err().contains("uploading 3 of 3 layers"), push.err());
        assertFalse(push.out().contains(token) || push.err().contains(token), "the token is never printed");
        assertEquals(before, fingerprints(chain), "pushing reads the publisher's files and nothing else");

        ClientFixtures.Run pull = ClientFixtures.strata("pull", "pushed/1", "--registry", registry.url("/"),
                "--cache", dir.resolve("cache").toString(), "--quiet");
        assertEquals(0, pull.exitCode(), pull.err());
        Path pulled = Path.of(pull.lastLine());
        assertEquals(fingerprint.fileName(), pulled.getFileName().toString());
        QemuImg.check(pulled);
        assertTrue(QemuImg.compare(pulled, chain.get(2)), "the pulled chain has the publisher's guest content");

        try (FaultyTcpProxy proxy = new FaultyTcpProxy(registry.uri("/"), 1, Faults.NONE)) {
            ClientFixtures.Run again = ClientFixtures.strata("push", chain.get(2).toString(), "--registry", proxy.url(),
                    "--token", token, "--product", "pushed:1:amd64:cloud", "--version", "20261122_1000", "--alias", "pushed/1");

            assertEquals(0, again.exitCode(), again.err());
            assertEquals(fingerprint.hex(), again.lastLine());
            assertTrue(again.err().contains("all 3 layers are already on"), again.err());
            assertTrue(again.err().contains("nothing to upload"), again.err());
            assertTrue(again.err().contains("already published"), again.err());
            assertTrue(proxy.bytesToServer() < 16 * 1024, "no layer bytes sent: " + proxy.bytesToServer());
        }
        assertEquals(before, fingerprints(chain));
    }

    @Test
    void an_upload_cut_again_and_again_resumes_from_the_registrys_offset() throws Exception {
        List<Path> chain = publisherChain(dir.resolve("publisher"), 3, 51);
        long total = 0;
        for (Path file : chain) total += Files.size(file);
        ClientFixtures.Recording log = new ClientFixtures.Recording();
        try (FaultyTcpProxy proxy = new FaultyTcpProxy(registry.uri("/"), 20261122L,
                new Faults(0.9, 0, 0.1, 1536 * 1024, Direction.UPLOAD))) {
            Pusher.Result result = new Pusher(log.console).push(Pusher.Options.of(chain.get(2), proxy.url(), registry.adminToken,
                    "resumed:1:amd64:cloud", "20261122_1000", List.of("resumed/1")).withChunkBytes(1 << 20).withBackoff(FAST)
                    .withMaxAttempts(10));

            assertEquals(3, result.uploaded());
            assertTrue(proxy.cuts() >= 2, "connections were cut: " + proxy.cuts() + "\n" + log);
            // The registry keeps what arrived before a cut; the offset it reports right after a cut can lag
            // (it is still finishing the cut request), which costs a resend of a little. At a cut every ~0.7 MiB:
            assertTrue(proxy.bytesToServer() < total * 1.5, proxy.bytesToServer() + " bytes sent for " + total + "\n" + log);
            for (CanonicalLayer layer : result.layers()) {
                int status = registry.send(registry.request("/layers/" + layer.digest().fileName())
                        .method("HEAD", HttpRequest.BodyPublishers.noBody()).build()).statusCode();
                assertEquals(200, status, layer.digest().toString());
            }
            System.out.printf("push through faulty proxy: %d cuts, %d 503s; %d bytes sent for %d (%.2fx)%n", proxy.cuts(),
                    proxy.errors(), proxy.bytesToServer(), total, proxy.bytesToServer() / (double) total);
        }
        ClientFixtures.Run pull = ClientFixtures.strata("pull", "resumed/1", "--registry", registry.url("/"),
                "--cache", dir.resolve("cache").toString(), "--quiet");
        assertEquals(0, pull.exitCode(), pull.err());
        assertTrue(QemuImg.compare(Path.of(pull.lastLine()), chain.get(2)));
    }

    @Test
    void push_says_what_to_fix_before_uploading_anything() throws Exception {
        Path where = Files.createDirectories(dir.resolve("bad"));
        Path raw = where.resolve("disk.raw");
        QemuImg.runOrFail(List.of("qemu-img", "create", "-f", "raw", raw.toString(), "64M"));
        Path onRaw = where.resolve("on-raw.qcow2");
        QemuImg.runOrFail(List.of("qemu-img", "create", "-f", "qcow2", "-b", raw.toString(), "-F", "raw", onRaw.toString()));
        Path orphan = where.resolve("orphan.qcow2");
        QemuImg.runOrFail(List.of("qemu-img", "create", "-f", "qcow2", "-b", "gone.qcow2", "-F", "qcow2", "-u", orphan.toString(), "64M"));
        Path good = ClientFixtures.localLayer(where.resolve("good.qcow2"), null, 1, 0, 61);
        String url = registry.url("/");
        List<Path> sessions = registry.uploadFiles();

        assertFails(List.of(onRaw.toString(), "--product", "x:1:amd64:cloud", "--version", "20261122_1000"), "in format raw",
                "convert the backing image with 'qemu-img convert -O qcow2'");
        assertFails(List.of(orphan.toString(), "--product", "x:1:amd64:cloud", "--version", "20261122_1000"),
                "names backing file " + where.resolve("gone.qcow2") + ", which does not exist", "qemu-img rebase -u");
        assertFails(List.of(good.toString(), "--product", "x:1:amd64", "--version", "20261122_1000"),
                "--product must be os:release:arch:variant");
        assertFails(List.of(good.toString(), "--product", "x:1:x86_64:cloud", "--version", "20261122_1000"),
                "--product: unknown architecture 'x86_64'");
        assertFails(List.of(good.toString(), "--product", "x:1:amd64:cloud", "--version", "2026-11-22"),
                "--version: the version serial must be a real date and time as YYYYMMDD_HHMM");
        ClientFixtures.Run noToken = ClientFixtures.strata("push", good.toString(), "--registry", url, "--product", "x:1:amd64:cloud",
                "--version", "20261122_1000");
        if (System.getenv("STRATA_TOKEN") == null) {
            assertEquals(2, noToken.exitCode());
            assertTrue(noToken.err().contains("set STRATA_TOKEN (or pass --token)"), noToken.err());
        }
        ClientFixtures.Run wrongToken = ClientFixtures.strata("push", good.toString(), "--registry", url, "--token", "not-a-real-token-1234",
                "--product", "x:1:amd64:cloud", "--version", "20261122_1000");
        assertEquals(2, wrongToken.exitCode());
        assertTrue(wrongToken.err().contains("401 UNAUTHORIZED"), wrongToken.err());
        assertFalse(wrongToken.err().contains("not-a-real-token-1234"), wrongToken.err());
        assertEquals(sessions, registry.uploadFiles(), "no upload was started");
    }

    void assertFails(List<String> args, String... fragments) {
        List<String> command = new ArrayList<>(List.of("push"));
        command.addAll(args);
        command.addAll(List.of("--registry", registry.url("/"), "--token", registry.adminToken));
        ClientFixtures.Run run = ClientFixtures.strata(command.toArray(String[]::new));
        assertEquals(2, run.exitCode(), run.err());
        for (String fragment : fragments) assertTrue(run.err().contains(fragment), run.err());
    }
}
