package io.strata.lxd;

import io.strata.layer.Digest;
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

/**
 * The {@code lxd_items} table. Each setter is an upsert, so it records its digest even when the
 * row was removed meanwhile (the image was deleted and collected): a blob about to be committed
 * is always named by a row first, and the next garbage collection removes both.
 */
@RegisterRowMapper(LxdItemDao.Mapper.class)
public interface LxdItemDao {
    /** One row as stored; digests are null until recorded. */
    record Row(Digest image, Optional<Digest> meta, long metaSize, Optional<Digest> disk, long diskSize,
               Optional<Digest> combined, Instant updatedAt) {
        public Optional<LxdItems> items() {
            if (combined.isEmpty() || meta.isEmpty() || disk.isEmpty()) return Optional.empty();
            return Optional.of(new LxdItems(meta.get(), metaSize, disk.get(), diskSize, combined.get(), updatedAt));
        }
    }

    @SqlQuery("SELECT * FROM lxd_items WHERE fingerprint = :image")
    Optional<Row> find(@Bind("image") String image);

    @SqlQuery("SELECT * FROM lxd_items ORDER BY fingerprint")
    List<Row> all();

    /** Rows naming {@code digest} as their tarball or disk (blobs may be shared by images of equal content). */
    @SqlQuery("SELECT count(*) FROM lxd_items WHERE meta_sha256 = :digest OR disk_sha256 = :digest")
    int countUsing(@Bind("digest") String digest);

    @SqlUpdate("INSERT INTO lxd_items (fingerprint, meta_sha256, meta_size, created_at, updated_at) "
            + "VALUES (:image, :digest, :size, :now, :now) ON CONFLICT (fingerprint) DO UPDATE SET "
            + "meta_sha256 = :digest, meta_size = :size, combined_sha256 = NULL, updated_at = :now")
    void setMeta(@Bind("image") String image, @Bind("digest") String digest, @Bind("size") long size, @Bind("now") String now);

    @SqlUpdate("INSERT INTO lxd_items (fingerprint, disk_sha256, disk_size, created_at, updated_at) "
            + "VALUES (:image, :digest, :size, :now, :now) ON CONFLICT (fingerprint) DO UPDATE SET "
            + "disk_sha256 = :digest, disk_size = :size, combined_sha256 = NULL, updated_at = :now")
    void setDisk(@Bind("image") String image, @Bind("digest") String digest, @Bind("size") long size, @Bind("now") String now);

    /** Marks the row ready; 0 when its digests changed meanwhile (then the job runs again). */
    @SqlUpdate("UPDATE lxd_items SET combined_sha256 = :combined, updated_at = :now "
            + "WHERE fingerprint = :image AND meta_sha256 = :meta AND disk_sha256 = :disk")
    int setReady(@Bind("image") String image, @Bind("meta") String meta, @Bind("disk") String disk,
                 @Bind("combined") String combined, @Bind("now") String now);

    @SqlUpdate("DELETE FROM lxd_items WHERE fingerprint = :image")
    int delete(@Bind("image") String image);

    final class Mapper implements RowMapper<Row> {
        @Override
        public Row map(ResultSet rs, StatementContext ctx) throws SQLException {
            return new Row(new Digest(rs.getString("fingerprint")), digest(rs, "meta_sha256"), rs.getLong("meta_size"),
                    digest(rs, "disk_sha256"), rs.getLong("disk_size"), digest(rs, "combined_sha256"),
                    Instant.parse(rs.getString("updated_at")));
        }

        private static Optional<Digest> digest(ResultSet rs, String column) throws SQLException {
            return Optional.ofNullable(rs.getString(column)).map(Digest::new);
        }
    }
}
