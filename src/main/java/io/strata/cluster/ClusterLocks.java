package io.strata.cluster;

import org.jdbi.v3.core.Handle;

import java.util.concurrent.Callable;

/**
 * Coordination between processes that share one metadata database (replicas, DESIGN §10).
 *
 * <p>Three rules need it: a layer commit (parent check, store, row) never overlaps a garbage
 * collection or recovery that could remove the parent; catalog changes are serialised and wait
 * while a collection decides; background work (upload expiry, job queues, scheduled collection)
 * runs on one process at a time, the leader. On the embedded SQLite database only one process can
 * serve a data directory (its lock file), so {@link #singleProcess()} makes every rule trivial and
 * the in-process locks of {@code LayerService} and {@code CatalogService} do the rest. On
 * PostgreSQL the rules are advisory locks ({@link PgClusterLocks}).
 */
public interface ClusterLocks extends AutoCloseable {
    /** Runs a layer commit: any number at once across all replicas, none while {@link #exclusive} runs anywhere. */
    <T> T commit(Callable<T> work) throws Exception;

    /** Runs {@code work} while no layer commit and no catalog change runs on any replica (garbage collection, recovery). */
    <T> T exclusive(Callable<T> work) throws Exception;

    /**
     * Called first inside every catalog-changing transaction, on its handle: catalog writers on all
     * replicas serialise, and wait while {@link #exclusive} runs. A no-op on SQLite, whose
     * {@code BEGIN IMMEDIATE} already serialises writers.
     */
    void catalogWrite(Handle transaction);

    /**
     * True while this process should run the background work that must run once per registry.
     * Cheap enough to ask on every tick of a scheduler; leadership can move when a process dies
     * or loses its database connection.
     */
    boolean isLeader();

    @Override
    void close();

    /** The only process there is: always the leader, nothing to coordinate with. */
    static ClusterLocks singleProcess() {
        return new ClusterLocks() {
            @Override public <T> T commit(Callable<T> work) throws Exception { return work.call(); }
            @Override public <T> T exclusive(Callable<T> work) throws Exception { return work.call(); }
            @Override public void catalogWrite(Handle transaction) { }
            @Override public boolean isLeader() { return true; }
            @Override public void close() { }
        };
    }
}
