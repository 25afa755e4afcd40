package io.strata.upload;

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

/** The {@code uploads} table. */
@RegisterRowMapper(UploadDao.Mapper.class)
public interface UploadDao {
    @SqlUpdate("INSERT INTO uploads (id, received, created_at, updated_at, token_id) VALUES (:id, 0, :now, :now, :token)")
    void insert(@Bind("id") String id, @Bind("now") String now, @Bind("token") Long tokenId);

    @SqlQuery("SELECT token_id FROM uploads WHERE id = :id AND token_id IS NOT NULL")
    Optional<Long> ownerOf(@Bind("id") String id);

    @SqlQuery("SELECT count(*) FROM uploads WHERE token_id = :token")
    int countOpen(@Bind("token") long tokenId);

    @SqlQuery("SELECT COALESCE(SUM(received), 0) FROM uploads WHERE token_id = :token")
    long sessionBytes(@Bind("token") long tokenId);

    /** Layers first stored by the token's uploads, as {@code digest size} pairs. */
    @SqlQuery("SELECT digest || ' ' || size FROM layers WHERE uploaded_by = :token")
    List<String> layersBy(@Bind("token") long tokenId);

    @SqlUpdate("UPDATE layers SET uploaded_by = :token WHERE digest = :digest AND uploaded_by IS NULL")
    int setUploader(@Bind("digest") String digest, @Bind("token") long tokenId);

    @SqlQuery("SELECT * FROM uploads WHERE id = :id")
    Optional<UploadSession> find(@Bind("id") String id);

    @SqlQuery("SELECT * FROM uploads")
    List<UploadSession> all();

    @SqlUpdate("UPDATE uploads SET received = :received, updated_at = :now WHERE id = :id")
    int update(@Bind("id") String id, @Bind("received") long received, @Bind("now") String now);

    @SqlUpdate("DELETE FROM uploads WHERE id = :id")
    int delete(@Bind("id") String id);

    final class Mapper implements RowMapper<UploadSession> {
        @Override
        public UploadSession map(ResultSet rs, StatementContext ctx) throws SQLException {
            return new UploadSession(rs.getString("id"), rs.getLong("received"),
                    Instant.parse(rs.getString("created_at")), Instant.parse(rs.getString("updated_at")));
        }
    }
}
