package io.strata.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The one shape of an error response, {@code {"errors":[{"code","message","detail"}]}}, with the
 * status from the code's descriptor. Used by {@link ErrorRenderer} for Javalin routes and by the
 * {@link FastReads} handlers and the guards of {@code io.strata.http.guard} directly.
 */
public final class ErrorBody {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ErrorBody() {}

    public static byte[] json(ErrorCode code, String message, Map<String, Object> detail) {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("code", code.name());
        error.put("message", message);
        error.put("detail", detail);
        try {
            return JSON.writeValueAsBytes(Map.of("errors", List.of(error)));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The {@code WWW-Authenticate} of a 401 or 403 (RFC 6750): the realm when no valid token came,
     * {@code insufficient_scope} and the scope needed when the token lacks it; null otherwise.
     */
    static String challenge(ErrorCode code, Map<String, Object> detail) {
        if (code == ErrorCode.UNAUTHORIZED) return "Bearer realm=\"strata\"";
        if (code == ErrorCode.DENIED) {
            Object scope = detail.get("scope");
            return "Bearer error=\"insufficient_scope\"" + (scope == null ? "" : ", scope=\"" + scope + "\"");
        }
        return null;
    }

    /** Writes {@code e} as the whole response on the Jetty core API; headers already set (e.g. Content-Range on a 416) stay. */
    public static void write(Response response, Callback callback, ApiException e, boolean head) {
        write(response, callback, e.code().httpStatus(), e, head);
    }

    /** As {@link #write(Response, Callback, ApiException, boolean)} with another status than the code's (Jetty's own refusals). */
    public static void write(Response response, Callback callback, int status, ApiException e, boolean head) {
        byte[] body = json(e.code(), e.getMessage(), e.detail());
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        String challenge = challenge(e.code(), e.detail());
        if (challenge != null) response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, challenge);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        if (head) {
            callback.succeeded();
        } else {
            response.write(true, ByteBuffer.wrap(body), callback);
        }
    }
}
