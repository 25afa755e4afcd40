package io.strata.upload;

import java.time.Instant;

/** A resumable upload as a client sees it: how many bytes have durably arrived. */
public record UploadSession(String id, long received, Instant createdAt, Instant updatedAt) {}
