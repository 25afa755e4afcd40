package io.strata.jobs;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One worker thread that claims due jobs and runs them, one at a time (the jobs it runs are
 * CPU- and disk-heavy; a replica that wants more runs more replicas). While a job runs, its lease
 * is renewed every third of its length; when renewal fails the job is told it lost the lease.
 */
public final class JobWorker implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(JobWorker.class);
    private static final Duration IDLE_POLL = Duration.ofSeconds(1);

    private final JobQueue queue;
    private final Map<String, JobHandler> handlers = new LinkedHashMap<>();
    private final Duration lease;
    /** Unique per process start, so a restarted server never mistakes its dead predecessor's lease for its own. */
    private final String owner = "worker-" + UUID.randomUUID();
    private final Object wake = new Object();
    private final AtomicBoolean running = new AtomicBoolean();
    private final ScheduledExecutorService heartbeat = Executors.newSingleThreadScheduledExecutor(runnable -> {
        Thread thread = new Thread(runnable, "strata-jobs-lease");
        thread.setDaemon(true);
        return thread;
    });
    private Thread thread;

    public JobWorker(JobQueue queue, Duration lease) {
        this.queue = queue;
        this.lease = lease;
    }

    public JobWorker register(JobHandler handler) {
        handlers.put(handler.kind(), handler);
        return this;
    }

    public String owner() { return owner; }

    public synchronized void start() {
        if (!running.compareAndSet(false, true)) return;
        thread = new Thread(this::loop, "strata-jobs");
        thread.setDaemon(true);
        thread.start();
    }

    /** A job was added: look now rather than at the next poll. */
    public void wake() {
        synchronized (wake) {
            wake.notifyAll();
        }
    }

    private void loop() {
        while (running.get()) {
            boolean worked = false;
            try {
                Optional<Job> job = queue.claim(owner, handlers.keySet(), lease);
                if (job.isPresent()) {
                    run(job.get());
                    worked = true;
                }
            } catch (RuntimeException e) {
                // The database is unreachable or busy: keep the thread, try again at the next poll.
                if (running.get()) LOG.warn("job worker: {}", e.toString());
            }
            if (!worked) idle();
        }
    }

    private void idle() {
        synchronized (wake) {
            try {
                wake.wait(IDLE_POLL.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                running.set(false);
            }
        }
    }

    private void run(Job job) {
        JobHandler handler = handlers.get(job.kind());
        AtomicBoolean lost = new AtomicBoolean();
        long renewEvery = Math.max(100, lease.toMillis() / 3);
        ScheduledFuture<?> renewal = heartbeat.scheduleAtFixedRate(() -> {
            try {
                if (!lost.get() && !queue.renew(job, owner, lease)) {
                    lost.set(true);
                    LOG.warn("job {} {} {}: lease lost to another worker; stopping it here", job.kind(), job.target(), job.id());
                }
            } catch (RuntimeException e) {
                LOG.warn("job {} {}: could not renew its lease: {}", job.kind(), job.target(), e.toString());
            }
        }, renewEvery, renewEvery, TimeUnit.MILLISECONDS);
        try {
            handler.run(job, lost::get);
            renewal.cancel(false);
            if (!lost.get()) queue.done(job, owner);
        } catch (Exception | Error e) {
            // Errors too (a missing class, memory): a job that cannot run is reported, and the thread goes on.
            renewal.cancel(false);
            if (!running.get()) return; // shutting down: the lease expires and the job runs again later
            String error = e.getMessage() == null ? e.toString() : e.getMessage();
            if (!lost.get()) {
                Duration retry = queue.failed(job, owner, error);
                LOG.warn("job {} {} failed (attempt {}), retrying in {}s: {}", job.kind(), job.target(), job.attempts(),
                        retry.toSeconds(), error);
            }
        }
        try {
            queue.find(job.kind(), job.target()).ifPresent(handler::changed);
        } catch (RuntimeException e) {
            LOG.warn("job {} {}: {}", job.kind(), job.target(), e.toString());
        }
    }

    /** Stops taking jobs; a job still running is interrupted and its lease given back. */
    @Override
    public void close() {
        running.set(false);
        Thread worker;
        synchronized (this) {
            worker = thread;
        }
        if (worker != null) {
            worker.interrupt();
            try {
                worker.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        heartbeat.shutdownNow();
        try {
            queue.release(owner);
        } catch (RuntimeException e) {
            LOG.warn("job worker: could not give back its leases (they expire by themselves): {}", e.toString());
        }
    }
}
