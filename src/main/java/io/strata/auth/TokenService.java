package io.strata.auth;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.strata.layer.Digest;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Issues and checks bearer tokens. A token is {@code strata_} + 32 random bytes (base64url); only
 * its sha256 is stored. A plain hash (no salt, no slow KDF) is enough because the secret has 256
 * bits of entropy: there is nothing to brute-force, and lookups stay one indexed query.
 */
public final class TokenService {
    private static final String PREFIX = "strata_";
    private static final SecureRandom RANDOM = new SecureRandom();

    private final TokenDao dao;
    /** Recent lookups by secret hash; short-lived so a revocation takes effect within seconds. */
    private final Cache<String, Optional<Token>> recent = Caffeine.newBuilder()
            .maximumSize(10_000).expireAfterWrite(Duration.ofSeconds(5)).build();

    public TokenService(TokenDao dao) { this.dao = dao; }

    /** A new token's secret (shown once) and its stored record. */
    public record Issued(String secret, Token token) {}

    public Issued create(String name, Set<Scope> scopes) {
        if (scopes.isEmpty()) throw new IllegalArgumentException("a token needs at least one scope");
        byte[] random = new byte[32];
        RANDOM.nextBytes(random);
        String secret = PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(random);
        Instant now = Instant.now();
        String scopeText = scopes.stream().map(Scope::id).sorted().collect(Collectors.joining(" "));
        long id = dao.insert(name, hash(secret), scopeText, now.toString());
        return new Issued(secret, new Token(id, name, EnumSet.copyOf(scopes), now));
    }

    /** The token a secret stands for, if it exists and is not revoked. */
    public Optional<Token> verify(String secret) {
        if (secret == null || !secret.startsWith(PREFIX) || secret.length() > 128) return Optional.empty();
        return recent.get(hash(secret), dao::findActive);
    }

    public List<Token> list() { return dao.listActive(); }

    public boolean revoke(long id) {
        boolean revoked = dao.revoke(id, Instant.now().toString()) == 1;
        recent.invalidateAll();
        return revoked;
    }

    static String hash(String secret) {
        return HexFormat.of().formatHex(Digest.sha256().digest(secret.getBytes(StandardCharsets.UTF_8)));
    }
}
