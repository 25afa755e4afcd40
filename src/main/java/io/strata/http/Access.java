package io.strata.http;

import io.javalin.http.Context;
import io.javalin.security.RouteRole;
import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.audit.AuditLog;
import io.strata.auth.Scope;
import io.strata.auth.Token;
import io.strata.auth.TokenService;
import io.strata.auth.TokenService.Authentication;
import io.strata.upload.Uploader;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Who may do what (DESIGN §11), in one place: the route-level check before every matched route,
 * the product-level checks handlers ask for once they know the product, the read check of
 * {@link FastReads} on a private registry, and the audit rows for writes and refusals.
 *
 * <p>A route names what it needs with a {@link Need} in {@link Routes}. Routes without one are
 * reads: public, unless the registry is private, when any valid token may read (every scope
 * includes {@code read}). On a public registry a read ignores any credentials sent with it.
 */
final class Access {
    /** The route-level requirement. Product-scoped actions are checked again, on the product, by the handler. */
    enum Need implements RouteRole {
        /** Never needs a token, even on a private registry ({@code /healthz}). */
        PUBLIC,
        /** Some {@code push:} scope (layers belong to no product). */
        PUSH,
        /** Some {@code publish:} scope; the handler checks the product. */
        PUBLISH,
        /** Some {@code delete:} scope; the handler checks the product. */
        DELETE,
        ADMIN,
        /** Any valid token; the handler decides (making tokens: a subset of the caller's scopes). */
        TOKEN
    }

    static final Need PUBLIC = Need.PUBLIC;
    static final Need PUSH = Need.PUSH;
    static final Need PUBLISH = Need.PUBLISH;
    static final Need DELETE = Need.DELETE;
    static final Need ADMIN = Need.ADMIN;
    static final Need TOKEN = Need.TOKEN;

    private static final String TOKEN_KEY = "strata.token";
    private static final String NOTE_KEY = "strata.audit";
    private static final String PENDING_KEY = "strata.denied";

    private final TokenService tokens;
    private final AuditLog audit;
    private final boolean privateMode;

    Access(TokenService tokens, AuditLog audit, boolean privateMode) {
        this.tokens = tokens;
        this.audit = audit;
        this.privateMode = privateMode;
    }

    boolean privateMode() { return privateMode; }

    /** Runs before every matched route. */
    void check(Context ctx) {
        Need need = ctx.routeRoles().stream().filter(Need.class::isInstance).map(Need.class::cast).findFirst().orElse(null);
        // Roleless routes are reads. On a private registry the API's reads need a token; what else reaches Javalin is
        // the catalog page's code and styles (its HTML and the data documents are guarded in FastReads), which hold no
        // registry data and which a browser cannot fetch with a Bearer token.
        if (need == Need.PUBLIC || (need == null && (!privateMode || !ctx.path().startsWith("/api/")))) return;
        Token token = authenticate(ctx.header("Authorization"), ctx.ip(), ctx.method().name(), ctx.path());
        ctx.attribute(TOKEN_KEY, token);
        Scope.Action action = need == null ? Scope.Action.READ : switch (need) {
            case PUSH -> Scope.Action.PUSH;
            case PUBLISH -> Scope.Action.PUBLISH;
            case DELETE -> Scope.Action.DELETE;
            case ADMIN -> Scope.Action.ADMIN;
            default -> Scope.Action.READ;
        };
        if (action == Scope.Action.READ || token.allowsAny(action)) return;
        String needed = action == Scope.Action.ADMIN ? "admin" : action.id() + ":<os>:<release>:<arch>:<variant>";
        String message = switch (action) {
            case PUSH -> "uploading layers needs a push scope (any product pattern, e.g. push:* or push:debian) or admin";
            case ADMIN -> "this request needs a token with scope 'admin'";
            default -> "this request needs a " + action.id() + " scope covering the product (e.g. " + action.id() + ":debian:*) or admin";
        };
        throw denied(ctx, token, action == Scope.Action.ADMIN ? "admin" : action.id(), needed, message);
    }

    /** For {@link FastReads} on a private registry: null when the request may read, else the refusal to send. */
    ApiException refuseRead(Request request) {
        try {
            authenticate(request.getHeaders().get(HttpHeader.AUTHORIZATION), Request.getRemoteAddr(request), request.getMethod(),
                    Request.getPathInContext(request));
            return null;
        } catch (ApiException e) {
            return e;
        }
    }

    /** The token the route-level check accepted; only for routes with a {@link Need} (or any route when private). */
    static Token token(Context ctx) {
        Token token = ctx.attribute(TOKEN_KEY);
        if (token == null) throw new IllegalStateException("no token checked for " + ctx.path() + ": the route needs an Access.Need");
        return token;
    }

    /** The uploader accounting of the request's token. */
    static Uploader uploader(Context ctx) {
        Token token = token(ctx);
        return new Uploader(OptionalLong.of(token.id()), token.quotaBytes());
    }

    /** Refuses with 403 unless the request's token grants {@code needed} (e.g. publish on the product being published). */
    void require(Context ctx, Scope needed) {
        Token token = token(ctx);
        if (token.allows(needed)) return;
        String message = needed.segments().isEmpty()
                ? "this needs scope " + needed.id() + ", which this token does not have"
                : "this token may not " + verb(needed.action()) + " " + String.join(":", needed.segments()) + ": it needs scope "
                        + needed.id() + " (or a pattern covering it, e.g. " + needed.action().id() + ":" + needed.segments().get(0)
                        + ":*), or admin";
        // Recorded when the request ends (audit): this may run inside a catalog transaction, where another write would wait on it.
        ctx.attribute(PENDING_KEY, "needs " + needed.id());
        throw refusal(needed.id(), needed.id(), message);
    }

    /** Says what a write handler is doing, for the audit row written when the request ends ({@link #audit}). */
    static void note(Context ctx, String action, String target) {
        ctx.attribute(NOTE_KEY, new String[]{action, target});
    }

    /** Runs after every request: writes the audit row of a noted write, with how it ended. */
    void audit(Context ctx) {
        String[] note = ctx.attribute(NOTE_KEY);
        if (note == null) {
            String pending = ctx.attribute(PENDING_KEY);
            if (pending != null) {
                audit.record(new AuditLog.Event(Optional.ofNullable(ctx.attribute(TOKEN_KEY)), ctx.ip(), "request",
                        ctx.method().name() + " " + ctx.path(), "denied", ctx.statusCode(), pending));
            }
            return;
        }
        int status = ctx.statusCode();
        String outcome = status < 400 ? "ok" : status == 401 || status == 403 ? "denied" : "failed";
        String reason = status < 400 ? null : Optional.ofNullable(ctx.<String>attribute(ErrorRenderer.REASON_KEY)).orElse("HTTP " + status);
        audit.record(new AuditLog.Event(Optional.ofNullable(ctx.attribute(TOKEN_KEY)), ctx.ip(), note[0], note[1], outcome, status, reason));
    }

    private Token authenticate(String authorization, String address, String method, String path) {
        Authentication result = tokens.authenticateHeader(authorization, address);
        if (result instanceof Authentication.Valid valid) return valid.token();
        Authentication.Refused refused = (Authentication.Refused) result;
        String reason = refused.reason().name().toLowerCase(Locale.ROOT);
        audit.record(new AuditLog.Event(Optional.empty(), address, "request", method + " " + path, "denied", 401, reason + " token"));
        throw new ApiException(ErrorCode.UNAUTHORIZED, refused.message(), Map.of("reason", reason));
    }

    private ApiException denied(Context ctx, Token token, String scopeParam, String needed, String message) {
        audit.record(new AuditLog.Event(Optional.of(token), ctx.ip(), "request", ctx.method().name() + " " + ctx.path(), "denied", 403,
                "needs " + needed));
        return refusal(scopeParam, needed, message);
    }

    private static ApiException refusal(String scopeParam, String needed, String message) {
        Map<String, Object> detail = new LinkedHashMap<>();
        detail.put("needed", needed);
        detail.put("scope", scopeParam);
        return new ApiException(ErrorCode.DENIED, message, detail);
    }

    private static String verb(Scope.Action action) {
        return switch (action) {
            case PUBLISH -> "publish or move aliases of";
            case DELETE -> "delete versions of";
            default -> action.id() + " on";
        };
    }
}
