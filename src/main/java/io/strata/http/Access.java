package io.strata.http;

import io.javalin.http.Context;
import io.javalin.security.RouteRole;
import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.auth.Scope;
import io.strata.auth.Token;
import io.strata.auth.TokenService;

import java.util.Map;
import java.util.Optional;

/** The scope a route needs, attached to the route in {@link Routes} and checked before it runs. */
enum Access implements RouteRole {
    PUSH(Scope.PUSH), PUBLISH(Scope.PUBLISH), ADMIN(Scope.ADMIN);

    private final Scope scope;

    Access(Scope scope) { this.scope = scope; }

    /** Runs before every matched route: public routes pass, others need a bearer token with the route's scope. */
    static void check(Context ctx, TokenService tokens) {
        for (RouteRole role : ctx.routeRoles()) {
            if (!(role instanceof Access access)) continue;
            String header = ctx.header("Authorization");
            if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
                throw new ApiException(ErrorCode.UNAUTHORIZED);
            }
            Optional<Token> token = tokens.verify(header.substring(7).strip());
            if (token.isEmpty()) {
                throw new ApiException(ErrorCode.UNAUTHORIZED, "the bearer token is unknown or revoked; create one with 'strata token create'");
            }
            if (!token.get().allows(access.scope)) {
                throw new ApiException(ErrorCode.DENIED, "this request needs a token with scope '" + access.scope.id() + "' (or 'admin')",
                        Map.of("needed", access.scope.id()));
            }
        }
    }
}
