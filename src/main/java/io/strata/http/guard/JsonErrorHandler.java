package io.strata.http.guard;

import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.http.ErrorBody;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.http.MimeTypes;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

import java.nio.ByteBuffer;
import java.util.Locale;
import java.util.Map;

/**
 * Jetty's own refusals (a request it cannot parse, an ambiguous URI, a header block over the
 * limit, conflicting Content-Length or Transfer-Encoding) in Strata's JSON error shape instead
 * of Jetty's HTML page. Jetty keeps deciding the status and whether the connection closes.
 */
final class JsonErrorHandler extends ErrorHandler {
    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        int status = request.getAttribute(ERROR_STATUS) instanceof Integer s ? s : response.getStatus();
        String reason = request.getAttribute(ERROR_MESSAGE) instanceof String m ? m : null;
        Throwable cause = request.getAttribute(ERROR_EXCEPTION) instanceof Throwable t ? t : null;
        // Jetty names a request whose request line it could not parse "/badMessage": the URI was the problem.
        boolean unparsedUri = "/badMessage".equals(request.getHttpURI().getPath());
        ApiException error = describe(status, reason, cause, unparsedUri);
        ErrorBody.write(response, callback, status, error, HttpMethod.HEAD.is(request.getMethod()));
        return true;
    }

    /** Used when the request could not even be parsed: there is no request object, only the status. */
    @Override
    public ByteBuffer badMessageError(int status, String reason, HttpFields.Mutable fields) {
        ApiException error = describe(status, reason, null, false);
        fields.put(new HttpField(HttpHeader.CONTENT_TYPE, MimeTypes.Type.APPLICATION_JSON.asString()));
        fields.put(HttpHeader.CACHE_CONTROL, "no-store");
        return ByteBuffer.wrap(ErrorBody.json(error.code(), error.getMessage(), error.detail()));
    }

    static ApiException describe(int status, String reason, Throwable cause, boolean unparsedUri) {
        ErrorCode code = switch (status) {
            case 400 -> unparsedUri || aboutUri(reason, cause) ? ErrorCode.URI_INVALID : ErrorCode.REQUEST_INVALID;
            case 404 -> ErrorCode.NOT_FOUND;
            case 405 -> ErrorCode.METHOD_NOT_ALLOWED;
            case 413 -> ErrorCode.BODY_TOO_LARGE;
            case 414 -> ErrorCode.URI_TOO_LONG;
            case 431 -> ErrorCode.HEADERS_TOO_LARGE;
            default -> status >= 500 ? ErrorCode.INTERNAL : ErrorCode.REQUEST_INVALID;
        };
        // Jetty's reasons are fixed phrases ("Multiple Content-Lengths"), never request bytes: safe to show.
        String said = reason == null || reason.isBlank() ? null : reason.length() > 120 ? reason.substring(0, 120) : reason;
        String message = said == null || code == ErrorCode.INTERNAL ? code.defaultMessage() : code.defaultMessage() + ": " + said;
        return new ApiException(code, message, Map.of());
    }

    private static boolean aboutUri(String reason, Throwable cause) {
        StringBuilder text = new StringBuilder(reason == null ? "" : reason);
        for (Throwable t = cause; t != null; t = t.getCause()) text.append(' ').append(t.getMessage());
        String lower = text.toString().toLowerCase(Locale.ROOT);
        // Jetty's phrases for URI violations: "Ambiguous URI path separator", "Suspicious Path Character", "Bad UTF-8 encoding".
        return lower.contains("uri") || lower.contains("path") || lower.contains("utf-8");
    }
}
