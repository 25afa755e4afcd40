package io.strata.layer;

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

/** The {@code layers} table. */
@RegisterRowMapper(LayerDao.Mapper.class)
public interface LayerDao {
    @SqlQuery("SELECT * FROM layers WHERE digest = :digest")
    Optional<LayerRecord> find(@Bind("digest") String digest);

    @SqlQuery("SELECT * FROM layers ORDER BY digest")
    List<LayerRecord> all();

    @SqlQuery("SELECT count(*) FROM layers WHERE parent = :digest")
    int countChildren(@Bind("digest") String digest);

    /** Returns 1 when the row is new, 0 when a concurrent upload of the same bytes committed first. */
    @SqlUpdate("INSERT INTO layers (digest, size, virtual_size, parent, qcow2_version, created_at) "
            + "VALUES (:digest, :size, :virtualSize, :parent, :version, :createdAt) ON CONFLICT (digest) DO NOTHING")
    int insert(@Bind("digest") String digest, @Bind("size") long size, @Bind("virtualSize") long virtualSize,
               @Bind("parent") String parent, @Bind("version") int version, @Bind("createdAt") String createdAt);

    @SqlUpdate("DELETE FROM layers WHERE digest = :digest")
    int delete(@Bind("digest") String digest);

    /** For the metrics: how many layers are stored, and their bytes. */
    @SqlQuery("SELECT count(*) FROM layers")
    long count();

    @SqlQuery("SELECT COALESCE(SUM(size), 0) FROM layers")
    long totalBytes();

    final class Mapper implements RowMapper<LayerRecord> {
        @Override
        public LayerRecord map(ResultSet rs, StatementContext ctx) throws SQLException {
            String parent = rs.getString("parent");
            return new LayerRecord(new Digest(rs.getString("digest")), rs.getLong("size"), rs.getLong("virtual_size"),
                    Optional.ofNullable(parent).map(Digest::new), rs.getInt("qcow2_version"),
                    Instant.parse(rs.getString("created_at")));
        }
    }
}
