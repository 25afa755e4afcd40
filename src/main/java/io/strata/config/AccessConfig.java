package io.strata.config;

/**
 * Who may read, and how much one token may hold open (issue 10).
 *
 * @param privateMode    every read needs a token (any valid one: every scope includes {@code read})
 * @param maxOpenUploads resumable upload sessions one token may have open at once
 */
public record AccessConfig(boolean privateMode, int maxOpenUploads) {
    public static final int DEFAULT_MAX_OPEN_UPLOADS = 32;

    public static AccessConfig defaults() { return new AccessConfig(false, DEFAULT_MAX_OPEN_UPLOADS); }

    public AccessConfig {
        if (maxOpenUploads < 1) throw new IllegalArgumentException("--max-open-uploads must be at least 1");
    }

    public AccessConfig withPrivateMode(boolean on) { return new AccessConfig(on, maxOpenUploads); }

    public AccessConfig withMaxOpenUploads(int max) { return new AccessConfig(privateMode, max); }
}
