package io.strata.auth;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.stream.Collectors;

/**
 * A token as stored: never the secret, only what identifies and limits it.
 *
 * @param expiresAt    empty: never (admin tokens made with {@code --expires never}, and tokens from before expiry existed)
 * @param lastUsedAt   when a request last presented it (recorded at most once a minute)
 * @param lastUsedFrom the client address of that request
 * @param quotaBytes   bytes it may have uploaded that no published image uses yet; empty: unbounded
 */
public record Token(long id, String name, List<Scope> scopes, Instant createdAt, Optional<Instant> expiresAt,
                    Optional<Instant> lastUsedAt, Optional<String> lastUsedFrom, Optional<Instant> revokedAt,
                    OptionalLong quotaBytes) {
    public Token {
        scopes = List.copyOf(scopes);
    }

    /** Whether one of its scopes grants {@code needed}. */
    public boolean allows(Scope needed) { return scopes.stream().anyMatch(s -> s.covers(needed)); }

    /** Whether it may do {@code action} on at least one product (route-level check before the product is known). */
    public boolean allowsAny(Scope.Action action) {
        return scopes.stream().anyMatch(s -> s.action() == Scope.Action.ADMIN || s.action() == action);
    }

    public boolean isAdmin() { return allows(Scope.ADMIN); }

    public boolean expired(Instant now) { return expiresAt.isPresent() && !now.isBefore(expiresAt.get()); }

    public String scopeText() { return scopes.stream().map(Scope::id).collect(Collectors.joining(",")); }
}
