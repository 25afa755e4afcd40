package io.strata.auth;

import org.jdbi.v3.core.mapper.RowMapper;
import org.jdbi.v3.core.statement.StatementContext;
import org.jdbi.v3.sqlobject.config.RegisterRowMapper;
import org.jdbi.v3.sqlobject.customizer.Bind;
import org.jdbi.v3.sqlobject.statement.GetGeneratedKeys;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** The {@code tokens} table. Secrets are never stored: only their sha256. */
@RegisterRowMapper(TokenDao.Mapper.class)
public interface TokenDao {
    @SqlUpdate("INSERT INTO tokens (name, secret_hash, scopes, created_at) VALUES (:name, :hash, :scopes, :createdAt)")
    @GetGeneratedKeys("id")
    long insert(@Bind("name") String name, @Bind("hash") String secretHash, @Bind("scopes") String scopes,
                @Bind("createdAt") String createdAt);

    @SqlQuery("SELECT id, name, scopes, created_at FROM tokens WHERE secret_hash = :hash AND revoked_at IS NULL")
    Optional<Token> findActive(@Bind("hash") String secretHash);

    @SqlQuery("SELECT id, name, scopes, created_at FROM tokens WHERE revoked_at IS NULL ORDER BY id")
    List<Token> listActive();

    @SqlUpdate("UPDATE tokens SET revoked_at = :at WHERE id = :id AND revoked_at IS NULL")
    int revoke(@Bind("id") long id, @Bind("at") String at);

    final class Mapper implements RowMapper<Token> {
        @Override
        public Token map(ResultSet rs, StatementContext ctx) throws SQLException {
            Set<Scope> scopes = EnumSet.noneOf(Scope.class);
            Arrays.stream(rs.getString("scopes").split(" ")).map(Scope::parse).flatMap(Optional::stream).forEach(scopes::add);
            return new Token(rs.getLong("id"), rs.getString("name"), scopes, Instant.parse(rs.getString("created_at")));
        }
    }
}
