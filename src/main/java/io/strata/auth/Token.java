package io.strata.auth;

import java.time.Instant;
import java.util.Set;

/** A token as stored: never the secret, only its name, scopes and dates. */
public record Token(long id, String name, Set<Scope> scopes, Instant createdAt) {
    public boolean allows(Scope needed) { return scopes.contains(Scope.ADMIN) || scopes.contains(needed); }
}
