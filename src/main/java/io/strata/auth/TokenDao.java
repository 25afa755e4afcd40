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
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/** The {@code tokens} table. Secrets are never stored: only their sha256. */
@RegisterRowMapper(TokenDao.Mapper.class)
public interface TokenDao {
    String COLUMNS = "id, name, scopes, created_at, expires_at, last_used_at, last_used_from, revoked_at, quota_bytes";

    @SqlUpdate("INSERT INTO tokens (name, secret_hash, scopes, created_at, expires_at, quota_bytes) "
            + "VALUES (:name, :hash, :scopes, :createdAt, :expiresAt, :quota)")
    @GetGeneratedKeys("id")
    long insert(@Bind("name") String name, @Bind("hash") String secretHash, @Bind("scopes") String scopes,
                @Bind("createdAt") String createdAt, @Bind("expiresAt") String expiresAt, @Bind("quota") Long quotaBytes);

    /** The row for a secret's hash, revoked or not (so a refusal can say which), with the stored hash. */
    @SqlQuery("SELECT " + COLUMNS + ", secret_hash FROM tokens WHERE secret_hash = :hash")
    @RegisterRowMapper(Stored.Mapper.class)
    Optional<Stored> findByHash(@Bind("hash") String secretHash);

    @SqlQuery("SELECT " + COLUMNS + " FROM tokens WHERE id = :id")
    Optional<Token> find(@Bind("id") long id);

    @SqlQuery("SELECT " + COLUMNS + " FROM tokens ORDER BY id")
    List<Token> all();

    @SqlUpdate("UPDATE tokens SET revoked_at = :at WHERE id = :id AND revoked_at IS NULL")
    int revoke(@Bind("id") long id, @Bind("at") String at);

    @SqlUpdate("UPDATE tokens SET expires_at = :at WHERE id = :id")
    int expire(@Bind("id") long id, @Bind("at") String at);

    @SqlUpdate("UPDATE tokens SET last_used_at = :at, last_used_from = :address WHERE id = :id")
    int used(@Bind("id") long id, @Bind("at") String at, @Bind("address") String address);

    /** A row with the hash it was found by, for the constant-time comparison. */
    record Stored(Token token, String secretHash) {
        public static final class Mapper implements RowMapper<Stored> {
            @Override
            public Stored map(ResultSet rs, StatementContext ctx) throws SQLException {
                return new Stored(new TokenDao.Mapper().map(rs, ctx), rs.getString("secret_hash"));
            }
        }
    }

    final class Mapper implements RowMapper<Token> {
        @Override
        public Token map(ResultSet rs, StatementContext ctx) throws SQLException {
            List<Scope> scopes = Arrays.stream(rs.getString("scopes").split("[ ,]+")).filter(s -> !s.isBlank()).map(Scope::parse).toList();
            long quota = rs.getLong("quota_bytes");
            OptionalLong quotaBytes = rs.wasNull() ? OptionalLong.empty() : OptionalLong.of(quota);
            return new Token(rs.getLong("id"), rs.getString("name"), scopes, Instant.parse(rs.getString("created_at")),
                    instant(rs.getString("expires_at")), instant(rs.getString("last_used_at")),
                    Optional.ofNullable(rs.getString("last_used_from")), instant(rs.getString("revoked_at")), quotaBytes);
        }

        private static Optional<Instant> instant(String text) { return Optional.ofNullable(text).map(Instant::parse); }
    }
}
