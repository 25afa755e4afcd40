package io.strata.client.pull;

import io.strata.client.ClientException;
import io.strata.client.ClientFixtures;
import io.strata.client.cache.CacheLayout;
import io.strata.layer.Digest;
import io.strata.signing.Minisign;
import io.strata.signing.SigningKey;
import io.strata.testing.FaultProxy;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.Optional;

import static io.strata.client.ClientFixtures.FAST;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code strata pull} checks the index's signature (DESIGN §12): the registry's key is pinned on the
 * first pull (or given with --key), and an index it did not sign is refused, before anything is
 * downloaded or cached.
 */
class PullSignatureTest {
    @TempDir Path dir;
    TestRegistry registry;
    Digest layer;
    Digest second;

    @BeforeEach
    void publish() throws IOException {
        QemuImg.assumeAvailable();
        registry = TestRegistry.start(dir.resolve("data"));
        layer = ClientFixtures.layer(dir, null, 2, 0, 1);
        second = ClientFixtures.layer(dir, null, 1, 0, 2);
        ClientFixtures.upload(registry, dir, layer, second);
        ClientFixtures.publish(registry, "test:1:amd64:cloud", "20261201_1000", layer, "test/1");
    }

    @AfterEach
    void stop() { if (registry != null) registry.close(); }

    Puller.Options options(String url) {
        return Puller.Options.defaults(dir.resolve("cache"), url, "test/1").withBackoff(FAST).withIdleTimeout(Duration.ofSeconds(2));
    }

    CacheLayout cache() { return new CacheLayout(dir.resolve("cache")); }

    String publishedKey() { return registry.send(registry.request("/strata.pub").GET().build()).body(); }

    static String keyLine(String file) { return file.strip().lines().reduce((a, b) -> b).orElseThrow(); }

    @Test
    void the_first_pull_pins_the_registrys_key_and_later_pulls_check_against_it() throws Exception {
        ClientFixtures.Recording log = new ClientFixtures.Recording();
        new Puller(log.console).pull(options(registry.url("/")));
        Path pin = cache().key(registry.url("/"));
        assertEquals(keyLine(publishedKey()), keyLine(Files.readString(pin)), "the registry's key is pinned");
        assertTrue(log.toString().contains("pinned the signing key " + Minisign.readPublicKey(publishedKey()).keyIdHex()), log.toString());

        ClientFixtures.Recording again = new ClientFixtures.Recording();
        new Puller(again.console).pull(options(registry.url("/")));
        assertFalse(again.toString().contains("pinned"), "pinned once: " + again);
    }

    @Test
    void an_index_changed_on_the_way_is_refused_and_not_kept() throws Exception {
        try (FaultProxy proxy = FaultProxy.start(registry.url(""))) {
            String real = registry.send(registry.request("/index.json").GET().build()).body();
            // Same catalog, the alias pointed elsewhere: what a tampering mirror would do.
            proxy.substituteIndex(real.replace("\"test/1\"", "\"test/evil\"").replace("\"updated\"", "\"updated_\""));
            ClientFixtures.Recording log = new ClientFixtures.Recording();
            ClientException e = assertThrows(ClientException.class,
                    () -> new Puller(log.console).pull(options(proxy.baseUrl() + "/").withMaxAttempts(2)));
            assertTrue(e.getMessage().contains("is not signed by the key its strata.pub serves"), e.getMessage());
            assertTrue(Files.notExists(cache().index(proxy.baseUrl() + "/")), "the refused index is not cached");
            assertTrue(Files.notExists(cache().layer(layer)), "nothing was downloaded");
            assertTrue(Files.notExists(cache().key(proxy.baseUrl() + "/")), "a key that signs nothing served is not pinned");
            // With the key pinned by a pull that checked out, the same tampering is refused against the pin.
            proxy.substituteIndex(null);
            new Puller(new ClientFixtures.Recording().console).pull(options(proxy.baseUrl() + "/"));
            ClientFixtures.publish(registry, "test:1:amd64:other", "20261201_1100", second, "test/other");
            String newer = registry.send(registry.request("/index.json").GET().build()).body();
            proxy.substituteIndex(newer.replace("\"test/1\"", "\"test/evil\""));
            ClientException pinned = assertThrows(ClientException.class,
                    () -> new Puller(new ClientFixtures.Recording().console).pull(options(proxy.baseUrl() + "/").withMaxAttempts(2)));
            assertTrue(pinned.getMessage().contains("is not signed by the key pinned in") && pinned.getMessage().contains("first use"),
                    pinned.getMessage());

        }
    }

    @Test
    void a_missing_signature_is_refused_once_a_key_is_pinned() throws Exception {
        try (FaultProxy proxy = FaultProxy.start(registry.url(""))) {
            new Puller(new ClientFixtures.Recording().console).pull(options(proxy.baseUrl() + "/"));
            // A new rendering, so the next pull fetches the index again instead of a 304.
            ClientFixtures.publish(registry, "test:1:amd64:other", "20261201_1100", second, "test/other");
            proxy.failOnce("/index.json.minisig", 404);
            ClientException e = assertThrows(ClientException.class,
                    () -> new Puller(new ClientFixtures.Recording().console).pull(options(proxy.baseUrl() + "/")));
            assertTrue(e.getMessage().contains("has no signature"), e.getMessage());
        }
    }

    @Test
    void an_index_signed_by_another_key_than_the_pinned_one_is_refused_until_given_with_key() throws Exception {
        // The key pinned on an earlier pull from this URL is not the one the registry signs with now
        // (its operator changed keys, or someone else answered then or answers now).
        SigningKey earlier = SigningKey.generate();
        Path pin = cache().key(registry.url("/"));
        Files.createDirectories(pin.getParent());
        Files.writeString(pin, Minisign.publicKeyFile(earlier));
        String current = Minisign.readPublicKey(publishedKey()).keyIdHex();

        ClientException e = assertThrows(ClientException.class,
                () -> new Puller(new ClientFixtures.Recording().console).pull(options(registry.url("/"))));
        assertTrue(e.getMessage().contains("signed by key " + current + ", not by the expected key " + earlier.keyIdHex())
                && e.getMessage().contains("--key") && e.getMessage().contains(pin.toString()), e.getMessage());

        new Puller(new ClientFixtures.Recording().console).pull(options(registry.url("/")).withKey(Optional.of(keyLine(publishedKey()))));
        assertEquals(keyLine(publishedKey()), keyLine(Files.readString(pin)), "--key replaces the pinned key");
        // A new rendering (the same bytes would be a 304, and the copy checked before is reused), checked with the new pin.
        ClientFixtures.publish(registry, "test:1:amd64:other", "20261201_1200", second, "test/other");
        new Puller(new ClientFixtures.Recording().console).pull(options(registry.url("/")));
    }

    @Test
    void a_registry_without_a_key_is_pulled_from_with_a_warning_and_nothing_pinned() throws Exception {
        try (FaultProxy proxy = FaultProxy.start(registry.url(""))) {
            proxy.failOnce("/strata.pub", 404); // as a registry from before signatures answers
            ClientFixtures.Recording log = new ClientFixtures.Recording();
            new Puller(log.console).pull(options(proxy.baseUrl() + "/"));
            assertTrue(log.toString().contains("publishes no signing key (strata.pub), so its index is not verified"), log.toString());
            assertTrue(Files.notExists(cache().key(proxy.baseUrl() + "/")));
        }
    }

    @Test
    void a_wrong_key_given_later_is_checked_against_the_cached_index_too() throws Exception {
        new Puller(new ClientFixtures.Recording().console).pull(options(registry.url("/")));
        String pinned = Files.readString(cache().key(registry.url("/")));
        String wrong = Minisign.publicKeyFile(SigningKey.generate());
        // The index has not changed, but the copy in the cache was checked with another key than this one.
        ClientException e = assertThrows(ClientException.class,
                () -> new Puller(new ClientFixtures.Recording().console).pull(options(registry.url("/")).withKey(Optional.of(wrong))));
        assertTrue(e.getMessage().contains("the key given with --key"), e.getMessage());
        assertEquals(keyLine(pinned), keyLine(Files.readString(cache().key(registry.url("/")))), "a refused key is not pinned");
    }

    @Test
    void a_wrong_key_given_on_the_first_pull_is_refused() {
        String wrong = Minisign.publicKeyFile(SigningKey.generate());
        ClientException e = assertThrows(ClientException.class,
                () -> new Puller(new ClientFixtures.Recording().console).pull(options(registry.url("/")).withKey(Optional.of(wrong))));
        assertTrue(e.getMessage().contains("the key given with --key"), e.getMessage());
        ClientException notAKey = assertThrows(ClientException.class,
                () -> new Puller(new ClientFixtures.Recording().console).pull(options(registry.url("/")).withKey(Optional.of("hello"))));
        assertTrue(notAKey.getMessage().contains("is not a minisign public key"), notAKey.getMessage());
        assertTrue(new String(Base64.getDecoder().decode(keyLine(wrong)), StandardCharsets.ISO_8859_1).startsWith("Ed"));
    }
}
