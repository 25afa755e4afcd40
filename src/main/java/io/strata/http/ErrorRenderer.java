package io.strata.http;

import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;

/**
 * The one place errors become responses: {@code {"errors":[{"code","message","detail"}]}} with
 * the status of the code's descriptor. Unexpected exceptions are logged with their stack trace
 * and shown to the client only as INTERNAL.
 */
final class ErrorRenderer {
    private static final Logger LOG = LoggerFactory.getLogger(ErrorRenderer.class);
    /** The request attribute holding the error code answered (and the scope a 403 needed), for the audit row. */
    static final String REASON_KEY = "strata.error";

    private ErrorRenderer() {}

    static void render(ApiException e, Context ctx) {
        write(ctx, e.code(), e.getMessage(), e.detail());
    }

    static void render(HttpResponseException e, Context ctx) {
        ErrorCode code = switch (e.getStatus()) {
            case 404 -> ErrorCode.NOT_FOUND;
            case 405 -> ErrorCode.METHOD_NOT_ALLOWED;
            case 400 -> ErrorCode.BODY_INVALID;
            default -> e.getStatus() >= 500 ? ErrorCode.INTERNAL : ErrorCode.BODY_INVALID;
        };
        String message = code == ErrorCode.NOT_FOUND
                ? "no such resource: " + ctx.method().name() + " " + ctx.path() + " (see the README for the API)"
                : e.getMessage();
        write(ctx, code, message, Map.of());
    }

    static void renderUnexpected(Exception e, Context ctx) {
        LOG.error("unexpected error on {} {}", ctx.method().name(), ctx.path(), e);
        write(ctx, ErrorCode.INTERNAL, ErrorCode.INTERNAL.defaultMessage(), Map.of());
    }

    private static void write(Context ctx, ErrorCode code, String message, Map<String, Object> detail) {
        if (ctx.res().isCommitted()) return; // a body was already streaming; the connection is closed instead
        ctx.status(code.httpStatus());
        String challenge = ErrorBody.challenge(code, detail);
        if (challenge != null) ctx.header("WWW-Authenticate", challenge);
        ctx.attribute(REASON_KEY, code == ErrorCode.DENIED && detail.get("needed") != null ? code.name() + " needs " + detail.get("needed") : code.name());
        ctx.header("Cache-Control", "no-store");
        ctx.contentType("application/json").result(ErrorBody.json(code, message, detail));
    }
}
