package io.strata.index;

import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.LoadingCache;
import io.strata.catalog.CatalogService;
import io.strata.signing.Minisign;
import io.strata.signing.SigningKey;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.function.Function;

/**
 * Serves the index documents from memory. Each is rendered once per catalog generation, on its
 * first request, and cached by (generation, kind): a change is visible on the next request, a
 * reader never sees half of one, and no other request pays for rendering.
 */
public final class IndexService {
    private static final Logger LOG = LoggerFactory.getLogger(IndexService.class);

    /** The documents of DESIGN §4. */
    public enum Kind {
        INDEX("index.json", IndexRenderer::strataIndex),
        STREAMS_INDEX("streams/v1/index.json", IndexRenderer::streamsIndex),
        STREAMS_IMAGES("streams/v1/images.json", IndexRenderer::streamsImages);

        private final String path;
        private final Function<CatalogService.Snapshot, byte[]> renderer;

        Kind(String path, Function<CatalogService.Snapshot, byte[]> renderer) {
            this.path = path;
            this.renderer = renderer;
        }

        /** Where the document is served, without the leading slash; its signature is at {@code path + ".minisig"}. */
        public String path() { return path; }
    }

    private record Key(long generation, Kind kind) {}

    private final CatalogService catalog;
    private final SigningKey signingKey;
    private final byte[] publicKey;
    private final LoadingCache<Key, Document> rendered;

    /** @param key signs every rendering (DESIGN §12) */
    public IndexService(CatalogService catalog, SigningKey key) {
        this.catalog = catalog;
        this.signingKey = key;
        this.publicKey = Minisign.publicKeyFile(key).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        this.rendered = Caffeine.newBuilder().maximumSize(2L * Kind.values().length).executor(Runnable::run).build(this::render);
    }

    public Document document(Kind kind) {
        CatalogService.Snapshot snapshot = catalog.snapshot();
        return rendered.get(new Key(snapshot.generation(), kind));
    }

    /** The key that signs the documents, as the minisign public key file {@code /strata.pub} serves. */
    public byte[] publicKeyFile() { return publicKey.clone(); }

    /** True when {@link #document} would answer from memory, without rendering. */
    public boolean rendered(Kind kind) {
        return rendered.getIfPresent(new Key(catalog.snapshot().generation(), kind)) != null;
    }

    private Document render(Key key) {
        CatalogService.Snapshot snapshot = catalog.snapshot();
        long start = System.nanoTime();
        Document document = new Document("application/json", key.kind().path, key.kind().renderer.apply(snapshot), signingKey);
        if (key.kind() == Kind.INDEX && !snapshot.hidden().isEmpty()) {
            LOG.warn("{} image(s) are hidden because a layer of their chain is missing; run 'strata verify'", snapshot.hidden().size());
        }
        LOG.debug("rendered {} of generation {} in {} ms", key.kind(), snapshot.generation(), (System.nanoTime() - start) / 1_000_000);
        return document;
    }
}
