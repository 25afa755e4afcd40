package io.strata.jobs;

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

/**
 * The {@code jobs} table. Every state change is one conditional UPDATE whose affected row count
 * says whether this worker won: claims compare the lease, finishes compare the owner. That is
 * correct with any number of workers on one database, with no lock held between statements.
 * Plain SQL that SQLite and PostgreSQL both run.
 */
@RegisterRowMapper(JobDao.Mapper.class)
public interface JobDao {
    /** Adds a job unless one of this kind and target exists; 1 when added. */
    @SqlUpdate("INSERT INTO jobs (id, kind, target, state, attempts, lease_until, run_after, created_at, updated_at) "
            + "VALUES (:id, :kind, :target, 'pending', 0, 0, 0, :now, :now) ON CONFLICT (kind, target) DO NOTHING")
    int insert(@Bind("id") String id, @Bind("kind") String kind, @Bind("target") String target, @Bind("now") String now);

    /** Makes a finished job due again (its work was undone, e.g. its output was collected); 1 when re-armed. */
    @SqlUpdate("UPDATE jobs SET state = 'pending', attempts = 0, last_error = NULL, run_after = 0, updated_at = :now "
            + "WHERE kind = :kind AND target = :target AND state = 'done'")
    int rearm(@Bind("kind") String kind, @Bind("target") String target, @Bind("now") String now);

    @SqlQuery("SELECT id FROM jobs WHERE state <> 'done' AND run_after <= :nowMillis AND lease_until < :nowMillis "
            + "ORDER BY run_after, created_at LIMIT :limit")
    List<String> due(@Bind("nowMillis") long nowMillis, @Bind("limit") int limit);

    /** Takes the lease if it is still free; 1 when this worker got the job. */
    @SqlUpdate("UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = :owner, lease_until = :until, "
            + "updated_at = :now WHERE id = :id AND state <> 'done' AND run_after <= :nowMillis AND lease_until < :nowMillis")
    int claim(@Bind("id") String id, @Bind("owner") String owner, @Bind("until") long until,
              @Bind("nowMillis") long nowMillis, @Bind("now") String now);

    /** Moves the lease forward; 0 means it was lost (expired and taken by another worker). */
    @SqlUpdate("UPDATE jobs SET lease_until = :until WHERE id = :id AND lease_owner = :owner AND state = 'running'")
    int renew(@Bind("id") String id, @Bind("owner") String owner, @Bind("until") long until);

    @SqlUpdate("UPDATE jobs SET state = 'done', last_error = NULL, lease_owner = NULL, lease_until = 0, updated_at = :now "
            + "WHERE id = :id AND lease_owner = :owner AND state = 'running'")
    int done(@Bind("id") String id, @Bind("owner") String owner, @Bind("now") String now);

    @SqlUpdate("UPDATE jobs SET state = 'failed', last_error = :error, lease_owner = NULL, lease_until = 0, "
            + "run_after = :runAfter, updated_at = :now WHERE id = :id AND lease_owner = :owner AND state = 'running'")
    int failed(@Bind("id") String id, @Bind("owner") String owner, @Bind("error") String error,
               @Bind("runAfter") long runAfter, @Bind("now") String now);

    /** Gives back the leases of a worker that stops cleanly, so its jobs need not wait for them to expire. */
    @SqlUpdate("UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_until = 0, updated_at = :now "
            + "WHERE lease_owner = :owner AND state = 'running'")
    int release(@Bind("owner") String owner, @Bind("now") String now);

    @SqlQuery("SELECT * FROM jobs WHERE id = :id")
    Optional<Job> find(@Bind("id") String id);

    @SqlQuery("SELECT * FROM jobs WHERE kind = :kind AND target = :target")
    Optional<Job> find(@Bind("kind") String kind, @Bind("target") String target);

    @SqlQuery("SELECT * FROM jobs WHERE kind = :kind ORDER BY created_at, id")
    List<Job> ofKind(@Bind("kind") String kind);

    @SqlQuery("SELECT * FROM jobs WHERE state <> 'done' ORDER BY created_at, id")
    List<Job> unfinished();

    @SqlUpdate("DELETE FROM jobs WHERE kind = :kind AND target = :target")
    int delete(@Bind("kind") String kind, @Bind("target") String target);

    final class Mapper implements RowMapper<Job> {
        @Override
        public Job map(ResultSet rs, StatementContext ctx) throws SQLException {
            return new Job(rs.getString("id"), rs.getString("kind"), rs.getString("target"), Job.State.of(rs.getString("state")),
                    rs.getLong("attempts"), Optional.ofNullable(rs.getString("last_error")), Optional.ofNullable(rs.getString("lease_owner")),
                    rs.getLong("lease_until"), rs.getLong("run_after"), rs.getString("created_at"), rs.getString("updated_at"));
        }
    }
}
