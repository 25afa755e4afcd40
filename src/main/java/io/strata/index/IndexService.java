package io.strata.index;

import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.LoadingCache;
import io.strata.catalog.CatalogService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the index documents from memory. They are rendered once per catalog generation and
 * cached by it, so a change is visible on the next request, a reader never sees half of one, and
 * no request pays for rendering except the first after a change.
 */
public final class IndexService {
    private static final Logger LOG = LoggerFactory.getLogger(IndexService.class);

    private final CatalogService catalog;
    private final LoadingCache<Long, Documents> rendered;

    public IndexService(CatalogService catalog) {
        this.catalog = catalog;
        this.rendered = Caffeine.newBuilder().maximumSize(2).build(generation -> render());
    }

    public Documents current() { return rendered.get(catalog.generation()); }

    private Documents render() {
        long start = System.nanoTime();
        Documents documents = IndexRenderer.render(catalog.snapshot());
        if (documents.hiddenImages() > 0) {
            LOG.warn("{} image(s) are hidden because a layer of their chain is missing; run 'strata verify'", documents.hiddenImages());
        }
        LOG.debug("rendered index generation {} in {} ms", documents.generation(), (System.nanoTime() - start) / 1_000_000);
        return documents;
    }
}
