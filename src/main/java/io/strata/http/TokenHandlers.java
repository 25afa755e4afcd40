package io.strata.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.javalin.http.Context;
import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.audit.AuditEntry;
import io.strata.audit.AuditLog;
import io.strata.auth.Scope;
import io.strata.auth.Token;
import io.strata.auth.TokenService;
import io.strata.config.Units;

import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/** {@code /api/v1/tokens} (a token makes tokens with a subset of its scopes) and {@code /api/v1/audit}. */
final class TokenHandlers {
    private static final int MAX_BODY_BYTES = 16 * 1024;

    private final TokenService tokens;
    private final AuditLog audit;
    private final Access access;
    private final ObjectMapper json;

    TokenHandlers(TokenService tokens, AuditLog audit, Access access, ObjectMapper json) {
        this.tokens = tokens;
        this.audit = audit;
        this.access = access;
        this.json = json;
    }

    /**
     * {@code POST /api/v1/tokens {"name","scopes":[…],"expires":"30d","quota":"200G"}}. Each scope
     * must be granted by the caller's token; a caller that is not admin cannot make a token that
     * outlives it, and a caller with a quota passes it on (at most its own).
     */
    void create(Context ctx) throws IOException {
        JsonNode body = readObject(ctx);
        String name = text(body, "name").orElse("api");
        Access.note(ctx, "token.create", name);
        JsonNode scopeList = body.get("scopes");
        if (scopeList == null || !scopeList.isArray() || scopeList.isEmpty()) {
            throw invalid("scopes", "give the new token's scopes as a list, e.g. {\"scopes\":[\"publish:debian:*\"]}");
        }
        List<Scope> scopes = new ArrayList<>();
        for (JsonNode item : scopeList) {
            try {
                scopes.add(Scope.parse(item.asText()));
            } catch (IllegalArgumentException e) {
                throw invalid("scopes", e.getMessage());
            }
        }
        Token caller = Access.token(ctx);
        for (Scope scope : scopes) access.require(ctx, scope);
        Optional<Instant> expires;
        try {
            expires = tokens.expiry(text(body, "expires").orElse(null), scopes);
        } catch (IllegalArgumentException e) {
            throw invalid("expires", e.getMessage());
        }
        OptionalLong quota = OptionalLong.empty();
        if (text(body, "quota").isPresent()) {
            try {
                quota = OptionalLong.of(Units.parseSize(text(body, "quota").get()));
            } catch (IllegalArgumentException e) {
                throw invalid("quota", e.getMessage());
            }
        }
        if (!caller.isAdmin()) {
            if (caller.expiresAt().isPresent() && (expires.isEmpty() || expires.get().isAfter(caller.expiresAt().get()))) {
                throw invalid("expires", "a token may not make one that outlives it: this token expires at " + caller.expiresAt().get());
            }
            if (caller.quotaBytes().isPresent()) {
                long own = caller.quotaBytes().getAsLong();
                if (quota.isPresent() && quota.getAsLong() > own) throw invalid("quota", "a token may not give a larger quota than its own (" + own + " bytes)");
                if (quota.isEmpty()) quota = caller.quotaBytes();
            }
        }
        TokenService.Issued issued;
        try {
            issued = tokens.create(name, scopes, expires, quota);
        } catch (IllegalArgumentException e) {
            throw invalid("name", e.getMessage());
        }
        Access.note(ctx, "token.create", "token " + issued.token().id() + " (" + name + ") " + issued.token().scopeText());
        Map<String, Object> answer = view(issued.token());
        answer.put("token", issued.secret()); // the only time the secret leaves the registry
        ctx.status(201).header("Cache-Control", "no-store").json(answer);
    }

    /** {@code GET /api/v1/tokens} (admin): every token, revoked ones too, with its last use; never a secret. */
    void list(Context ctx) {
        List<Map<String, Object>> all = tokens.list().stream().map(token -> {
            Map<String, Object> out = view(token);
            out.put("last_used", token.lastUsedAt().map(Instant::toString).orElse(null));
            out.put("last_used_from", token.lastUsedFrom().orElse(null));
            out.put("revoked", token.revokedAt().map(Instant::toString).orElse(null));
            return out;
        }).toList();
        ctx.header("Cache-Control", "no-store").json(Map.of("tokens", all));
    }

    /** {@code DELETE /api/v1/tokens/{id}} (admin). */
    void revoke(Context ctx) {
        long id = idParam(ctx);
        Access.note(ctx, "token.revoke", "token " + id);
        if (!tokens.revoke(id)) {
            throw new ApiException(ErrorCode.NOT_FOUND, "no active token with id " + id, Map.of("id", id));
        }
        ctx.status(204);
    }

    /** {@code GET /api/v1/audit?limit=100&before=<id>} (admin): newest first; {@code next} is the URL of the older page. */
    void audit(Context ctx) {
        int limit = 100;
        Optional<Long> before = Optional.empty();
        try {
            if (ctx.queryParam("limit") != null) limit = Integer.parseInt(ctx.queryParam("limit"));
            if (ctx.queryParam("before") != null) before = Optional.of(Long.parseLong(ctx.queryParam("before")));
        } catch (NumberFormatException e) {
            throw new ApiException(ErrorCode.BODY_INVALID, "limit and before are whole numbers, e.g. ?limit=100&before=4711");
        }
        if (limit < 1 || limit > AuditLog.MAX_PAGE) {
            throw new ApiException(ErrorCode.BODY_INVALID, "limit must be 1 to " + AuditLog.MAX_PAGE, Map.of("field", "limit"));
        }
        List<AuditEntry> page = audit.page(before, limit);
        List<Map<String, Object>> entries = page.stream().map(TokenHandlers::view).toList();
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("entries", entries);
        body.put("next", page.size() < limit ? null : "/api/v1/audit?limit=" + limit + "&before=" + page.get(page.size() - 1).id());
        ctx.header("Cache-Control", "no-store").json(body);
    }

    static Map<String, Object> view(Token token) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", token.id());
        out.put("name", token.name());
        out.put("scopes", token.scopes().stream().map(Scope::id).toList());
        out.put("created", token.createdAt().toString());
        out.put("expires", token.expiresAt().map(Instant::toString).orElse(null));
        out.put("quota_bytes", token.quotaBytes().isPresent() ? token.quotaBytes().getAsLong() : null);
        return out;
    }

    private static Map<String, Object> view(AuditEntry entry) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", entry.id());
        out.put("at", entry.at().toString());
        out.put("token_id", entry.tokenId().isPresent() ? entry.tokenId().getAsLong() : null);
        out.put("token_name", entry.tokenName().orElse(null));
        out.put("address", entry.address());
        out.put("action", entry.action());
        out.put("target", entry.target());
        out.put("outcome", entry.outcome());
        out.put("status", entry.status());
        out.put("reason", entry.reason().orElse(null));
        return out;
    }

    private JsonNode readObject(Context ctx) throws IOException {
        CatalogHandlers.checkContentType(ctx.header("Content-Type"));
        byte[] bytes;
        try (InputStream in = ctx.req().getInputStream()) {
            bytes = in.readNBytes(MAX_BODY_BYTES + 1);
        } catch (IOException e) {
            throw new ApiException(ErrorCode.REQUEST_INVALID, "the request body could not be read (malformed chunked encoding, a stall or a cut connection)");
        }
        if (bytes.length > MAX_BODY_BYTES) {
            throw new ApiException(ErrorCode.BODY_TOO_LARGE, "the JSON body is larger than " + MAX_BODY_BYTES + " bytes", Map.of("limit", MAX_BODY_BYTES));
        }
        try {
            JsonNode node = json.readTree(bytes);
            if (node == null || !node.isObject()) throw new ApiException(ErrorCode.BODY_INVALID, "the request needs a JSON object");
            return node;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ApiException(ErrorCode.BODY_INVALID, "the body is not valid JSON: " + e.getOriginalMessage());
        }
    }

    private static Optional<String> text(JsonNode body, String field) {
        JsonNode value = body.get(field);
        if (value == null || value.isNull()) return Optional.empty();
        if (!value.isTextual()) throw invalid(field, "'" + field + "' must be a string");
        return Optional.of(value.asText());
    }

    private static long idParam(Context ctx) {
        try {
            return Long.parseLong(ctx.pathParam("id"));
        } catch (NumberFormatException e) {
            throw new ApiException(ErrorCode.NOT_FOUND, "a token id is a number (see 'strata token list')");
        }
    }

    private static ApiException invalid(String field, String message) {
        return new ApiException(ErrorCode.BODY_INVALID, message, Map.of("field", field));
    }
}
