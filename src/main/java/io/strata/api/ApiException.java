package io.strata.api;

import java.util.Map;

/** A failure a client is told about: a code, a message that says what to do next, and detail fields. */
public class ApiException extends RuntimeException {
    private final ErrorCode code;
    private final Map<String, Object> detail;

    public ApiException(ErrorCode code, String message, Map<String, Object> detail) {
        super(message == null ? code.defaultMessage() : message);
        this.code = code;
        // Keep the caller's field order: it is what a person reads first in the JSON.
        this.detail = detail == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(detail));
    }

    public ApiException(ErrorCode code, String message) { this(code, message, Map.of()); }

    public ApiException(ErrorCode code) { this(code, null, Map.of()); }

    public ErrorCode code() { return code; }

    public Map<String, Object> detail() { return detail; }
}
