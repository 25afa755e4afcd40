package io.strata.auth;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** DESIGN §11 through the HTTP API: token format, expiry, revocation, product scopes, the subset rule and the audit log. */
class TokenApiTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path dir;
    TestRegistry registry;
    LayerFactory layers;

    @BeforeEach
    void start() throws IOException {
        layers = new LayerFactory(dir);
        registry = TestRegistry.start(dir.resolve("data"));
    }

    @AfterEach
    void stop() { registry.close(); }

    TokenService tokens() { return registry.server().services().tokens(); }

    HttpResponse<String> startUpload(String token) {
        return registry.send(registry.authed("/api/v1/uploads", token).POST(HttpRequest.BodyPublishers.noBody()).build());
    }

    HttpResponse<String> publish(String token, String product, String version, Digest layer, String... aliases) {
        String[] p = product.split(":");
        ObjectNode body = JSON.createObjectNode();
        body.put("os", p[0]).put("release", p[1]).put("arch", p[2]).put("variant", p[3]).put("version", version).put("layer", layer.hex());
        body.putArray("aliases").addAll(java.util.Arrays.stream(aliases).map(JSON.getNodeFactory()::textNode).toList());
        return registry.send(registry.authed("/api/v1/images", token).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build());
    }

    HttpResponse<String> setAlias(String token, String alias, String product) {
        return registry.send(registry.authed("/api/v1/aliases/" + alias, token)
                .PUT(HttpRequest.BodyPublishers.ofString("{\"product\":\"" + product + "\"}")).build());
    }

    HttpResponse<String> createToken(String token, String body) {
        return registry.send(registry.authed("/api/v1/tokens", token).POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }

    static String code(HttpResponse<String> response) throws IOException {
        return JSON.readTree(response.body()).at("/errors/0/code").asText();
    }

    static String message(HttpResponse<String> response) throws IOException {
        return JSON.readTree(response.body()).at("/errors/0/message").asText();
    }

    // ---------------------------------------------------------------- format, expiry, revocation

    @Test
    void a_token_with_a_typo_is_refused_as_malformed_before_any_database_lookup() throws IOException {
        String token = registry.pushToken;
        char last = token.charAt(token.length() - 1);
        String typo = token.substring(0, token.length() - 1) + (last == 'a' ? 'b' : 'a');
        long lookups = tokens().lookups();

        HttpResponse<String> refused = startUpload(typo);

        assertEquals(401, refused.statusCode());
        assertEquals("Bearer realm=\"strata\"", refused.headers().firstValue("WWW-Authenticate").orElse(""));
        assertEquals("UNAUTHORIZED", code(refused));
        assertTrue(message(refused).contains("malformed"), refused.body());
        assertEquals("malformed", JSON.readTree(refused.body()).at("/errors/0/detail/reason").asText());
        assertEquals(lookups, tokens().lookups(), "a malformed token must not reach the database");
        assertFalse(refused.body().contains(typo.substring(11, 30)), "the token is never echoed");
        assertEquals(202, startUpload(token).statusCode());
    }

    @Test
    void a_well_formed_token_the_registry_never_issued_is_refused_as_unknown() throws IOException {
        HttpResponse<String> refused = startUpload(TokenFormat.generate());
        assertEquals(401, refused.statusCode());
        assertEquals("unknown", JSON.readTree(refused.body()).at("/errors/0/detail/reason").asText());
    }

    @Test
    void an_expired_token_is_refused_and_says_how_to_get_going_again() throws IOException {
        TokenService.Issued old = tokens().create("old", List.of(Scope.parse("push:*")), Optional.of(Instant.now().minus(Duration.ofHours(1))),
                OptionalLong.empty());
        HttpResponse<String> refused = startUpload(old.secret());
        assertEquals(401, refused.statusCode());
        assertTrue(message(refused).contains("expired"), refused.body());
        assertTrue(message(refused).contains("strata token expire " + old.token().id()), refused.body());
    }

    @Test
    void a_revoked_token_is_refused_at_once() throws IOException {
        TokenService.Issued issued = tokens().create("soon-gone", List.of(Scope.parse("push:*")));
        assertEquals(202, startUpload(issued.secret()).statusCode());
        assertTrue(tokens().revoke(issued.token().id()));
        HttpResponse<String> refused = startUpload(issued.secret());
        assertEquals(401, refused.statusCode());
        assertEquals("revoked", JSON.readTree(refused.body()).at("/errors/0/detail/reason").asText());
    }

    @Test
    void a_new_token_expires_after_90_days_and_records_its_last_use_and_address() {
        TokenService.Issued issued = tokens().create("ci", List.of(Scope.parse("push:*")));
        Instant expires = issued.token().expiresAt().orElseThrow();
        assertTrue(Duration.between(Instant.now(), expires).toDays() >= 89, expires.toString());
        assertTrue(issued.token().lastUsedAt().isEmpty());

        assertEquals(202, startUpload(issued.secret()).statusCode());

        Token used = tokens().find(issued.token().id()).orElseThrow();
        assertTrue(used.lastUsedAt().isPresent());
        assertEquals("127.0.0.1", used.lastUsedFrom().orElse(""));
    }

    @Test
    void expiry_rules_for_people_allow_at_most_365_days_and_never_only_for_admin() {
        List<Scope> push = List.of(Scope.parse("push:*"));
        assertTrue(tokens().expiry("365d", push).isPresent());
        assertThrowsMessage("at most 365 days", () -> tokens().expiry("366d", push));
        assertThrowsMessage("only an admin token may never expire", () -> tokens().expiry("never", push));
        assertTrue(tokens().expiry("never", List.of(Scope.ADMIN)).isEmpty());
    }

    static void assertThrowsMessage(String part, org.junit.jupiter.api.function.Executable run) {
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, run);
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }

    @Test
    void credentials_sent_with_a_read_on_a_public_registry_are_ignored() {
        Digest a = layers.base();
        layers.uploadTo(registry, a);
        String garbage = "Basic " + java.util.Base64.getEncoder().encodeToString("x:not-a-token".getBytes(StandardCharsets.UTF_8));
        for (String path : List.of("/index.json", "/layers/" + a.fileName(), "/api/v1/layers/" + a.hex(), "/")) {
            assertEquals(200, registry.send(registry.request(path).header("Authorization", garbage).build()).statusCode(), path);
            assertEquals(200, registry.send(registry.authed(path, "strata_pat_typo").build()).statusCode(), path);
        }
    }

    // ---------------------------------------------------------------- product scopes

    @Test
    void a_publisher_publishes_inside_its_products_and_is_told_which_scope_it_lacks_outside() throws IOException {
        Digest a = layers.base(), b = layers.base();
        layers.uploadTo(registry, a, b);
        String debian = registry.token("publish:debian:*");

        assertEquals(201, publish(debian, "debian:12:amd64:cloud", "20261201_1000", a).statusCode());
        HttpResponse<String> outside = publish(debian, "ubuntu:24.04:amd64:cloud", "20261201_1000", b);

        assertEquals(403, outside.statusCode(), outside.body());
        assertEquals("DENIED", code(outside));
        assertEquals("Bearer error=\"insufficient_scope\", scope=\"publish:ubuntu:24.04:amd64:cloud\"",
                outside.headers().firstValue("WWW-Authenticate").orElse(""));
        assertTrue(message(outside).contains("publish:ubuntu:24.04:amd64:cloud"), outside.body());
        assertFalse(registry.send(registry.request("/index.json").build()).body().contains("ubuntu"), "nothing was published");
    }

    @Test
    void a_push_token_may_upload_layers_but_not_publish() throws IOException {
        Digest a = layers.base();
        String pushOnly = registry.token("push:debian");
        assertEquals(201, registry.send(registry.authed("/api/v1/layers/" + a.hex(), pushOnly)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(layers.bytes(a))).build()).statusCode());
        HttpResponse<String> denied = publish(pushOnly, "debian:12:amd64:cloud", "20261201_1000", a);
        assertEquals(403, denied.statusCode());
        assertTrue(denied.headers().firstValue("WWW-Authenticate").orElse("").contains("scope=\"publish\""), denied.headers().map().toString());
    }

    @Test
    void moving_an_alias_needs_the_publish_scope_on_both_its_old_and_its_new_product() throws IOException {
        Digest a = layers.base(), b = layers.base();
        layers.uploadTo(registry, a, b);
        assertEquals(201, publish(registry.publishToken, "debian:12:amd64:cloud", "20261201_1000", a).statusCode());
        assertEquals(201, publish(registry.publishToken, "ubuntu:24.04:amd64:cloud", "20261201_1000", b).statusCode());
        assertEquals(200, setAlias(registry.publishToken, "stable", "debian:12:amd64:cloud").statusCode());
        String debian = registry.token("publish:debian");
        String ubuntu = registry.token("publish:ubuntu");
        String both = registry.token("publish:debian", "publish:ubuntu");

        HttpResponse<String> intoForeign = setAlias(debian, "stable", "ubuntu:24.04:amd64:cloud");
        assertEquals(403, intoForeign.statusCode());
        assertTrue(message(intoForeign).contains("publish:ubuntu:24.04:amd64:cloud"), intoForeign.body());
        HttpResponse<String> outOfForeign = setAlias(ubuntu, "stable", "ubuntu:24.04:amd64:cloud");
        assertEquals(403, outOfForeign.statusCode());
        assertTrue(message(outOfForeign).contains("publish:debian:12:amd64:cloud"), outOfForeign.body());
        assertEquals(a.hex(), JSON.readTree(registry.send(registry.request("/api/v1/images/stable").build()).body()).get("fingerprint").asText(),
                "a refused move changes nothing");

        assertEquals(200, setAlias(both, "stable", "ubuntu:24.04:amd64:cloud").statusCode());
        assertEquals(200, setAlias(ubuntu, "stable", "ubuntu:24.04:amd64:cloud").statusCode(), "inside its product now");
        assertEquals(403, registry.send(registry.authed("/api/v1/aliases/stable", debian).DELETE().build()).statusCode());
        assertEquals(204, registry.send(registry.authed("/api/v1/aliases/stable", ubuntu).DELETE().build()).statusCode());
    }

    @Test
    void unpublishing_needs_a_delete_scope_covering_the_image_product() throws IOException {
        Digest a = layers.base();
        layers.uploadTo(registry, a);
        assertEquals(201, publish(registry.publishToken, "debian:12:amd64:cloud", "20261201_1000", a).statusCode());
        String path = "/api/v1/images/" + a.hex();

        HttpResponse<String> publisher = registry.send(registry.authed(path, registry.token("publish:debian")).DELETE().build());
        assertEquals(403, publisher.statusCode());
        HttpResponse<String> otherProduct = registry.send(registry.authed(path, registry.token("delete:ubuntu")).DELETE().build());
        assertEquals(403, otherProduct.statusCode());
        assertEquals("Bearer error=\"insufficient_scope\", scope=\"delete:debian:12:amd64:cloud\"",
                otherProduct.headers().firstValue("WWW-Authenticate").orElse(""));
        assertEquals(200, registry.send(registry.request(path).build()).statusCode(), "still published");

        assertEquals(204, registry.send(registry.authed(path, registry.token("delete:debian:12")).DELETE().build()).statusCode());
    }

    @Test
    void maintenance_needs_admin() throws IOException {
        HttpResponse<String> denied = registry.send(registry.authed("/api/v1/gc?dry_run=true", registry.publishToken)
                .POST(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(403, denied.statusCode());
        assertEquals("Bearer error=\"insufficient_scope\", scope=\"admin\"", denied.headers().firstValue("WWW-Authenticate").orElse(""));
        assertEquals(200, registry.send(registry.authed("/api/v1/gc?dry_run=true", registry.adminToken)
                .POST(HttpRequest.BodyPublishers.noBody()).build()).statusCode());
    }

    // ---------------------------------------------------------------- tokens making tokens

    @Test
    void a_token_makes_tokens_only_with_a_subset_of_its_own_scopes() throws IOException {
        String debian = registry.token("publish:debian:*", "push:*");

        HttpResponse<String> narrower = createToken(debian, "{\"name\":\"ci-12\",\"scopes\":[\"publish:debian:12\",\"read\"],\"expires\":\"30d\"}");
        assertEquals(201, narrower.statusCode(), narrower.body());
        JsonNode made = JSON.readTree(narrower.body());
        assertEquals(TokenFormat.Shape.CURRENT, TokenFormat.shape(made.get("token").asText()));
        assertEquals("[\"publish:debian:12:*:*\",\"read\"]", made.get("scopes").toString());
        assertEquals(201, createToken(made.get("token").asText(), "{\"scopes\":[\"read\"],\"expires\":\"7d\"}").statusCode(),
                "the new token works");

        HttpResponse<String> wider = createToken(debian, "{\"scopes\":[\"publish:*\"]}");
        assertEquals(403, wider.statusCode());
        assertEquals("Bearer error=\"insufficient_scope\", scope=\"publish:*:*:*:*\"", wider.headers().firstValue("WWW-Authenticate").orElse(""));
        assertEquals(403, createToken(debian, "{\"scopes\":[\"admin\"]}").statusCode());
        assertEquals(403, createToken(debian, "{\"scopes\":[\"delete:debian\"]}").statusCode());
        HttpResponse<String> outlives = createToken(debian, "{\"scopes\":[\"read\"],\"expires\":\"365d\"}");
        assertEquals(400, outlives.statusCode(), "a 90-day token may not make a 365-day one");
        HttpResponse<String> badScope = createToken(debian, "{\"scopes\":[\"publish:debian/12\"]}");
        assertEquals(400, badScope.statusCode());
        assertEquals("scopes", JSON.readTree(badScope.body()).at("/errors/0/detail/field").asText());

        HttpResponse<String> byAdmin = createToken(registry.adminToken, "{\"scopes\":[\"admin\"],\"expires\":\"never\"}");
        assertEquals(201, byAdmin.statusCode(), byAdmin.body());
        assertTrue(JSON.readTree(byAdmin.body()).get("expires").isNull());
    }

    @Test
    void an_admin_revokes_a_token_through_the_api_and_others_may_not() throws IOException {
        TokenService.Issued victim = tokens().create("victim", List.of(Scope.parse("push:*")));
        String path = "/api/v1/tokens/" + victim.token().id();
        assertEquals(403, registry.send(registry.authed(path, registry.publishToken).DELETE().build()).statusCode());
        assertEquals(202, startUpload(victim.secret()).statusCode());

        assertEquals(204, registry.send(registry.authed(path, registry.adminToken).DELETE().build()).statusCode());
        assertEquals(401, startUpload(victim.secret()).statusCode());
        HttpResponse<String> list = registry.send(registry.authed("/api/v1/tokens", registry.adminToken).build());
        assertEquals(200, list.statusCode());
        JsonNode listed = JSON.readTree(list.body()).get("tokens").get(3);
        assertEquals("victim", listed.get("name").asText());
        assertEquals("127.0.0.1", listed.get("last_used_from").asText());
        assertFalse(listed.get("revoked").isNull());
        assertFalse(list.body().contains(victim.secret().substring(11, 40)), "never a secret");
        assertEquals(403, registry.send(registry.authed("/api/v1/tokens", registry.publishToken).build()).statusCode());
        assertEquals(404, registry.send(registry.authed(path, registry.adminToken).DELETE().build()).statusCode());
    }

    // ---------------------------------------------------------------- audit log

    @Test
    void every_write_and_every_refusal_is_in_the_audit_log_newest_first_in_pages() throws IOException {
        Digest a = layers.base();
        layers.uploadTo(registry, a);                                                             // layer.put ok
        assertEquals(201, publish(registry.publishToken, "debian:12:amd64:cloud", "20261201_1000", a, "debian/12").statusCode());
        assertEquals(401, startUpload("strata_pat_nonsense").statusCode());                       // denied 401
        assertEquals(403, publish(registry.token("publish:ubuntu"), "debian:12:amd64:cloud", "20261201_1100", a).statusCode());
        assertEquals(204, registry.send(registry.authed("/api/v1/aliases/debian/12", registry.publishToken).DELETE().build()).statusCode());
        Digest wrong = layers.base();
        assertEquals(400, registry.putLayer(wrong, layers.bytes(a)).statusCode());                 // failed
        assertEquals(403, registry.send(registry.authed("/api/v1/audit", registry.publishToken).build()).statusCode());

        List<JsonNode> entries = new ArrayList<>();
        String next = "/api/v1/audit?limit=2";
        int pages = 0;
        while (next != null) {
            HttpResponse<String> page = registry.send(registry.authed(next, registry.adminToken).build());
            assertEquals(200, page.statusCode(), page.body());
            assertFalse(page.body().contains("strata_pat_") && !page.body().contains("strata_pat_nonsense"), "no secret in the log");
            JsonNode body = JSON.readTree(page.body());
            assertTrue(body.get("entries").size() <= 2);
            body.get("entries").forEach(entries::add);
            next = body.get("next").isNull() ? null : body.get("next").asText();
            pages++;
        }
        assertTrue(pages >= 3, "paged: " + pages);
        for (int i = 1; i < entries.size(); i++) {
            assertTrue(entries.get(i - 1).get("id").asLong() > entries.get(i).get("id").asLong(), "newest first");
        }
        List<String> lines = entries.stream().map(e -> e.get("action").asText() + " " + e.get("outcome").asText() + " "
                + e.get("status").asInt() + " " + e.get("token_name").asText() + " " + e.get("target").asText()).toList();
        String all = String.join("\n", lines);
        assertTrue(all.contains("layer.put ok 201 test-push " + a.hex()), all);
        assertTrue(all.contains("image.publish ok 201 test-publish debian:12:amd64:cloud 20261201_1000"), all);
        assertTrue(all.contains("request denied 401 null POST /api/v1/uploads"), all);
        assertTrue(all.contains("image.publish denied 403 test-publish.ubuntu debian:12:amd64:cloud 20261201_1100"), all);
        assertTrue(all.contains("alias.delete ok 204 test-publish debian/12"), all);
        assertTrue(all.contains("request denied 403 test-publish GET /api/v1/audit"), all);
        JsonNode failed = entries.stream().filter(e -> e.get("target").asText().equals(wrong.hex())).findFirst().orElseThrow();
        assertEquals("failed", failed.get("outcome").asText());
        assertEquals("DIGEST_INVALID", failed.get("reason").asText());
        JsonNode denied = entries.stream().filter(e -> e.get("status").asInt() == 401).findFirst().orElseThrow();
        assertEquals("127.0.0.1", denied.get("address").asText());
        assertEquals("malformed token", denied.get("reason").asText());
    }

    @Test
    void no_token_secret_appears_in_any_response_or_log_line() throws IOException {
        PrintStream original = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(new TeeStream(original, captured), true, StandardCharsets.UTF_8));
        List<String> bodies = new ArrayList<>();
        String typo;
        try {
            Digest a = layers.base();
            layers.uploadTo(registry, a);
            typo = registry.publishToken.substring(0, 20) + "X" + registry.publishToken.substring(21);
            for (String token : List.of(registry.pushToken, registry.publishToken, typo, TokenFormat.generate())) {
                bodies.add(publish(token, "debian:12:amd64:cloud", "20261201_1000", a).body());
                bodies.add(startUpload(token).body());
                bodies.add(registry.send(registry.authed("/api/v1/gc", token).POST(HttpRequest.BodyPublishers.noBody()).build()).body());
            }
            bodies.add(registry.send(registry.authed("/api/v1/audit", registry.adminToken).build()).body());
        } finally {
            System.setErr(original);
        }
        String log = captured.toString(StandardCharsets.UTF_8);
        assertTrue(log.contains("stored layer"), "the server log was captured: " + log);
        for (String secret : List.of(registry.pushToken, registry.publishToken, registry.adminToken, typo)) {
            String middle = secret.substring(11, 40);
            assertFalse(log.contains(middle), "log holds a token");
            for (String body : bodies) assertFalse(body.contains(middle), "a response holds a token: " + body);
        }
    }

    /** Copies everything to both streams, so the test output still shows the server log. */
    static final class TeeStream extends OutputStream {
        private final OutputStream first;
        private final OutputStream second;

        TeeStream(OutputStream first, OutputStream second) {
            this.first = first;
            this.second = second;
        }

        @Override public synchronized void write(int b) throws IOException {
            first.write(b);
            second.write(b);
        }

        @Override public synchronized void write(byte[] b, int off, int len) throws IOException {
            first.write(b, off, len);
            second.write(b, off, len);
        }
    }
}
