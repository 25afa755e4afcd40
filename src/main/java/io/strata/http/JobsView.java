package io.strata.http;

import io.javalin.http.Context;
import io.strata.jobs.Job;
import io.strata.lxd.LxdStatus;
import io.strata.lxd.LxdView;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code GET /api/v1/jobs} (admin): the background jobs not done yet, failed ones first, with
 * their last error; and the LXD summary {@code /healthz} shows too.
 */
final class JobsView {
    private JobsView() {}

    static void list(Context ctx, Services services) {
        List<Job> jobs = new java.util.ArrayList<>(services.jobs().unfinished());
        jobs.sort(java.util.Comparator.comparing((Job j) -> j.state() != Job.State.FAILED).thenComparing(Job::createdAt));
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("jobs", jobs.stream().map(JobsView::row).toList());
        body.put("lxd", lxdSummary(services));
        ctx.header("Cache-Control", "no-store").json(body);
    }

    private static Map<String, Object> row(Job job) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", job.id());
        out.put("kind", job.kind());
        out.put("target", job.target());
        out.put("state", job.state().name().toLowerCase(java.util.Locale.ROOT));
        out.put("attempts", job.attempts());
        out.put("last_error", job.lastError().orElse(null));
        out.put("next_attempt", job.state() == Job.State.FAILED ? Instant.ofEpochMilli(job.runAfter()).toString() : null);
        out.put("updated", job.updatedAt());
        return out;
    }

    /** For /healthz and /api/v1/jobs: whether LXD items are made, and how many are where. */
    static Map<String, Object> lxdSummary(Services services) {
        LxdView view = services.lxd().view();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("enabled", services.lxd().enabled());
        out.put("message", services.lxd().message());
        for (LxdStatus.State state : LxdStatus.State.values()) {
            out.put(state.label(), view.images().values().stream().filter(s -> s.state() == state).count());
        }
        return out;
    }
}
