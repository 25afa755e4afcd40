package io.strata.client.cache;

import io.strata.layer.Digest;

import java.time.Instant;
import java.util.List;

/**
 * One image in the reference store: what was pulled, from where, and which layers (base first,
 * with their sizes) make it up. Times are ISO-8601 strings in the file.
 *
 * @param aliases  the aliases of {@code registry} that resolved to this image when it was pulled
 *                 (an alias points at one cached image per registry: the most recent pull)
 * @param sizes    the size of each chain layer, so recovery can tell a complete file from a wrong one
 * @param lastUsed when a pull last resolved to this image; prune evicts the least recently used first
 */
public record CachedImage(String fingerprint, String registry, String product, String version, List<String> aliases,
                          List<String> chain, List<Long> sizes, String pulled, String lastUsed) {
    public CachedImage {
        aliases = aliases == null ? List.of() : List.copyOf(aliases);
        chain = List.copyOf(chain);
        sizes = List.copyOf(sizes);
        if (chain.size() != sizes.size() || chain.isEmpty()) {
            throw new IllegalArgumentException("an image needs one size per chain layer");
        }
    }

    public List<Digest> layers() { return chain.stream().map(Digest::new).toList(); }

    public Digest top() { return new Digest(chain.get(chain.size() - 1)); }

    public long downloadSize() { return sizes.stream().mapToLong(Long::longValue).sum(); }

    public Instant lastUsedAt() { return Instant.parse(lastUsed); }

    CachedImage withLastUsed(Instant when) {
        return new CachedImage(fingerprint, registry, product, version, aliases, chain, sizes, pulled, when.toString());
    }

    CachedImage withAliases(List<String> newAliases) {
        return new CachedImage(fingerprint, registry, product, version, newAliases, chain, sizes, pulled, lastUsed);
    }
}
