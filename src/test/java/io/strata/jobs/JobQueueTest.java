package io.strata.jobs;

import io.strata.db.Database;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The durable job queue on a real SQLite database: leases decide who runs a job, for any number of workers. */
class JobQueueTest {
    static final Set<String> KINDS = Set.of("test");
    static final Duration LEASE = Duration.ofSeconds(10);

    @TempDir Path dir;
    Database database;
    SettableClock clock;
    JobQueue queue;

    /** A clock the test moves by hand (java.time.Clock is an outside abstract class, meant for this). */
    static final class SettableClock extends Clock {
        volatile Instant now = Instant.parse("2026-12-01T10:00:00Z");

        void advance(Duration by) { now = now.plus(by); }

        @Override public Instant instant() { return now; }

        @Override public java.time.ZoneId getZone() { return ZoneOffset.UTC; }

        @Override public Clock withZone(java.time.ZoneId zone) { return this; }
    }

    @BeforeEach
    void open() {
        database = Database.open(dir.resolve("strata.db"));
        clock = new SettableClock();
        queue = new JobQueue(database.dao(JobDao.class), clock);
    }

    @Test
    void each_due_job_is_claimed_by_exactly_one_of_many_concurrent_workers() throws Exception {
        for (int i = 0; i < 60; i++) queue.enqueue("test", "target-" + i, false);
        List<String> claimed = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> workers = new ArrayList<>();
        for (int w = 0; w < 6; w++) {
            // Each worker has its own queue object, as replicas would: only the database is shared.
            JobQueue own = new JobQueue(database.dao(JobDao.class), clock);
            String owner = "worker-" + w;
            Thread thread = new Thread(() -> {
                try {
                    start.await();
                    for (Optional<Job> job; (job = own.claim(owner, KINDS, LEASE)).isPresent(); ) claimed.add(job.get().target());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            thread.start();
            workers.add(thread);
        }
        start.countDown();
        for (Thread thread : workers) thread.join(TimeUnit.MINUTES.toMillis(2));
        assertEquals(60, claimed.size(), "every job claimed, none twice: " + claimed);
        assertEquals(60, new HashSet<>(claimed).size());
        assertTrue(queue.claim("late", KINDS, LEASE).isEmpty(), "all held by their leases");
    }

    @Test
    void a_job_whose_lease_expired_is_claimed_again_and_the_old_owner_can_no_longer_finish_it() {
        queue.enqueue("test", "image", false);
        Job first = queue.claim("crashed", KINDS, LEASE).orElseThrow();
        assertEquals(1, first.attempts());
        clock.advance(Duration.ofSeconds(9));
        assertTrue(queue.claim("other", KINDS, LEASE).isEmpty(), "the lease still holds");
        clock.advance(Duration.ofSeconds(2));
        Job second = queue.claim("other", KINDS, LEASE).orElseThrow();
        assertEquals(first.id(), second.id());
        assertEquals(2, second.attempts(), "the crashed attempt counts");
        assertEquals(Optional.of("other"), second.leaseOwner());

        assertFalse(queue.renew(first, "crashed", LEASE), "the old owner learns it lost the job");
        queue.done(first, "crashed");
        assertEquals(Job.State.RUNNING, queue.find("test", "image").orElseThrow().state(), "nor can it finish it");
        queue.done(second, "other");
        assertEquals(Job.State.DONE, queue.find("test", "image").orElseThrow().state());
        clock.advance(Duration.ofHours(2));
        assertTrue(queue.claim("other", KINDS, LEASE).isEmpty(), "a done job is never run again");
    }

    @Test
    void a_renewed_lease_keeps_a_long_job_away_from_other_workers() {
        queue.enqueue("test", "image", false);
        Job job = queue.claim("a", KINDS, LEASE).orElseThrow();
        for (int i = 0; i < 5; i++) {
            clock.advance(Duration.ofSeconds(6));
            assertTrue(queue.renew(job, "a", LEASE));
            assertTrue(queue.claim("b", KINDS, LEASE).isEmpty());
        }
    }

    @Test
    void a_failed_job_is_reported_and_retried_after_a_doubling_backoff() {
        queue.enqueue("test", "image", false);
        Job job = queue.claim("a", KINDS, LEASE).orElseThrow();
        assertEquals(Duration.ofSeconds(2), queue.failed(job, "a", "disk full"));
        Job failed = queue.find("test", "image").orElseThrow();
        assertEquals(Job.State.FAILED, failed.state());
        assertEquals(Optional.of("disk full"), failed.lastError());
        assertEquals(List.of(failed.id()), queue.unfinished().stream().map(Job::id).toList());
        clock.advance(Duration.ofMillis(1999));
        assertTrue(queue.claim("a", KINDS, LEASE).isEmpty(), "not before its backoff");
        clock.advance(Duration.ofMillis(1));
        Job again = queue.claim("b", KINDS, LEASE).orElseThrow();
        assertEquals(Duration.ofSeconds(4), queue.failed(again, "b", "disk full"));
        assertEquals(Duration.ofHours(1), JobQueue.backoff(30), "capped");
    }

    @Test
    void enqueue_is_idempotent_and_again_rearms_only_a_finished_job() {
        queue.enqueue("test", "image", false);
        queue.enqueue("test", "image", true);
        assertEquals(1, queue.ofKind("test").size());
        Job job = queue.claim("a", KINDS, LEASE).orElseThrow();
        queue.enqueue("test", "image", true);
        assertEquals(Job.State.RUNNING, queue.find("test", "image").orElseThrow().state(), "a running job is left alone");
        queue.done(job, "a");
        queue.enqueue("test", "image", false);
        assertEquals(Job.State.DONE, queue.find("test", "image").orElseThrow().state());
        queue.enqueue("test", "image", true);
        assertEquals(Job.State.PENDING, queue.find("test", "image").orElseThrow().state());
        assertTrue(queue.claim("a", KINDS, LEASE).isPresent());
    }

    @Test
    void the_worker_thread_runs_jobs_retries_a_failure_and_gives_back_its_leases_when_closed() throws Exception {
        JobQueue live = new JobQueue(database.dao(JobDao.class), Clock.systemUTC());
        AtomicInteger runs = new AtomicInteger();
        CountDownLatch finished = new CountDownLatch(1);
        CountDownLatch blocked = new CountDownLatch(1);
        try (JobWorker worker = new JobWorker(live, LEASE)) {
            worker.register(new JobHandler() {
                @Override public String kind() { return "test"; }

                @Override
                public void run(Job job, Lease lease) throws Exception {
                    if (job.target().equals("slow")) {
                        blocked.countDown();
                        Thread.sleep(60_000);
                        return;
                    }
                    if (runs.incrementAndGet() == 1) throw new java.io.IOException("first attempt fails");
                }

                @Override public void changed(Job job) { if (job.state() == Job.State.DONE) finished.countDown(); }
            });
            worker.start();
            live.enqueue("test", "quick", false);
            worker.wake();
            assertTrue(finished.await(30, TimeUnit.SECONDS), "done after one retry");
            assertEquals(2, runs.get());
            assertEquals(2, live.find("test", "quick").orElseThrow().attempts());
            live.enqueue("test", "slow", false);
            worker.wake();
            assertTrue(blocked.await(30, TimeUnit.SECONDS));
        }
        Job slow = live.find("test", "slow").orElseThrow();
        assertEquals(Job.State.PENDING, slow.state(), "a clean stop hands the job back at once");
        assertTrue(live.claim("next-start", KINDS, LEASE).isPresent());
    }
}
