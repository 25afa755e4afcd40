package io.strata.catalog;

import org.jdbi.v3.sqlobject.customizer.Bind;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

/** The one-row {@code catalog_meta} table. */
public interface CatalogMetaDao {
    @SqlQuery("SELECT updated_at FROM catalog_meta WHERE id = 1")
    String updatedAt();

    @SqlUpdate("UPDATE catalog_meta SET updated_at = :at WHERE id = 1")
    void touch(@Bind("at") String at);
}
