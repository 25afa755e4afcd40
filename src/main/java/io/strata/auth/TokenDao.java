package io.strata.auth;

import org.jdbi.v3.sqlobject.customizer.Bind;
import org.jdbi.v3.sqlobject.statement.GetGeneratedKeys;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The {@code tokens} table; rows are mapped by {@link TokenService}. */
public interface TokenDao {
    @SqlUpdate("INSERT INTO tokens (name, secret_hash, scopes, created_at) VALUES (:name, :hash, :scopes, :createdAt)")
    @GetGeneratedKeys("id")
    long insert(@Bind("name") String name, @Bind("hash") String secretHash, @Bind("scopes") String scopes,
                @Bind("createdAt") String createdAt);

    @SqlQuery("SELECT id, name, scopes, created_at FROM tokens WHERE secret_hash = :hash AND revoked_at IS NULL")
    Optional<Map<String, Object>> findActive(@Bind("hash") String secretHash);

    @SqlQuery("SELECT id, name, scopes, created_at FROM tokens WHERE revoked_at IS NULL ORDER BY id")
    List<Map<String, Object>> listActive();

    @SqlUpdate("UPDATE tokens SET revoked_at = :at WHERE id = :id AND revoked_at IS NULL")
    int revoke(@Bind("id") long id, @Bind("at") String at);
}
