package io.strata.signing;

import org.jdbi.v3.sqlobject.customizer.Bind;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

import java.util.Optional;

/** The {@code signing_key} table: at most one row. */
public interface SigningKeyDao {
    @SqlQuery("SELECT private_key FROM signing_key WHERE id = 1")
    Optional<String> find();

    /** Keeps {@code privateKey} unless a key is there already (another replica made one first): 1 when kept. */
    @SqlUpdate("INSERT INTO signing_key (id, private_key, created_at) VALUES (1, :key, :now) ON CONFLICT (id) DO NOTHING")
    int insertIfAbsent(@Bind("key") String privateKey, @Bind("now") String now);
}
