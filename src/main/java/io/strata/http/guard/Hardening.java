package io.strata.http.guard;

import io.javalin.config.JavalinConfig;
import io.strata.config.Limits;
import org.eclipse.jetty.http.HttpCompliance;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.server.AbstractConnector;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.util.component.LifeCycle;

/**
 * The HTTP layer's defences against hostile input, installed on Javalin's Jetty in one place
 * (README "Limits and hostile input"): strict parsing and URI rules with JSON refusals, a 16 KiB
 * header limit, idle and header timeouts, and the guard handler in front of every route.
 * Per-route limits (JSON body size and nesting, upload data rate, ranges) live with their routes.
 */
public final class Hardening {
    private Hardening() {}

    /** Call after the routes are installed, so that the guard wraps the fast reads too. */
    public static void install(JavalinConfig javalin, Limits limits) {
        javalin.jetty.modifyHttpConfiguration(http -> {
            http.setRequestHeaderSize(Limits.MAX_HEADER_BYTES);
            // Jetty's defaults, spelled out: they are what refuses smuggling shapes and bad URIs.
            http.setHttpCompliance(HttpCompliance.RFC9110);
            http.setUriCompliance(UriCompliance.DEFAULT);
            http.setSendServerVersion(false);
        });
        WriteLimiter writes = new WriteLimiter(limits.writeRate(), limits.writeBurst());
        javalin.jetty.modifyServer(server -> {
            server.setErrorHandler(new JsonErrorHandler());
            RequestGuard guard = new RequestGuard(writes);
            guard.setHandler(server.getHandler());
            server.setHandler(guard);
            // Javalin adds its connector after this hook and before start: configure connectors as the server starts.
            server.addEventListener(new LifeCycle.Listener() {
                @Override
                public void lifeCycleStarting(LifeCycle event) {
                    for (Connector connector : server.getConnectors()) {
                        if (!(connector instanceof AbstractConnector tcp)) continue;
                        tcp.setIdleTimeout(limits.idleTimeout().toMillis());
                        tcp.addEventListener(new HeaderDeadline(tcp.getScheduler(), limits.headerTimeout()));
                    }
                }
            });
        });
    }
}
