package io.strata.api;

/**
 * Every error a client can see, as one table of descriptors: the stable code string, the HTTP
 * status it renders with, and a default message. Lower layers throw {@link ApiException} with a
 * code; {@code io.strata.http.ErrorRenderer} is the one place that turns it into a response.
 */
public enum ErrorCode {
    UNAUTHORIZED(401, "authentication required: send 'Authorization: Bearer <token>' (make one with 'strata token create')"),
    DENIED(403, "the token does not have the scope this request needs"),
    TOO_MANY_UPLOADS(429, "this token has as many open upload sessions as allowed; finish or cancel one"),
    QUOTA_EXCEEDED(507, "this token's upload quota is used up by layers no published image uses yet"),
    NOT_FOUND(404, "no such resource"),
    METHOD_NOT_ALLOWED(405, "method not allowed on this resource"),
    DIGEST_INVALID(400, "digest is not a lowercase hex sha256 or does not match the received bytes"),
    QCOW2_INVALID(400, "the upload is not an acceptable qcow2 layer"),
    PARENT_UNKNOWN(400, "the layer's backing file names a layer that is not stored; upload the parent first"),
    LAYER_UNKNOWN(404, "layer not found"),
    LAYER_TOO_LARGE(413, "the upload exceeds the configured maximum layer size"),
    INSUFFICIENT_STORAGE(507, "not enough free disk space to store the upload"),
    UPLOAD_UNKNOWN(404, "upload session not found (it may have expired, finished or been cancelled)"),
    UPLOAD_INVALID(400, "the upload request is malformed"),
    RANGE_INVALID(416, "the chunk does not start where the upload currently ends"),
    RANGE_NOT_SATISFIABLE(416, "the requested range is not satisfiable"),
    LENGTH_REQUIRED(411, "the request needs a Content-Length or chunked body"),
    BODY_INVALID(400, "the request body is not valid"),
    NAME_INVALID(400, "the name is not valid"),
    IMAGE_UNKNOWN(404, "image not found"),
    CHAIN_INCOMPLETE(400, "a layer of the image's backing chain is not stored; upload it first"),
    ALIAS_UNKNOWN(404, "alias not found"),
    CONFLICT(409, "the request conflicts with the current state"),
    UNAVAILABLE(503, "the registry is not able to serve this request right now"),
    INTERNAL(500, "internal error; the server log has the details"),
    // The HTTP layer's refusals of hostile or broken requests (README "Limits and hostile input").
    URI_INVALID(400, "the request URI is ambiguous or malformed (dot segments, encoded '/', '\\', NUL, invalid UTF-8)"),
    REQUEST_INVALID(400, "the request is not well-formed HTTP/1.1 (e.g. conflicting Content-Length or Transfer-Encoding)"),
    URI_TOO_LONG(414, "the request URI is too long"),
    HEADERS_TOO_LARGE(431, "the request header block is larger than 16 KiB"),
    BODY_TOO_LARGE(413, "the request body is larger than this endpoint accepts"),
    UNSUPPORTED_MEDIA_TYPE(415, "this endpoint takes a JSON body (Content-Type: application/json)"),
    RATE_LIMITED(429, "too many write requests from this address; wait as Retry-After says"),
    UPLOAD_TOO_SLOW(408, "the upload body arrived slower than the registry's minimum rate; resume it from the session's offset");

    private final int httpStatus;
    private final String defaultMessage;

    ErrorCode(int httpStatus, String defaultMessage) {
        this.httpStatus = httpStatus;
        this.defaultMessage = defaultMessage;
    }

    public int httpStatus() { return httpStatus; }

    public String defaultMessage() { return defaultMessage; }
}
