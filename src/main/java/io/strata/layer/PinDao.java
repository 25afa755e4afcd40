package io.strata.layer;

import org.jdbi.v3.sqlobject.customizer.Bind;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

import java.util.List;

/** The {@code layer_pins} table: parents of uploads in flight on any replica. */
public interface PinDao {
    @SqlUpdate("INSERT INTO layer_pins (id, parent, since) VALUES (:id, :parent, :since)")
    void insert(@Bind("id") String id, @Bind("parent") String parent, @Bind("since") String since);

    @SqlUpdate("DELETE FROM layer_pins WHERE id = :id")
    void delete(@Bind("id") String id);

    /** ISO-8601 UTC timestamps of one format compare as text. */
    @SqlQuery("SELECT DISTINCT parent FROM layer_pins WHERE since > :cutoff")
    List<String> parentsSince(@Bind("cutoff") String cutoff);

    @SqlUpdate("DELETE FROM layer_pins WHERE since <= :cutoff")
    int deleteBefore(@Bind("cutoff") String cutoff);
}
