package io.strata.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.RequestLog;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.NanoTime;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Counts every request the server answers, by method, route template and status: Jetty calls a
 * {@link RequestLog} when a response is complete, whichever handler answered it (the fast reads
 * on the I/O thread, Javalin, the guard's refusals, Jetty's own errors), so this is the one place
 * that sees them all.
 *
 * <p>It runs on the thread that completed the response, the I/O thread for the hot reads, so the
 * common case does no allocation and no map lookup of tags: the meters of one (route, method,
 * status) are found in arrays indexed by those three, filled the first time the combination is
 * seen. Micrometer's Prometheus meters add to striped counters ({@code LongAdder}s).
 */
public final class RequestMetrics implements RequestLog {
    private static final int FIRST_STATUS = 100;
    /** Statuses 100..599 each have a slot; anything else (none Jetty sends) is labelled {@code other}. */
    private static final int STATUSES = 501;

    /** Boundaries of the duration histogram: a HEAD takes well under a millisecond, a whole layer minutes. */
    static final Duration[] DURATION_BUCKETS = {
            Duration.ofMillis(1), Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(25), Duration.ofMillis(50),
            Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofMillis(2500),
            Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(30), Duration.ofSeconds(60), Duration.ofSeconds(300)};

    private final MeterRegistry registry;
    private final RouteTemplates routes;
    /** [route * methods + method][status]: filled lazily; a racing reader that sees null takes the slow path. */
    private final Meters[][] meters;

    RequestMetrics(MeterRegistry registry, RouteTemplates routes) {
        this.registry = registry;
        this.routes = routes;
        this.meters = new Meters[routes.size() * RouteTemplates.METHOD_COUNT][];
    }

    @Override
    public void log(Request request, Response response) {
        int method = RouteTemplates.method(request.getMethod());
        int cell = routes.match(method, Request.getPathInContext(request)) * RouteTemplates.METHOD_COUNT + method;
        int status = response.getStatus() - FIRST_STATUS;
        if (status < 0 || status >= STATUSES) status = STATUSES - 1;
        Meters[] byStatus = meters[cell];
        Meters found = byStatus == null ? null : byStatus[status];
        if (found == null) found = register(cell, status);
        found.requests.increment();
        found.duration.record(NanoTime.since(request.getBeginNanoTime()), TimeUnit.NANOSECONDS);
        long sent = Response.getContentBytesWritten(response);
        if (sent > 0) found.sent.increment(sent);
        long received = Request.getContentBytesRead(request);
        if (received > 0) found.received.increment(received);
    }

    /** The first request of a (route, method, status): its meters, registered (or found, if another thread won). */
    private synchronized Meters register(int cell, int status) {
        Meters[] byStatus = meters[cell];
        if (byStatus == null) {
            byStatus = new Meters[STATUSES];
            meters[cell] = byStatus;
        }
        if (byStatus[status] != null) return byStatus[status];
        Tags tags = Tags.of("method", RouteTemplates.method(cell % RouteTemplates.METHOD_COUNT),
                "route", routes.label(cell / RouteTemplates.METHOD_COUNT),
                "status", status == STATUSES - 1 ? "other" : Integer.toString(status + FIRST_STATUS));
        Meters created = new Meters(
                Counter.builder("strata.http.requests").description("HTTP requests answered").tags(tags).register(registry),
                Timer.builder("strata.http.request.duration")
                        .description("Time from the request's first byte to the response's last byte written")
                        .serviceLevelObjectives(DURATION_BUCKETS).tags(tags).register(registry),
                Counter.builder("strata.http.response").baseUnit("bytes").description("Response body bytes sent (headers not counted)")
                        .tags(tags).register(registry),
                Counter.builder("strata.http.request").baseUnit("bytes").description("Request body bytes received (uploads)")
                        .tags(tags).register(registry));
        byStatus[status] = created;
        return created;
    }

    /** The meters of one (route, method, status); final fields, so a reader on another thread sees them whole. */
    private record Meters(Counter requests, Timer duration, Counter sent, Counter received) {}
}
