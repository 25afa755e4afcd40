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
    @SqlUpdate("INSERT INTO uploads (id, received, created_at, updated_at, token_id, hash_state, store_state) "
            + "VALUES (:id, 0, :now, :now, :token, :hash, :store)")
    void insert(@Bind("id") String id, @Bind("now") String now, @Bind("token") Long tokenId, @Bind("hash") String hashState,
                @Bind("store") String storeState);

    @SqlQuery("SELECT token_id FROM uploads WHERE id = :id AND token_id IS NOT NULL")
    Optional<Long> ownerOf(@Bind("id") String id);

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

    /** Records a checkpoint; 0 when the row is gone or another writer moved it past {@code from} meanwhile. */
    @SqlUpdate("UPDATE uploads SET received = :received, hash_state = :hash, store_state = :store, updated_at = :now "
            + "WHERE id = :id AND received = :from")
    int update(@Bind("id") String id, @Bind("from") long from, @Bind("received") long received, @Bind("hash") String hashState,
               @Bind("store") String storeState, @Bind("now") String now);

    /**
     * Records the hash state of a checkpoint that was recorded without one (its hash was still
     * running); 0 when the session has moved on or is gone.
     */
    @SqlUpdate("UPDATE uploads SET hash_state = :hash WHERE id = :id AND received = :received AND hash_state IS NULL")
    int fillHashState(@Bind("id") String id, @Bind("received") long received, @Bind("hash") String hashState);

    /**
     * Claims the session for one writing process until {@code until}; 0 when another process holds an
     * unexpired claim (ISO-8601 UTC strings of one width compare in time order). Also renews one's own claim.
     */
    @SqlUpdate("UPDATE uploads SET writer = :writer, writer_until = :until WHERE id = :id "
            + "AND (writer IS NULL OR writer = :writer OR writer_until < :now)")
    int claimWriter(@Bind("id") String id, @Bind("writer") String writer, @Bind("until") String until, @Bind("now") String now);

    /** Drops every writer claim: only for a process that knows it is the database's sole user (startup recovery). */
    @SqlUpdate("UPDATE uploads SET writer = NULL, writer_until = NULL WHERE writer IS NOT NULL")
    int releaseAllWriters();

    @SqlUpdate("UPDATE uploads SET writer = NULL, writer_until = NULL WHERE id = :id AND writer = :writer")
    int releaseWriter(@Bind("id") String id, @Bind("writer") String writer);

    @SqlUpdate("DELETE FROM uploads WHERE id = :id")
    int delete(@Bind("id") String id);

    final class Mapper implements RowMapper<UploadSession> {
        @Override
        public UploadSession map(ResultSet rs, StatementContext ctx) throws SQLException {
            return new UploadSession(rs.getString("id"), rs.getLong("received"),
                    Instant.parse(rs.getString("created_at")), Instant.parse(rs.getString("updated_at")),
                    rs.getString("hash_state"), rs.getString("store_state"));
        }
    }
}
