package io.strata.catalog;

import org.jdbi.v3.core.mapper.RowMapper;
import org.jdbi.v3.core.statement.StatementContext;
import org.jdbi.v3.sqlobject.config.RegisterRowMapper;
import org.jdbi.v3.sqlobject.customizer.Bind;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/** The {@code aliases} and {@code alias_history} tables: an alias and the record of its moves. */
@RegisterRowMapper(AliasDao.HistoryMapper.class)
public interface AliasDao {
    /** An alias and the product it names. */
    record Alias(String name, String product) {}

    @SqlQuery("SELECT product FROM aliases WHERE name = :name")
    Optional<String> productOf(@Bind("name") String name);

    @SqlQuery("SELECT name FROM aliases WHERE product = :product ORDER BY name")
    List<String> namesFor(@Bind("product") String product);

    @SqlQuery("SELECT name, product FROM aliases ORDER BY name")
    @RegisterRowMapper(AliasMapper.class)
    List<Alias> all();

    @SqlUpdate("INSERT INTO aliases (name, product, updated_at) VALUES (:name, :product, :at) "
            + "ON CONFLICT(name) DO UPDATE SET product = excluded.product, updated_at = excluded.updated_at")
    void upsert(@Bind("name") String name, @Bind("product") String product, @Bind("at") String at);

    @SqlUpdate("DELETE FROM aliases WHERE name = :name")
    int delete(@Bind("name") String name);

    @SqlUpdate("INSERT INTO alias_history (name, product, fingerprint, reason, at) VALUES (:name, :product, :fingerprint, :reason, :at)")
    void record(@Bind("name") String name, @Bind("product") String product, @Bind("fingerprint") String fingerprint,
                @Bind("reason") String reason, @Bind("at") String at);

    @SqlQuery("SELECT * FROM alias_history WHERE name = :name ORDER BY id")
    List<AliasChange> history(@Bind("name") String name);

    final class AliasMapper implements RowMapper<Alias> {
        @Override
        public Alias map(ResultSet rs, StatementContext ctx) throws SQLException {
            return new Alias(rs.getString("name"), rs.getString("product"));
        }
    }

    final class HistoryMapper implements RowMapper<AliasChange> {
        @Override
        public AliasChange map(ResultSet rs, StatementContext ctx) throws SQLException {
            return new AliasChange(rs.getString("name"), rs.getString("product"), rs.getString("fingerprint"),
                    rs.getString("reason"), Instant.parse(rs.getString("at")));
        }
    }
}
