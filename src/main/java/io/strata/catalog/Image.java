package io.strata.catalog;

import io.strata.layer.Digest;

import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * A published image version. Its fingerprint is its top layer's sha256; its chain (base first)
 * and sizes were resolved when it was published and are never re-derived.
 */
public record Image(
        Digest fingerprint,
        Product product,
        String version,
        String releaseTitle,
        String description,
        Map<String, String> properties,
        List<Digest> chain,
        long downloadSize,
        long virtualSize,
        Instant createdAt) {

    public Image {
        properties = Map.copyOf(properties);
        chain = List.copyOf(chain);
    }
}
