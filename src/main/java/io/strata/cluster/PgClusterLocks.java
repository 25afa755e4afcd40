package io.strata.cluster;

import org.jdbi.v3.core.Handle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.Callable;

/**
 * {@link ClusterLocks} as PostgreSQL advisory locks. Commits hold the commit key shared and
 * catalog transactions the catalog key exclusively, both transaction-scoped, so a crashed or
 * disconnected replica never leaves one behind; garbage collection and recovery hold both keys
 * exclusively. The locks are taken on connections of their own pool ({@code locks}): a commit
 * holds one while its work uses the main pool, and sharing one pool could starve the work.
 *
 * <p>Leadership is a session-level {@code pg_try_advisory_lock} on one dedicated connection,
 * held as long as that connection lives; when it drops, the server releases the lock and any
 * replica (this one included, on its next {@link #isLeader} call) takes it.
 */
public final class PgClusterLocks implements ClusterLocks {
    private static final Logger LOG = LoggerFactory.getLogger(PgClusterLocks.class);
    /** Advisory lock keys: "STRA" then a number, so they do not collide with other applications' small integers. */
    static final long COMMIT_KEY = 0x5354_5241_0001L;
    static final long CATALOG_KEY = 0x5354_5241_0002L;
    static final long LEADER_KEY = 0x5354_5241_0003L;

    /** Opens a connection outside any pool, for the leader lock. */
    @FunctionalInterface
    public interface Connector {
        Connection connect() throws SQLException;
    }

    private final DataSource locks;
    private final Connector connector;
    private Connection leaderConnection;
    private boolean leader;

    public PgClusterLocks(DataSource locks, Connector connector) {
        this.locks = locks;
        this.connector = connector;
    }

    @Override
    public <T> T commit(Callable<T> work) throws Exception {
        return holding(work, "SELECT pg_advisory_xact_lock_shared(" + COMMIT_KEY + ")");
    }

    @Override
    public <T> T exclusive(Callable<T> work) throws Exception {
        // Catalog first, then commits: the one order every holder of both uses.
        return holding(work, "SELECT pg_advisory_xact_lock(" + CATALOG_KEY + ")", "SELECT pg_advisory_xact_lock(" + COMMIT_KEY + ")");
    }

    @Override
    public void catalogWrite(Handle transaction) {
        transaction.execute("SELECT pg_advisory_xact_lock(" + CATALOG_KEY + ")");
    }

    @Override
    public synchronized boolean isLeader() {
        try {
            if (leaderConnection != null && !leaderConnection.isValid(2)) {
                if (leader) LOG.warn("lost the database connection that held leadership; trying to take it again");
                closeLeaderConnection();
            }
            if (leaderConnection == null) leaderConnection = connector.connect();
            if (!leader) {
                try (Statement statement = leaderConnection.createStatement();
                     ResultSet result = statement.executeQuery("SELECT pg_try_advisory_lock(" + LEADER_KEY + ")")) {
                    result.next();
                    leader = result.getBoolean(1);
                }
                if (leader) LOG.info("this replica is now the leader (runs upload expiry and other background work)");
            }
            return leader;
        } catch (SQLException e) {
            LOG.warn("cannot check leadership: {}", e.getMessage());
            closeLeaderConnection();
            return false;
        }
    }

    @Override
    public synchronized void close() { closeLeaderConnection(); }

    private void closeLeaderConnection() {
        leader = false;
        if (leaderConnection == null) return;
        try {
            leaderConnection.close();
        } catch (SQLException ignored) {
            // Closing is best effort: the server drops the session (and its lock) with the socket anyway.
        }
        leaderConnection = null;
    }

    private <T> T holding(Callable<T> work, String... lockStatements) throws Exception {
        try (Connection connection = locks.getConnection()) {
            connection.setAutoCommit(false);
            try {
                try (Statement statement = connection.createStatement()) {
                    for (String lock : lockStatements) statement.execute(lock);
                }
                return work.call();
            } finally {
                // Ends the transaction, which releases its advisory locks.
                connection.rollback();
                connection.setAutoCommit(true);
            }
        }
    }
}
