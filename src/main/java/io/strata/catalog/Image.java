package io.strata.catalog;

import io.strata.layer.Digest;

import java.time.Instant;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

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
        // Name order, not Map.copyOf's: its iteration order changes with every JVM, and so would the
        // index bytes and ETags of an unchanged catalog across restarts.
        properties = Collections.unmodifiableMap(new TreeMap<>(Map.copyOf(properties)));
        chain = List.copyOf(chain);
    }
}
