package io.strata.metrics;

import io.javalin.config.JettyConfig;

/**
 * Hooks the request meters into Jetty as its request log, which Jetty calls once per completed
 * request whichever handler answered it (STYLE 15: one place per concern).
 */
public final class RequestTelemetry {
    private RequestTelemetry() {}

    public static void install(JettyConfig jetty, Metrics metrics, RouteTemplates routes) {
        RequestMetrics requests = metrics.requests(routes);
        jetty.modifyServer(server -> {
            if (server.getRequestLog() != null) {
                throw new IllegalStateException("the server already has a request log (" + server.getRequestLog() + ")");
            }
            server.setRequestLog(requests);
        });
    }
}
