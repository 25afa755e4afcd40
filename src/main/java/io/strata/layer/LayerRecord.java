package io.strata.layer;

import java.time.Instant;
import java.util.Optional;

/** A stored layer: its id, byte size, guest-visible size, parent (the layer its backing_file names) and when it arrived. */
public record LayerRecord(Digest digest, long size, long virtualSize, Optional<Digest> parent, int qcow2Version, Instant createdAt) {}
