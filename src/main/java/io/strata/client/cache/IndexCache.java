package io.strata.client.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.strata.client.Backoff;
import io.strata.client.ClientException;
import io.strata.client.Console;
import io.strata.client.RegistryClient;
import io.strata.client.RegistryException;
import io.strata.client.RemoteIndex;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;

/**
 * The one index call of a pull, made conditional: the last {@code /index.json} of each registry
 * is kept in the cache with its ETag, sent back as {@code If-None-Match}, and reused on 304.
 * The copy also lets {@code --prefer-cached} tell, offline, that a newer image was already listed.
 */
public final class IndexCache {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A fetched index and whether it came from the cache (304) or the network (200). */
    public record Fetched(RemoteIndex index, boolean notModified, int bodyBytes) {}

    /** A stored copy. */
    public record Copy(RemoteIndex index, Optional<String> etag, Instant fetched) {}

    private final CacheLayout cache;
    private final RefStore lockOwner;

    public IndexCache(CacheLayout cache, RefStore lockOwner) {
        this.cache = cache;
        this.lockOwner = lockOwner;
    }

    /**
     * Fetches the index, retrying connection failures and 5xx answers with backoff. A new copy is
     * kept only once {@code trust} accepts its signature; a 304 reuses a copy accepted before.
     */
    public Fetched fetch(RegistryClient registry, int maxAttempts, Backoff backoff, Console console, IndexTrust trust)
            throws IOException, InterruptedException {
        Optional<Copy> copy = stored(registry.name());
        Optional<String> etag = trust.overridesPin(registry) ? Optional.empty() : copy.flatMap(Copy::etag);
        boolean mismatchSeen = false;
        for (int attempt = 1; ; attempt++) {
            try {
                RegistryClient.IndexResponse response = registry.index(etag);
                if (response.notModified() && copy.isPresent()) return new Fetched(copy.get().index(), true, 0);
                if (response.notModified()) {
                    etag = Optional.empty(); // a 304 for a copy we no longer have: ask again unconditionally
                    continue;
                }
                Optional<ClientException> mismatch = trust.check(registry, response.body(), console);
                if (mismatch.isPresent()) {
                    // A publish between the index and its signature gives a signature of the next rendering: ask once more.
                    if (mismatchSeen) throw mismatch.get();
                    mismatchSeen = true;
                    attempt--;
                    continue;
                }
                RemoteIndex index = RemoteIndex.parse(response.body(), registry.name());
                store(registry.name(), response.etag(), response.body());
                return new Fetched(index, false, response.body().length);
            } catch (RegistryException e) {
                if (!e.isTransient() || attempt >= maxAttempts) throw e;
                console.info("index: " + e.getMessage() + "; trying again (" + attempt + "/" + maxAttempts + ")");
            } catch (ClientException e) {
                throw e;
            } catch (IOException e) {
                if (attempt >= maxAttempts) {
                    throw new ClientException("cannot fetch " + registry.name() + "index.json after " + maxAttempts + " attempts: "
                            + RegistryClient.describe(e) + "; check the registry is reachable, or use --prefer-cached to use an image pulled before", e);
                }
                console.info("index: " + RegistryClient.describe(e) + "; trying again (" + attempt + "/" + maxAttempts + ")");
            }
            backoff.sleep(attempt);
        }
    }

    /** The stored copy for {@code registry}, if any and readable. */
    public Optional<Copy> stored(String registry) {
        Path file = cache.index(registry);
        try {
            JsonNode node = JSON.readTree(Files.readAllBytes(file));
            if (!registry.equals(node.path("registry").asText())) return Optional.empty();
            RemoteIndex index = RemoteIndex.parse(JSON.writeValueAsBytes(node.get("index")), registry);
            Optional<String> etag = node.hasNonNull("etag") ? Optional.of(node.get("etag").asText()) : Optional.empty();
            return Optional.of(new Copy(index, etag, Instant.parse(node.path("fetched").asText())));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException | RuntimeException e) {
            return Optional.empty(); // a damaged copy only costs a full download of the index
        }
    }

    private void store(String registry, Optional<String> etag, byte[] body) throws IOException, InterruptedException {
        ObjectNode node = JSON.createObjectNode();
        node.put("registry", registry);
        if (etag.isPresent()) node.put("etag", etag.get());
        else node.putNull("etag");
        node.put("fetched", Instant.now().toString());
        node.set("index", JSON.readTree(body));
        byte[] bytes = JSON.writeValueAsBytes(node);
        Files.createDirectories(cache.indexes());
        try (FileLocks.Held lock = lockOwner.lockCache()) {
            RefStore.write(cache.index(registry), bytes);
        }
    }
}
