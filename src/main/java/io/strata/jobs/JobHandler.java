package io.strata.jobs;

/**
 * Runs the jobs of one kind. {@link #run} must be idempotent: a worker may crash at any point, and
 * another (or the same after a restart) runs the job again from the start once the lease expires.
 * Returning normally marks the job done; throwing marks it failed and schedules a retry.
 */
public interface JobHandler {
    String kind();

    void run(Job job, Lease lease) throws Exception;

    /** Called after a job of this kind changed state in this process (done or failed), e.g. to refresh a view. */
    default void changed(Job job) {}

    /** The claim a running job holds. Long steps check {@link #lost()} and stop: another worker owns the job now. */
    interface Lease {
        boolean lost();
    }
}
