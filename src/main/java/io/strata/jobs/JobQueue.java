package io.strata.jobs;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;

/**
 * The durable queue of background work (STYLE 14): a job is a row, claimed by a worker with a
 * lease that it renews while it runs. A worker that dies keeps its lease until it expires, then
 * any worker (this replica after a restart, or another) takes the job again.
 */
public final class JobQueue {
    /** First retry after this long, doubling per failed attempt up to {@link #MAX_BACKOFF}. */
    static final Duration FIRST_BACKOFF = Duration.ofSeconds(2);
    static final Duration MAX_BACKOFF = Duration.ofHours(1);
    /** Errors are reported, not archived: keep the row small. */
    private static final int MAX_ERROR_CHARS = 2000;

    private final JobDao dao;
    private final Clock clock;

    public JobQueue(JobDao dao, Clock clock) {
        this.dao = dao;
        this.clock = clock;
    }

    /** Adds the job if it is new; a finished one is left alone unless {@code again}, which makes it due again. */
    public void enqueue(String kind, String target, boolean again) {
        String now = now().toString();
        if (dao.insert(UUID.randomUUID().toString(), kind, target, now) == 0 && again) dao.rearm(kind, target, now);
    }

    /** Claims the next due job of one of {@code kinds}, if any, for {@code lease}. */
    public Optional<Job> claim(String owner, Set<String> kinds, Duration lease) {
        Instant now = now();
        for (String id : dao.due(now.toEpochMilli(), 20)) {
            Optional<Job> candidate = dao.find(id);
            if (candidate.isEmpty() || !kinds.contains(candidate.get().kind())) continue;
            // Another worker may have claimed it since the SELECT: the conditional UPDATE decides.
            if (dao.claim(id, owner, now.plus(lease).toEpochMilli(), now.toEpochMilli(), now.toString()) == 1) {
                return dao.find(id);
            }
        }
        return Optional.empty();
    }

    /** False when the lease was lost: the job belongs to another worker now. */
    public boolean renew(Job job, String owner, Duration lease) {
        return dao.renew(job.id(), owner, now().plus(lease).toEpochMilli()) == 1;
    }

    /** For a worker that stops cleanly: its running jobs are due again at once (one that dies keeps them until the lease expires). */
    public void release(String owner) { dao.release(owner, now().toString()); }

    public void done(Job job, String owner) { dao.done(job.id(), owner, now().toString()); }

    /** Records the failure and when to try again (exponential backoff from the attempt count). */
    public Duration failed(Job job, String owner, String error) {
        Duration backoff = backoff(job.attempts());
        Instant now = now();
        String text = error.length() > MAX_ERROR_CHARS ? error.substring(0, MAX_ERROR_CHARS) + "…" : error;
        dao.failed(job.id(), owner, text, now.plus(backoff).toEpochMilli(), now.toString());
        return backoff;
    }

    static Duration backoff(long attempts) {
        long shift = Math.max(0, Math.min(attempts - 1, 20));
        Duration wait = FIRST_BACKOFF.multipliedBy(1L << shift);
        return wait.compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : wait;
    }

    public Optional<Job> find(String kind, String target) { return dao.find(kind, target); }

    public List<Job> ofKind(String kind) { return dao.ofKind(kind); }

    /** Every job not done, oldest first: what {@code /api/v1/jobs} and {@code /healthz} report. */
    public List<Job> unfinished() { return dao.unfinished(); }

    public void forget(String kind, String target) { dao.delete(kind, target); }

    private Instant now() { return clock.instant().truncatedTo(ChronoUnit.MILLIS); }
}
