package io.strata.metrics;

import io.javalin.config.JettyConfig;
import org.eclipse.jetty.server.RequestLog;

/**
 * Hooks the request meters and the access log into Jetty as its request log, which Jetty calls
 * once per completed request whichever handler answered it (STYLE 15: one place per concern).
 */
public final class RequestTelemetry {
    private RequestTelemetry() {}

    public static void install(JettyConfig jetty, Metrics metrics, RouteTemplates routes, AccessLogTarget accessLog) {
        RequestMetrics requests = metrics.requests(routes);
        AccessLog access = AccessLog.open(accessLog);
        if (access != null) metrics.countDrops(access.writer());
        jetty.modifyServer(server -> {
            if (server.getRequestLog() != null) {
                throw new IllegalStateException("the server already has a request log (" + server.getRequestLog() + ")");
            }
            if (access == null) {
                // Off costs nothing beyond the meters: no formatting, no queue, no thread.
                server.setRequestLog(requests);
                return;
            }
            // A bean of the server, so its writer thread starts before the connectors and stops (flushed) after them.
            server.addBean(access);
            server.setRequestLog(new RequestLog.Collection(requests, access));
        });
    }
}
