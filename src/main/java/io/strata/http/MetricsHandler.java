package io.strata.http;

import io.strata.metrics.Metrics;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.nio.charset.StandardCharsets;

/**
 * {@code GET /metrics}: every meter in the Prometheus text format. A read like the index: public,
 * or behind a token on a private registry ({@link FastReads#requireToken}). Never inline: the
 * registry gauges ask the database.
 */
final class MetricsHandler implements FastReads.Read {
    private final Metrics metrics;

    MetricsHandler(Metrics metrics) { this.metrics = metrics; }

    @Override
    public void handle(Request request, Response response, Callback callback, String rest, boolean head) {
        byte[] body = metrics.scrape().getBytes(StandardCharsets.UTF_8);
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, Metrics.CONTENT_TYPE);
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        FastReads.endWith(response, callback, body, head);
    }
}
