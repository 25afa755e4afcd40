package io.strata.store;

import io.strata.config.StoreConfig;
import io.strata.layer.FsLayerStore;
import io.strata.layer.LayerStore;
import io.strata.store.s3.S3LayerStore;
import org.jdbi.v3.core.Jdbi;

import java.io.IOException;
import java.nio.file.Path;

/** Opens the {@link LayerStore} a configuration names; the one place that knows the implementations. */
public final class LayerStores {
    private LayerStores() {}

    /**
     * The store, checked: a missing bucket or refused credentials fail here with one line saying so.
     *
     * @param dataDir local directory for scratch files (and the layers themselves, for the filesystem store)
     * @param jdbi    the registry database (an object store keeps its digest → key map there)
     */
    public static LayerStore open(StoreConfig config, Path dataDir, Jdbi jdbi) throws IOException {
        LayerStore store = config.s3().isPresent() ? S3LayerStore.open(config, dataDir, jdbi)
                : new FsLayerStore(dataDir, config.directWrites());
        store.check();
        return store;
    }
}
