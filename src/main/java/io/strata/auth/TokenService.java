package io.strata.auth;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.strata.layer.Digest;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

/**
 * Issues and checks tokens ({@link TokenFormat}); only the sha256 of a token is stored. A plain
 * hash (no salt, no slow KDF) is enough because the secret has 256 bits of entropy: there is
 * nothing to brute-force, and a lookup stays one indexed query. The row is found by that hash
 * and the hashes are then compared with {@link MessageDigest#isEqual} (constant time), so the
 * answer never depends on how much of a guessed secret was right.
 */
public final class TokenService {
    public static final Duration DEFAULT_EXPIRY = Duration.ofDays(90);
    public static final Duration MAX_EXPIRY = Duration.ofDays(365);
    /** The last use is written at most this often per token: a busy token must not turn reads into writes. */
    static final Duration USE_RECORD_INTERVAL = Duration.ofMinutes(1);

    private final TokenDao dao;
    private final Clock clock;
    /** Recent lookups by secret hash; short-lived so a revocation or new expiry takes effect within seconds. */
    private final Cache<String, Optional<TokenDao.Stored>> recent = Caffeine.newBuilder()
            .maximumSize(10_000).expireAfterWrite(Duration.ofSeconds(5)).build();
    private final Map<Long, Instant> useRecorded = new ConcurrentHashMap<>();
    private final AtomicLong lookups = new AtomicLong();

    public TokenService(TokenDao dao, Clock clock) {
        this.dao = dao;
        this.clock = clock;
    }

    public TokenService(TokenDao dao) { this(dao, Clock.systemUTC()); }

    /** A new token's secret (shown once) and its stored record. */
    public record Issued(String secret, Token token) {}

    /** Why a request's credentials were refused; each is a 401. */
    public enum Reason { MISSING, MALFORMED, UNKNOWN, REVOKED, EXPIRED }

    /** The outcome of presenting credentials: a token, or a refusal with a message that says what to do. */
    public sealed interface Authentication {
        record Valid(Token token) implements Authentication {}

        record Refused(Reason reason, String message) implements Authentication {}
    }

    /**
     * Stores a new token. {@code expiresAt} is not checked against the rules for people
     * ({@link #expiry}): a past expiry is allowed here, for tests.
     */
    public Issued create(String name, List<Scope> scopes, Optional<Instant> expiresAt, OptionalLong quotaBytes) {
        if (scopes.isEmpty()) throw new IllegalArgumentException("a token needs at least one scope");
        checkName(name);
        String secret = TokenFormat.generate();
        Instant now = now();
        List<Scope> distinct = List.copyOf(new LinkedHashSet<>(scopes));
        String scopeText = distinct.stream().map(Scope::id).collect(Collectors.joining(" "));
        Long quota = quotaBytes.isPresent() ? quotaBytes.getAsLong() : null;
        long id = dao.insert(name, hash(secret), scopeText, now.toString(), expiresAt.map(Instant::toString).orElse(null), quota);
        return new Issued(secret, dao.find(id).orElseThrow());
    }

    /** A token with the default expiry and no quota. */
    public Issued create(String name, List<Scope> scopes) {
        return create(name, scopes, Optional.of(now().plus(DEFAULT_EXPIRY)), OptionalLong.empty());
    }

    /**
     * The expiry a person asked for: a duration ({@code 90d}, at most 365 days) or {@code never},
     * which only an admin token may have. {@code null} or blank means the default, 90 days.
     *
     * @throws IllegalArgumentException with a message that says what is allowed
     */
    public Optional<Instant> expiry(String text, List<Scope> scopes) {
        if (text == null || text.isBlank()) return Optional.of(now().plus(DEFAULT_EXPIRY));
        if (text.strip().toLowerCase(Locale.ROOT).equals("never")) {
            if (!scopes.contains(Scope.ADMIN)) {
                throw new IllegalArgumentException("only an admin token may never expire; give a duration of at most 365d, e.g. --expires 90d");
            }
            return Optional.empty();
        }
        Duration duration = io.strata.config.Units.parseDuration(text);
        if (duration.isZero()) throw new IllegalArgumentException("an expiry must be in the future, e.g. 30d");
        if (duration.compareTo(MAX_EXPIRY) > 0) {
            throw new IllegalArgumentException("a token may be valid for at most 365 days (got " + text.strip() + "); use e.g. 365d or less");
        }
        return Optional.of(now().plus(duration));
    }

    /** Checks {@code Authorization: Bearer <token>} or {@code Basic} (the token as the password; the user name is ignored). */
    public Authentication authenticateHeader(String authorization, String address) {
        if (authorization == null || authorization.isBlank()) {
            return new Authentication.Refused(Reason.MISSING, null);
        }
        String header = authorization.strip();
        if (header.regionMatches(true, 0, "Bearer ", 0, 7)) return authenticate(header.substring(7).strip(), address);
        if (header.regionMatches(true, 0, "Basic ", 0, 6)) {
            String decoded;
            try {
                decoded = new String(Base64.getDecoder().decode(header.substring(6).strip()), StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                return malformed("the Basic credentials are not base64");
            }
            int colon = decoded.indexOf(':');
            if (colon < 0) return malformed("the Basic credentials have no password; send the token as the password (curl -u x:TOKEN)");
            return authenticate(decoded.substring(colon + 1), address);
        }
        return new Authentication.Refused(Reason.MISSING,
                "the Authorization header must be 'Bearer <token>' or Basic with the token as the password");
    }

    /** The token a secret stands for, if well-formed, known, not revoked and not expired; records its use. */
    public Authentication authenticate(String secret, String address) {
        TokenFormat.Shape shape = TokenFormat.shape(secret);
        if (shape == TokenFormat.Shape.MALFORMED) {
            return malformed("the token is malformed: a Strata token is strata_pat_ + 43 letters and digits + _ + a 6-character "
                    + "checksum, and this one does not match its checksum (mistyped or cut off?); copy it again");
        }
        String hash = hash(secret);
        Optional<TokenDao.Stored> stored = recent.get(hash, h -> {
            lookups.incrementAndGet();
            return dao.findByHash(h);
        });
        if (stored.isEmpty() || !MessageDigest.isEqual(bytes(hash), bytes(stored.get().secretHash()))) {
            return new Authentication.Refused(Reason.UNKNOWN, "the token is not known to this registry; create one with 'strata token create'");
        }
        Token token = stored.get().token();
        if (token.revokedAt().isPresent()) {
            return new Authentication.Refused(Reason.REVOKED, "token " + token.id() + " (" + token.name() + ") was revoked at "
                    + token.revokedAt().get() + "; ask an admin for a new one");
        }
        Instant now = now();
        if (token.expired(now)) {
            return new Authentication.Refused(Reason.EXPIRED, "token " + token.id() + " (" + token.name() + ") expired at "
                    + token.expiresAt().get() + "; ask an admin for a new one or to extend it with 'strata token expire " + token.id() + " 30d'");
        }
        recordUse(token, now, address);
        return new Authentication.Valid(token);
    }

    /** Database lookups made by {@link #authenticate} so far (a malformed token makes none). */
    public long lookups() { return lookups.get(); }

    /** Every token, revoked ones too, oldest first (never secrets). */
    public List<Token> list() { return dao.all(); }

    public Optional<Token> find(long id) { return dao.find(id); }

    public boolean revoke(long id) {
        boolean revoked = dao.revoke(id, now().toString()) == 1;
        recent.invalidateAll();
        return revoked;
    }

    /** Sets (or clears, with empty) the expiry of token {@code id}; false when there is no such token. */
    public boolean expire(long id, Optional<Instant> at) {
        boolean changed = dao.expire(id, at.map(Instant::toString).orElse(null)) == 1;
        recent.invalidateAll();
        return changed;
    }

    private void recordUse(Token token, Instant now, String address) {
        Instant last = useRecorded.get(token.id());
        if (last != null && Duration.between(last, now).compareTo(USE_RECORD_INTERVAL) < 0) return;
        if (last == null ? useRecorded.putIfAbsent(token.id(), now) != null : !useRecorded.replace(token.id(), last, now)) return;
        dao.used(token.id(), now.toString(), address == null ? "" : address);
    }

    private static Authentication malformed(String message) { return new Authentication.Refused(Reason.MALFORMED, message); }

    private static void checkName(String name) {
        if (name == null || name.isBlank() || name.length() > 64 || !name.chars().allMatch(c -> c >= 0x20 && c != 0x7f)) {
            throw new IllegalArgumentException("a token name is 1 to 64 printable characters, e.g. --name ci-debian");
        }
    }

    private Instant now() { return clock.instant().truncatedTo(ChronoUnit.MILLIS); }

    private static byte[] bytes(String hex) { return hex.getBytes(StandardCharsets.US_ASCII); }

    static String hash(String secret) {
        return HexFormat.of().formatHex(Digest.sha256().digest(secret.getBytes(StandardCharsets.UTF_8)));
    }
}
