package io.strata.catalog;

import org.jdbi.v3.sqlobject.customizer.Bind;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

/** The one-row {@code catalog_meta} table. */
public interface CatalogMetaDao {
    @SqlQuery("SELECT updated_at FROM catalog_meta WHERE id = 1")
    String updatedAt();

    /** Every catalog change: the index's "updated", and the generation replicas poll. */
    @SqlUpdate("UPDATE catalog_meta SET updated_at = :at, generation = generation + 1 WHERE id = 1")
    void touch(@Bind("at") String at);

    @SqlQuery("SELECT generation FROM catalog_meta WHERE id = 1")
    long generation();

    /** A change other replicas must notice that does not alter the index's "updated" (layers removed). */
    @SqlUpdate("UPDATE catalog_meta SET generation = generation + 1 WHERE id = 1")
    void bump();
}
