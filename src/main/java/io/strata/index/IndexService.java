package io.strata.index;

import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.LoadingCache;
import io.strata.catalog.CatalogService;
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
        INDEX(IndexRenderer::strataIndex),
        STREAMS_INDEX(IndexRenderer::streamsIndex),
        STREAMS_IMAGES(IndexRenderer::streamsImages);

        private final Function<CatalogService.Snapshot, byte[]> renderer;

        Kind(Function<CatalogService.Snapshot, byte[]> renderer) { this.renderer = renderer; }
    }

    private record Key(long generation, Kind kind) {}

    private final CatalogService catalog;
    private final LoadingCache<Key, Document> rendered;

    public IndexService(CatalogService catalog) {
        this.catalog = catalog;
        this.rendered = Caffeine.newBuilder().maximumSize(2L * Kind.values().length).executor(Runnable::run).build(this::render);
    }

    public Document document(Kind kind) {
        CatalogService.Snapshot snapshot = catalog.snapshot();
        return rendered.get(new Key(snapshot.generation(), kind));
    }

    /** True when {@link #document} would answer from memory, without rendering. */
    public boolean rendered(Kind kind) {
        return rendered.getIfPresent(new Key(catalog.snapshot().generation(), kind)) != null;
    }

    private Document render(Key key) {
        CatalogService.Snapshot snapshot = catalog.snapshot();
        long start = System.nanoTime();
        Document document = new Document("application/json", key.kind().renderer.apply(snapshot));
        if (key.kind() == Kind.INDEX && !snapshot.hidden().isEmpty()) {
            LOG.warn("{} image(s) are hidden because a layer of their chain is missing; run 'strata verify'", snapshot.hidden().size());
        }
        LOG.debug("rendered {} of generation {} in {} ms", key.kind(), snapshot.generation(), (System.nanoTime() - start) / 1_000_000);
        return document;
    }
}
