package io.strata.upload;

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

/** The {@code uploads} table, apart from what every chunk runs on its row ({@link CheckpointRows}). */
@RegisterRowMapper(UploadDao.Mapper.class)
public interface UploadDao {
    @SqlUpdate("INSERT INTO uploads (id, received, created_at, updated_at, token_id, hash_state, store_state) "
            + "VALUES (:id, 0, :now, :now, :token, :hash, :store)")
    void insert(@Bind("id") String id, @Bind("now") String now, @Bind("token") Long tokenId, @Bind("hash") String hashState,
                @Bind("store") String storeState);

    @SqlQuery("SELECT count(*) FROM uploads WHERE token_id = :token")
    int countOpen(@Bind("token") long tokenId);

    /** For the metrics: every open session, whoever opened it. */
    @SqlQuery("SELECT count(*) FROM uploads")
    int countAll();

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

    @SqlQuery("SELECT id FROM uploads")
    List<String> ids();

    /** Drops every writer claim: only for a process that knows it is the database's sole user (startup recovery). */
    @SqlUpdate("UPDATE uploads SET writer = NULL, writer_until = NULL WHERE writer IS NOT NULL")
    int releaseAllWriters();

    @SqlUpdate("DELETE FROM uploads WHERE id = :id")
    int delete(@Bind("id") String id);

    final class Mapper implements RowMapper<UploadSession> {
        @Override
        public UploadSession map(ResultSet rs, StatementContext ctx) throws SQLException {
            return CheckpointRows.session(rs);
        }
    }
}
