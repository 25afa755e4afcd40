package io.strata.upload;

import java.time.Instant;

/**
 * A resumable upload as a client sees it: how many bytes have durably arrived. {@code hashState}
 * (a saved sha256 state, null when it could not be saved) and {@code storeState} (the store's
 * checkpoint) are what another process needs to continue it.
 */
public record UploadSession(String id, long received, Instant createdAt, Instant updatedAt, String hashState, String storeState) {}
