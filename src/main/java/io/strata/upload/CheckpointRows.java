package io.strata.upload;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;
import java.util.Optional;

/**
 * The statements a resumable upload runs on its session's row with every chunk: the row read, the
 * checkpoint, the hash state that follows it, the owner and the writer claim. They go over the
 * checkpoint pool ({@link io.strata.db.Database#checkpointSource}), whose commits skip the fsync.
 *
 * <p>Plain JDBC rather than a Jdbi SQL object, because these run several times per chunk on the
 * ingest path: warm, a read and a checkpoint cost 77 µs of CPU and 111 KB of garbage through the
 * on-demand SQL object, against 29–31 µs and 7.4 KB here ({@code bench/CheckpointCost.java}), and
 * Jdbi's per-call machinery (config copies, extension attachment) was where the JIT kept compiling
 * and deoptimising through every chunked upload of a warmed server. The other statements on the
 * {@code uploads} table, run once per session, stay in {@link UploadDao}.
 */
public final class CheckpointRows {
    private static final String FIND = "SELECT id, received, created_at, updated_at, hash_state, store_state FROM uploads WHERE id = ?";
    private static final String UPDATE = "UPDATE uploads SET received = ?, hash_state = ?, store_state = ?, updated_at = ? "
            + "WHERE id = ? AND received = ?";
    private static final String FILL_HASH = "UPDATE uploads SET hash_state = ? WHERE id = ? AND received = ? AND hash_state IS NULL";
    private static final String OWNER = "SELECT token_id FROM uploads WHERE id = ? AND token_id IS NOT NULL";
    private static final String CLAIM = "UPDATE uploads SET writer = ?, writer_until = ? WHERE id = ? "
            + "AND (writer IS NULL OR writer = ? OR writer_until < ?)";
    private static final String RELEASE = "UPDATE uploads SET writer = NULL, writer_until = NULL WHERE id = ? AND writer = ?";

    /** A statement on the session row failed; the {@link SQLException} is the cause (a full disk is recognised by it). */
    public static final class RowException extends RuntimeException {
        RowException(String what, SQLException cause) {
            super(what + ": " + cause.getMessage(), cause);
        }
    }

    private final DataSource source;

    public CheckpointRows(DataSource source) {
        this.source = source;
    }

    public Optional<UploadSession> find(String id) {
        try (Connection connection = source.getConnection(); PreparedStatement find = connection.prepareStatement(FIND)) {
            find.setString(1, id);
            try (ResultSet rs = find.executeQuery()) {
                return rs.next() ? Optional.of(session(rs)) : Optional.empty();
            }
        } catch (SQLException e) {
            throw new RowException("reading upload " + id, e);
        }
    }

    /** The row as a session; also {@link UploadDao.Mapper}'s, so both read the columns alike. */
    static UploadSession session(ResultSet rs) throws SQLException {
        return new UploadSession(rs.getString("id"), rs.getLong("received"), Instant.parse(rs.getString("created_at")),
                Instant.parse(rs.getString("updated_at")), rs.getString("hash_state"), rs.getString("store_state"));
    }

    /** Records a checkpoint; 0 when the row is gone or another writer moved it past {@code from} meanwhile. */
    public int update(String id, long from, long received, String hashState, String storeState, String now) {
        return change("recording the checkpoint of upload " + id, UPDATE, received, hashState, storeState, now, id, from);
    }

    /** Records the hash state of a checkpoint recorded without one; 0 when the session has moved on or is gone. */
    public int fillHashState(String id, long received, String hashState) {
        return change("recording the hash state of upload " + id, FILL_HASH, hashState, id, received);
    }

    /** The token that started the session; empty when none did or the row is gone. */
    public Optional<Long> ownerOf(String id) {
        try (Connection connection = source.getConnection(); PreparedStatement owner = connection.prepareStatement(OWNER)) {
            owner.setString(1, id);
            try (ResultSet rs = owner.executeQuery()) {
                return rs.next() ? Optional.of(rs.getLong(1)) : Optional.empty();
            }
        } catch (SQLException e) {
            throw new RowException("reading the owner of upload " + id, e);
        }
    }

    /**
     * Claims the session for one writing process until {@code until}; 0 when another process holds an
     * unexpired claim (ISO-8601 UTC strings of one width compare in time order). Also renews one's own claim.
     */
    public int claimWriter(String id, String writer, String until, String now) {
        return change("claiming upload " + id, CLAIM, writer, until, id, writer, now);
    }

    public int releaseWriter(String id, String writer) {
        return change("releasing upload " + id, RELEASE, id, writer);
    }

    /** Runs one UPDATE with {@code values} bound in order (String, Long or null); returns the rows changed. */
    private int change(String what, String sql, Object... values) {
        try (Connection connection = source.getConnection(); PreparedStatement update = connection.prepareStatement(sql)) {
            for (int i = 0; i < values.length; i++) {
                Object value = values[i];
                if (value == null) update.setNull(i + 1, Types.VARCHAR);
                else if (value instanceof Long number) update.setLong(i + 1, number);
                else update.setString(i + 1, (String) value);
            }
            return update.executeUpdate();
        } catch (SQLException e) {
            throw new RowException(what, e);
        }
    }
}
