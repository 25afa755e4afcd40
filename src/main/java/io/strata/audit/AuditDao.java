package io.strata.audit;

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
import java.util.OptionalLong;

/** The {@code audit_log} table: insert and read, never update or delete. */
@RegisterRowMapper(AuditDao.Mapper.class)
public interface AuditDao {
    /** The id is the next after the largest, computed in the same statement (portable; SQLite serialises writers). */
    @SqlUpdate("INSERT INTO audit_log (id, at, token_id, token_name, address, action, target, outcome, status, reason) "
            + "SELECT COALESCE(MAX(id), 0) + 1, :at, :tokenId, :tokenName, :address, :action, :target, :outcome, :status, :reason FROM audit_log")
    int insert(@Bind("at") String at, @Bind("tokenId") Long tokenId, @Bind("tokenName") String tokenName, @Bind("address") String address,
               @Bind("action") String action, @Bind("target") String target, @Bind("outcome") String outcome,
               @Bind("status") int status, @Bind("reason") String reason);

    /** Newest first, ids below {@code before}. */
    @SqlQuery("SELECT * FROM audit_log WHERE id < :before ORDER BY id DESC LIMIT :limit")
    List<AuditEntry> page(@Bind("before") long before, @Bind("limit") int limit);

    final class Mapper implements RowMapper<AuditEntry> {
        @Override
        public AuditEntry map(ResultSet rs, StatementContext ctx) throws SQLException {
            long tokenId = rs.getLong("token_id");
            OptionalLong token = rs.wasNull() ? OptionalLong.empty() : OptionalLong.of(tokenId);
            return new AuditEntry(rs.getLong("id"), Instant.parse(rs.getString("at")), token, Optional.ofNullable(rs.getString("token_name")),
                    rs.getString("address"), rs.getString("action"), rs.getString("target"), rs.getString("outcome"),
                    rs.getInt("status"), Optional.ofNullable(rs.getString("reason")));
        }
    }
}
