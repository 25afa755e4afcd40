package io.strata.upload;

import java.util.OptionalLong;

/**
 * Who sends an upload: the token it came with, which bounds its open sessions and, when the token
 * has one, the quota of bytes uploaded but not yet used by any published image.
 */
public record Uploader(OptionalLong tokenId, OptionalLong quotaBytes) {
    /** No token to account to: the operator's local import, and tests of the service alone. */
    public static final Uploader NONE = new Uploader(OptionalLong.empty(), OptionalLong.empty());
}
