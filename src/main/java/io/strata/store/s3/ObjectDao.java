package io.strata.store.s3;

import org.jdbi.v3.core.mapper.RowMapper;
import org.jdbi.v3.core.statement.StatementContext;
import org.jdbi.v3.sqlobject.config.RegisterRowMapper;
import org.jdbi.v3.sqlobject.customizer.Bind;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.Optional;

/** The {@code store_objects} table: which object holds each layer. */
@RegisterRowMapper(ObjectDao.Mapper.class)
interface ObjectDao {
    /** 1 when recorded, 0 when the digest already had an object (a concurrent upload of the same bytes won). */
    @SqlUpdate("INSERT INTO store_objects (digest, object_key, size, created_at) VALUES (:digest, :key, :size, :now) "
            + "ON CONFLICT (digest) DO NOTHING")
    int insert(@Bind("digest") String digest, @Bind("key") String key, @Bind("size") long size, @Bind("now") String now);

    @SqlQuery("SELECT * FROM store_objects WHERE digest = :digest")
    Optional<StoredObject> find(@Bind("digest") String digest);

    @SqlQuery("SELECT count(*) FROM store_objects WHERE object_key = :key")
    int countByKey(@Bind("key") String key);

    @SqlQuery("SELECT object_key FROM store_objects")
    List<String> keys();

    @SqlQuery("SELECT digest FROM store_objects")
    List<String> digests();

    @SqlUpdate("DELETE FROM store_objects WHERE digest = :digest")
    int delete(@Bind("digest") String digest);

    record StoredObject(String digest, String key, long size) {}

    final class Mapper implements RowMapper<StoredObject> {
        @Override
        public StoredObject map(ResultSet rs, StatementContext ctx) throws SQLException {
            return new StoredObject(rs.getString("digest"), rs.getString("object_key"), rs.getLong("size"));
        }
    }
}
