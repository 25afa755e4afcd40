package io.strata.signing;

import io.strata.config.ServerConfig;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.QemuImg;
import io.strata.testing.TestCertificates;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** DESIGN §12: every rendering of the index documents is signed at {@code <path>.minisig}, checked with the real minisign. */
class IndexSignatureTest {
    @TempDir Path dir;
    TestRegistry registry;

    @BeforeEach
    void start() throws IOException { registry = TestRegistry.start(dir.resolve("data")); }

    @AfterEach
    void stop() { if (registry != null) registry.close(); }

    byte[] get(String path) {
        HttpResponse<byte[]> response = registry.sendBytes(registry.request(path).GET().build());
        assertEquals(200, response.statusCode(), path);
        return response.body();
    }

    String text(String path) { return new String(get(path), StandardCharsets.UTF_8); }

    @ParameterizedTest
    @ValueSource(strings = {"/index.json", "/streams/v1/index.json", "/streams/v1/images.json"})
    void each_index_document_verifies_with_minisign_and_the_published_key(String path) throws Exception {
        MinisignCheck.assumeMinisign();
        byte[] document = get(path);
        String minisig = text(path + ".minisig");
        String key = text("/strata.pub");
        assertTrue(MinisignCheck.verifies(key, document, minisig), "the JDK's Ed25519 accepts it");
        String[] result = MinisignCheck.minisignVerify(dir, document, minisig, key);
        assertEquals("0", result[0], result[1]);
        assertTrue(result[1].contains("Signature and comment signature verified"), result[1]);
        assertTrue(result[1].contains("file:" + path.substring(1)), "the trusted comment names the document: " + result[1]);
    }

    @Test
    void a_changed_byte_or_another_documents_signature_fails() throws Exception {
        MinisignCheck.assumeMinisign();
        byte[] document = get("/index.json");
        String key = text("/strata.pub");
        byte[] tampered = document.clone();
        tampered[tampered.length / 2] ^= 1;
        String[] result = MinisignCheck.minisignVerify(dir, tampered, text("/index.json.minisig"), key);
        assertNotEquals("0", result[0], result[1]);
        assertFalse(MinisignCheck.verifies(key, tampered, text("/index.json.minisig")));
        // The signature of one document does not pass for another.
        assertFalse(MinisignCheck.verifies(key, get("/streams/v1/index.json"), text("/index.json.minisig")));
    }

    @Test
    void a_publish_makes_a_new_rendering_whose_signature_names_its_etag() throws Exception {
        QemuImg.assumeAvailable();
        String key = text("/strata.pub");
        byte[] before = get("/index.json");
        String signatureBefore = text("/index.json.minisig");

        LayerFactory layers = new LayerFactory(dir);
        Digest layer = layers.base();
        layers.uploadTo(registry, layer);
        String body = "{\"os\":\"debian\",\"release\":\"12\",\"arch\":\"amd64\",\"variant\":\"cloud\",\"version\":\"20261201_1000\",\"layer\":\""
                + layer.hex() + "\",\"aliases\":[\"debian/12\"]}";
        assertEquals(201, registry.send(registry.authed("/api/v1/images", registry.publishToken)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build()).statusCode());

        HttpResponse<byte[]> after = registry.sendBytes(registry.request("/index.json").GET().build());
        assertFalse(java.util.Arrays.equals(before, after.body()), "the index changed");
        String signature = text("/index.json.minisig");
        assertTrue(MinisignCheck.verifies(key, after.body(), signature));
        assertFalse(MinisignCheck.verifies(key, after.body(), signatureBefore), "the old signature does not cover the new index");
        String etag = after.headers().firstValue("ETag").orElseThrow();
        assertTrue(MinisignCheck.parse(signature).trustedComment().endsWith("\tetag:" + etag), MinisignCheck.parse(signature).trustedComment());
    }

    @Test
    void a_client_that_asked_for_gzip_checks_what_it_decoded() throws Exception {
        HttpResponse<byte[]> gzipped = registry.sendBytes(registry.request("/streams/v1/images.json").header("Accept-Encoding", "gzip").GET().build());
        assertEquals("gzip", gzipped.headers().firstValue("Content-Encoding").orElse(""));
        byte[] decoded = new GZIPInputStream(new ByteArrayInputStream(gzipped.body())).readAllBytes();
        assertTrue(MinisignCheck.verifies(text("/strata.pub"), decoded, text("/streams/v1/images.json.minisig")));
    }

    @Test
    void the_signature_and_key_revalidate_with_their_etags() {
        for (String path : new String[] {"/index.json.minisig", "/strata.pub"}) {
            HttpResponse<byte[]> first = registry.sendBytes(registry.request(path).GET().build());
            assertEquals("text/plain; charset=utf-8", first.headers().firstValue("Content-Type").orElse(""));
            String etag = first.headers().firstValue("ETag").orElseThrow();
            HttpResponse<byte[]> again = registry.sendBytes(registry.request(path).header("If-None-Match", etag).GET().build());
            assertEquals(304, again.statusCode(), path);
            HttpResponse<byte[]> head = registry.sendBytes(registry.request(path).method("HEAD", HttpRequest.BodyPublishers.noBody()).build());
            assertEquals(String.valueOf(first.body().length), head.headers().firstValue("Content-Length").orElse(""), path);
        }
    }

    @Test
    void the_key_is_kept_in_the_database_across_restarts() throws Exception {
        String key = text("/strata.pub");
        registry.restart();
        assertEquals(key, text("/strata.pub"));
        assertTrue(MinisignCheck.verifies(key, get("/index.json"), text("/index.json.minisig")));
        assertTrue(key.startsWith("untrusted comment: minisign public key "), key);
    }

    @Test
    void serve_signing_key_signs_with_an_openssl_made_key() throws Exception {
        TestCertificates.assumeAvailable(); // openssl
        Path pem = dir.resolve("index-signing.pem");
        Process p = new ProcessBuilder("openssl", "genpkey", "-algorithm", "ed25519", "-out", pem.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        String inDatabase = text("/strata.pub");
        registry.close();
        registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data")).withPort(0).withSigningKey(Optional.of(pem)));
        String key = text("/strata.pub");
        assertNotEquals(inDatabase, key, "the file's key, not the database's");
        assertEquals(Minisign.publicKeyFile(SigningKey.readPem(pem)), key);
        assertTrue(MinisignCheck.verifies(key, get("/index.json"), text("/index.json.minisig")));
    }

    @Test
    void an_unusable_signing_key_file_stops_the_start_with_what_to_do() throws Exception {
        registry.close();
        registry = null;
        Path notAKey = Files.writeString(dir.resolve("key.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        for (Path file : new Path[] {notAKey, dir.resolve("missing.pem")}) {
            IOException e = assertThrows(IOException.class,
                    () -> TestRegistry.start(ServerConfig.defaults(dir.resolve("data")).withPort(0).withSigningKey(Optional.of(file))));
            assertTrue(e.getMessage().contains("openssl genpkey -algorithm ed25519"), e.getMessage());
        }
    }

    @Test
    void the_reader_pull_uses_checks_what_the_real_minisign_signs() throws Exception {
        MinisignCheck.assumeMinisign();
        Path file = Files.writeString(dir.resolve("file"), "what minisign signs\n");
        run("minisign", "-G", "-W", "-p", dir.resolve("k.pub").toString(), "-s", dir.resolve("k.sec").toString());
        run("minisign", "-S", "-l", "-s", dir.resolve("k.sec").toString(), "-m", file.toString(), "-x", dir.resolve("legacy.minisig").toString(),
                "-t", "made by minisign");
        run("minisign", "-S", "-s", dir.resolve("k.sec").toString(), "-m", file.toString(), "-x", dir.resolve("hashed.minisig").toString());
        Minisign.PublicKeyFile key = Minisign.readPublicKey(Files.readString(dir.resolve("k.pub")));
        byte[] bytes = Files.readAllBytes(file);
        assertEquals("made by minisign", Minisign.verify(key, bytes, Files.readString(dir.resolve("legacy.minisig"))).trustedComment());
        Minisign.BadSignature hashed = assertThrows(Minisign.BadSignature.class,
                () -> Minisign.verify(key, bytes, Files.readString(dir.resolve("hashed.minisig"))));
        assertTrue(hashed.getMessage().contains("prehashed"), hashed.getMessage());
        Minisign.BadSignature changed = assertThrows(Minisign.BadSignature.class,
                () -> Minisign.verify(key, "what minisign signs!\n".getBytes(), Files.readString(dir.resolve("legacy.minisig"))));
        assertTrue(changed.getMessage().contains("does not match the document"), changed.getMessage());
        Minisign.BadSignature otherKey = assertThrows(Minisign.BadSignature.class,
                () -> Minisign.verify(Minisign.readPublicKey(Minisign.publicKeyFile(SigningKey.generate())), bytes,
                        Files.readString(dir.resolve("legacy.minisig"))));
        assertTrue(otherKey.getMessage().contains("not by the expected key"), otherKey.getMessage());
    }

    private static void run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", command) + ": " + out);
    }

    @Test
    void keys_round_trip_through_pkcs8_with_the_same_public_key() throws Exception {
        SigningKey key = SigningKey.generate();
        SigningKey again = SigningKey.fromPkcs8(key.pkcs8());
        assertArrayEquals(key.rawPublicKey(), again.rawPublicKey());
        assertEquals(key.keyIdHex(), again.keyIdHex());
        assertTrue(again.verify("x".getBytes(), key.sign("x".getBytes())));
        assertThrows(IllegalArgumentException.class, () -> Minisign.signature(key, new byte[0], "two\nlines"));
    }
}
