package io.strata.tls;

import io.strata.StrataServer;
import io.strata.cli.Main;
import io.strata.config.ServerConfig;
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
import picocli.CommandLine;

import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code serve --tls-cert --tls-key} (DESIGN §9) with real certificates from openssl and real JDK clients. */
class HttpsTest {
    @TempDir Path dir;
    TestRegistry registry;

    @BeforeEach
    void openssl_is_needed() {
        TestCertificates.assumeAvailable();
    }

    @AfterEach
    void stop() {
        if (registry != null) registry.close();
    }

    private TestRegistry start(TestCertificates.Pair pair, Duration checkEvery) throws IOException {
        registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data"))
                .withTls(Optional.of(new TlsConfig(pair.certificate(), pair.key(), checkEvery))));
        return registry;
    }

    private String https(String path) { return registry.server().httpsUrl().orElseThrow() + path; }

    private static HttpClient client(TestCertificates.Pair trusted, String protocol) {
        SSLParameters parameters = new SSLParameters();
        parameters.setProtocols(new String[]{protocol});
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).sslContext(trusted.trustingContext())
                .sslParameters(parameters).connectTimeout(Duration.ofSeconds(5)).build();
    }

    private static HttpResponse<byte[]> get(HttpClient client, String url, String... headers) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30));
        if (headers.length > 0) request.headers(headers);
        return client.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    @ParameterizedTest
    @ValueSource(strings = {"TLSv1.3", "TLSv1.2"})
    void tls_1_3_and_1_2_handshakes_succeed_and_serve_the_index(String protocol) throws Exception {
        TestCertificates.Pair pair = TestCertificates.ec(dir, "server");
        start(pair, TlsConfig.DEFAULT_CHECK_EVERY);

        HttpResponse<byte[]> response = get(client(pair, protocol), https("/index.json"));

        assertEquals(200, response.statusCode());
        assertEquals(protocol, response.sslSession().orElseThrow().getProtocol());
        assertArrayEquals(registry.sendBytes(registry.request("/index.json").build()).body(), response.body());
    }

    @ParameterizedTest
    @ValueSource(strings = {"TLSv1.3", "TLSv1.2"})
    void an_rsa_key_works_as_well_as_an_ec_key(String protocol) throws Exception {
        TestCertificates.Pair pair = TestCertificates.rsa(dir, "server");
        start(pair, TlsConfig.DEFAULT_CHECK_EVERY);

        HttpResponse<byte[]> response = get(client(pair, protocol), https("/healthz"));

        assertEquals(200, response.statusCode(), new String(response.body(), StandardCharsets.UTF_8));
        assertEquals(protocol, response.sslSession().orElseThrow().getProtocol());
        assertEquals("RSA", ((X509Certificate) response.sslSession().orElseThrow().getPeerCertificates()[0]).getPublicKey().getAlgorithm());
    }

    /** openssl is the client here because the JDK's own client will not even offer TLS 1.1 or 1.0. */
    @ParameterizedTest
    @ValueSource(strings = {"-tls1_3", "-tls1_2", "-tls1_1", "-tls1"})
    void tls_1_1_and_older_are_refused(String version) throws Exception {
        start(TestCertificates.ec(dir, "server"), TlsConfig.DEFAULT_CHECK_EVERY);

        QemuImg.Result handshake = QemuImg.run(List.of("openssl", "s_client", "-connect", "127.0.0.1:" + registry.server().port(),
                version, "-cipher", "DEFAULT:@SECLEVEL=0", "-brief"));

        boolean modern = version.equals("-tls1_3") || version.equals("-tls1_2");
        String output = handshake.stdout() + handshake.stderr();
        assertEquals(modern, handshake.exitCode() == 0, output);
        assertEquals(modern, output.contains("CONNECTION ESTABLISHED"), output);
        // Refused by the server (its protocol_version alert), not given up on by the client.
        assertEquals(!modern, output.contains("alert protocol version"), output);
    }

    @Test
    void plain_http_on_the_same_port_serves_the_same_bytes_as_https() throws Exception {
        TestCertificates.Pair pair = TestCertificates.ec(dir, "server");
        start(pair, TlsConfig.DEFAULT_CHECK_EVERY);
        byte[] layer = LayerFactory.randomLayer(dir, 3 << 20, 42);
        assertEquals(201, registry.putLayer(layer).statusCode());
        String path = "/layers/" + TestRegistry.sha256(layer).hex() + ".qcow2";
        HttpClient secure = client(pair, "TLSv1.3");
        String plainUrl = registry.server().baseUrl();
        assertTrue(plainUrl.startsWith("http://127.0.0.1:" + registry.server().port()), plainUrl);
        assertEquals("https://127.0.0.1:" + registry.server().port(), registry.server().httpsUrl().orElseThrow());

        for (String each : List.of("/index.json", "/streams/v1/index.json", "/streams/v1/images.json")) {
            HttpResponse<byte[]> plain = registry.sendBytes(registry.request(each).build());
            HttpResponse<byte[]> overTls = get(secure, https(each));
            assertEquals(200, plain.statusCode(), each);
            assertEquals(200, overTls.statusCode(), each);
            assertArrayEquals(plain.body(), overTls.body(), each);
        }
        HttpResponse<byte[]> plainRange = registry.sendBytes(registry.request(path).header("Range", "bytes=1000-1099999").build());
        HttpResponse<byte[]> tlsRange = get(secure, https(path), "Range", "bytes=1000-1099999");
        assertEquals(206, plainRange.statusCode());
        assertEquals(206, tlsRange.statusCode());
        assertArrayEquals(Arrays.copyOfRange(layer, 1000, 1100000), plainRange.body());
        assertArrayEquals(plainRange.body(), tlsRange.body());
        assertArrayEquals(layer, get(secure, https(path)).body());
        assertArrayEquals(layer, registry.sendBytes(registry.request(path).build()).body());
    }

    @Test
    void a_renewed_certificate_is_served_without_a_restart() throws Exception {
        TestCertificates.Pair live = TestCertificates.ec(dir, "live");
        start(live, Duration.ofMillis(200));
        BigInteger before = presentedSerial();
        assertEquals(live.x509().getSerialNumber(), before);

        // A renewal tool writing the files in place, one after the other (key first, then certificate).
        TestCertificates.Pair renewed = TestCertificates.ec(dir, "renewed");
        Files.copy(renewed.key(), live.key(), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(renewed.certificate(), live.certificate(), StandardCopyOption.REPLACE_EXISTING);

        BigInteger expected = renewed.x509().getSerialNumber();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!presentedSerial().equals(expected) && System.nanoTime() < deadline) Thread.sleep(100);
        assertEquals(expected, presentedSerial());
        assertNotEquals(before, expected);
        HttpResponse<byte[]> response = get(client(renewed, "TLSv1.3"), https("/healthz"));
        assertEquals(200, response.statusCode());
    }

    @Test
    void a_broken_replacement_is_rejected_and_the_old_certificate_keeps_serving() throws Exception {
        TestCertificates.Pair live = TestCertificates.ec(dir, "live");
        // Checked only when the test says so, so no scheduled check can come first.
        start(live, Duration.ofHours(1));
        HttpsEndpoint endpoint = registry.server().https().orElseThrow();
        BigInteger old = live.x509().getSerialNumber();
        byte[] goodCertificate = Files.readAllBytes(live.certificate());
        TestCertificates.Pair other = TestCertificates.ec(dir, "other");

        // Half-written certificate.
        Files.write(live.certificate(), Arrays.copyOf(goodCertificate, goodCertificate.length / 2));
        assertEquals(HttpsEndpoint.Check.REJECTED, endpoint.check());
        assertEquals(old, presentedSerial());
        // The other certificate next to the old key.
        Files.copy(other.certificate(), live.certificate(), StandardCopyOption.REPLACE_EXISTING);
        assertEquals(HttpsEndpoint.Check.REJECTED, endpoint.check());
        assertEquals(old, presentedSerial());
        assertEquals(old, endpoint.certificate().getSerialNumber());
        // Its key arrives: now the pair is whole.
        Files.copy(other.key(), live.key(), StandardCopyOption.REPLACE_EXISTING);
        assertEquals(HttpsEndpoint.Check.RELOADED, endpoint.check());
        assertEquals(other.x509().getSerialNumber(), presentedSerial());
        assertEquals(HttpsEndpoint.Check.UNCHANGED, endpoint.check());
    }

    @Test
    void a_key_that_is_not_the_certificates_is_refused_at_startup() throws Exception {
        TestCertificates.Pair one = TestCertificates.ec(dir, "one");
        TestCertificates.Pair two = TestCertificates.ec(dir, "two");
        ServerConfig config = ServerConfig.defaults(dir.resolve("data")).withPort(0)
                .withTls(Optional.of(new TlsConfig(one.certificate(), two.key())));

        TlsMaterialException refused = assertThrows(TlsMaterialException.class, () -> StrataServer.start(config).close());

        assertTrue(refused.getMessage().contains("does not belong to the certificate in " + one.certificate()), refused.getMessage());
        assertFalse(refused.getMessage().contains("\n"), refused.getMessage());
        // Nothing was left holding the data directory: the right pair starts on it.
        start(one, TlsConfig.DEFAULT_CHECK_EVERY);
        assertEquals(200, get(client(one, "TLSv1.3"), https("/healthz")).statusCode());
    }

    @Test
    void an_rsa_certificate_with_an_ec_key_is_refused_at_startup() throws Exception {
        TestCertificates.Pair rsa = TestCertificates.rsa(dir, "rsa");
        TestCertificates.Pair ec = TestCertificates.ec(dir, "ec");

        TlsMaterialException refused = assertThrows(TlsMaterialException.class, () -> KeyMaterial.load(rsa.certificate(), ec.key()));

        assertTrue(refused.getMessage().contains("does not belong"), refused.getMessage());
    }

    /** Keys as openssl writes them in its other formats, each refused with the command that converts it. */
    @ParameterizedTest
    @ValueSource(strings = {"pkcs1-rsa", "sec1-ec", "encrypted-pkcs8"})
    void a_key_in_another_format_is_refused_with_the_openssl_fix(String format) throws Exception {
        Path key = dir.resolve(format + ".pem");
        TestCertificates.Pair pair;
        switch (format) {
            case "pkcs1-rsa" -> {
                pair = TestCertificates.rsa(dir, "server");
                TestCertificates.pkcs1(pair.key(), key);
            }
            case "sec1-ec" -> {
                pair = TestCertificates.ec(dir, "server");
                QemuImg.runOrFail(List.of("openssl", "ec", "-in", pair.key().toString(), "-out", key.toString()));
            }
            default -> {
                pair = TestCertificates.ec(dir, "server");
                QemuImg.runOrFail(List.of("openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", "pass:secret",
                        "-in", pair.key().toString(), "-out", key.toString()));
            }
        }

        Run run = strata("serve", "--data", dir.resolve("data").toString(), "--port", "0",
                "--tls-cert", pair.certificate().toString(), "--tls-key", key.toString());

        assertEquals(2, run.exit(), run.err());
        assertEquals(1, run.err().strip().lines().count(), run.err());
        assertTrue(run.err().contains("openssl pkcs8 -topk8 -nocrypt -in " + key + " -out key.pk8.pem"), run.err());
    }

    @Test
    void the_suggested_openssl_command_makes_a_key_that_serves() throws Exception {
        TestCertificates.Pair pair = TestCertificates.rsa(dir, "server");
        Path pkcs1 = TestCertificates.pkcs1(pair.key(), dir.resolve("pkcs1.pem"));
        assertTrue(Files.readString(pkcs1).contains("BEGIN RSA PRIVATE KEY"));

        QemuImg.runOrFail(List.of("openssl", "pkcs8", "-topk8", "-nocrypt", "-in", pkcs1.toString(),
                "-out", dir.resolve("key.pk8.pem").toString()));

        start(new TestCertificates.Pair(pair.certificate(), dir.resolve("key.pk8.pem")), TlsConfig.DEFAULT_CHECK_EVERY);
        assertEquals(200, get(client(pair, "TLSv1.2"), https("/healthz")).statusCode());
    }

    @ParameterizedTest
    @ValueSource(strings = {"--tls-cert", "--tls-key"})
    void only_one_of_tls_cert_and_tls_key_is_an_error(String option) throws Exception {
        TestCertificates.Pair pair = TestCertificates.ec(dir, "server");
        Path file = option.equals("--tls-cert") ? pair.certificate() : pair.key();

        Run run = strata("serve", "--data", dir.resolve("data").toString(), "--port", "0", option, file.toString());

        assertEquals(2, run.exit(), run.err());
        assertTrue(run.err().contains("--tls-cert and --tls-key go together"), run.err());
    }

    @Test
    void a_certificate_file_without_a_certificate_is_refused_at_startup() throws Exception {
        TestCertificates.Pair pair = TestCertificates.ec(dir, "server");

        TlsMaterialException refused = assertThrows(TlsMaterialException.class, () -> KeyMaterial.load(pair.key(), pair.key()));

        assertTrue(refused.getMessage().contains("holds no PEM certificate"), refused.getMessage());
    }

    @Test
    void one_file_holding_certificate_and_key_serves_as_both() throws Exception {
        TestCertificates.Pair pair = TestCertificates.ec(dir, "server");
        Path combined = dir.resolve("combined.pem");
        Files.writeString(combined, Files.readString(pair.key()) + Files.readString(pair.certificate()));

        start(new TestCertificates.Pair(combined, combined), TlsConfig.DEFAULT_CHECK_EVERY);

        assertEquals(200, get(client(pair, "TLSv1.3"), https("/healthz")).statusCode());
    }

    /** Clients reaching the server through another name (a proxy, DNS the certificate does not list) are not turned away. */
    @Test
    void a_client_sending_an_sni_name_the_certificate_does_not_have_is_still_served() throws Exception {
        start(TestCertificates.ec(dir, "server"), TlsConfig.DEFAULT_CHECK_EVERY);

        try (SSLSocket socket = (SSLSocket) trustAll().getSocketFactory().createSocket("127.0.0.1", registry.server().port())) {
            SSLParameters parameters = socket.getSSLParameters();
            parameters.setServerNames(List.of(new SNIHostName("registry.example")));
            socket.setSSLParameters(parameters);
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write("GET /healthz HTTP/1.1\r\nHost: registry.example\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            assertTrue(answer.startsWith("HTTP/1.1 200 "), answer);
        }
    }

    private static SSLContext trustAll() throws Exception {
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, new TrustManager[]{new X509TrustManager() {
            @Override public void checkClientTrusted(X509Certificate[] chain, String authType) {}
            @Override public void checkServerTrusted(X509Certificate[] chain, String authType) {}
            @Override public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
        }}, null);
        return context;
    }

    /** The serial of the certificate a fresh handshake is shown (whatever it is: trust is not the point here). */
    private BigInteger presentedSerial() throws Exception {
        try (SSLSocket socket = (SSLSocket) trustAll().getSocketFactory().createSocket("127.0.0.1", registry.server().port())) {
            socket.setSoTimeout(10_000);
            socket.startHandshake();
            return ((X509Certificate) socket.getSession().getPeerCertificates()[0]).getSerialNumber();
        } catch (SSLHandshakeException e) {
            throw new AssertionError("handshake failed", e);
        }
    }

    record Run(int exit, String out, String err) {}

    private static Run strata(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = Main.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        return new Run(cli.execute(args), out.toString(), err.toString());
    }
}
