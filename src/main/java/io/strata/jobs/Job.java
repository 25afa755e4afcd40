package io.strata.jobs;

import java.util.Optional;

/**
 * One durable unit of background work (a row of {@code jobs}).
 *
 * @param kind      names the {@link JobHandler} that runs it
 * @param target    what it works on (for LXD items: the image fingerprint); unique per kind
 * @param state     where it is in its life
 * @param attempts  how many times a worker claimed it (a run cut short by a crash counts)
 * @param lastError why the last attempt failed, if it did
 * @param runAfter  epoch milliseconds before which no worker takes it (backoff)
 */
public record Job(String id, String kind, String target, State state, long attempts, Optional<String> lastError,
                  Optional<String> leaseOwner, long leaseUntil, long runAfter, String createdAt, String updatedAt) {

    /** Life of a job: pending → running → done, or → failed → (after its backoff) running again. */
    public enum State {
        PENDING, RUNNING, FAILED, DONE;

        String column() { return name().toLowerCase(java.util.Locale.ROOT); }

        static State of(String column) { return valueOf(column.toUpperCase(java.util.Locale.ROOT)); }
    }
}
