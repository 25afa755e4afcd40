package io.strata.client;

import java.util.OptionalLong;

/**
 * The registry answered with an error status. {@link #isTransient()} tells a retry loop whether
 * asking again can help (5xx, 408, 429) or the request itself is wrong (other 4xx).
 */
public final class RegistryException extends ClientException {
    private final int status;
    private final String code;
    private final OptionalLong uploadOffset;

    RegistryException(String message, int status, String code, OptionalLong uploadOffset) {
        super(message);
        this.status = status;
        this.code = code;
        this.uploadOffset = uploadOffset;
    }

    public int status() { return status; }

    /** The API error code ({@code LAYER_UNKNOWN}, ...), or the empty string when the body had none. */
    public String code() { return code; }

    /** {@code Upload-Offset} of an upload error response: where the upload really is. */
    public OptionalLong uploadOffset() { return uploadOffset; }

    public boolean isTransient() { return status >= 500 || status == 408 || status == 429; }
}
