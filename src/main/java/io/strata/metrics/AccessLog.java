package io.strata.metrics;

import io.strata.auth.TokenFormat;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.server.CustomRequestLog;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.RequestLog;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.component.ContainerLifeCycle;

import java.util.Set;
import java.util.regex.Pattern;

/**
 * One line per request (DESIGN §12), formatted by Jetty's {@link CustomRequestLog} and written by
 * an {@link AsyncLineWriter}:
 *
 * <pre>[2026-12-01T18:04:05Z] 127.0.0.1 HEAD "/layers/5f1c…qcow2" 200 0 0 "curl/7.88.1"</pre>
 *
 * <p>time the request arrived (UTC), client address, method, path with query, status, response
 * body bytes, duration in milliseconds, user agent.
 *
 * <p><b>Never a token.</b> The format has no request header but the user agent, so the
 * {@code Authorization} header (Bearer or Basic) is never written. What a client puts in the URL
 * is written with two rules: the values of query parameters other than the API's own
 * ({@link #PLAIN_PARAMETERS}) are replaced by {@value #REDACTED}, as is a bare word that is not one
 * of them (clients put secrets in query strings: {@code ?token=}, presigned-URL signatures), and anything shaped like a Strata token
 * ({@code strata_...}) in the path, the query or the user agent is replaced too.
 */
public final class AccessLog extends ContainerLifeCycle implements RequestLog {
    static final String FORMAT = "%{yyyy-MM-dd'T'HH:mm:ss'Z'|UTC}t %{client}a %m \"%U%q\" %s %O %{ms}T \"%{User-Agent}i\"";
    static final String REDACTED = "REDACTED";
    /** The query parameters the API reads (Routes' handlers): logged as sent. */
    static final Set<String> PLAIN_PARAMETERS = Set.of("digest", "dry_run", "min_age", "limit", "before");
    /** A Strata token, current ({@code strata_pat_}) or legacy ({@code strata_} + base64url). */
    private static final String TOKEN_PREFIX = TokenFormat.LEGACY_PREFIX;
    private static final Pattern TOKEN = Pattern.compile(Pattern.quote(TOKEN_PREFIX) + "[A-Za-z0-9_-]+");

    private final CustomRequestLog format;
    private final AsyncLineWriter writer;

    private AccessLog(AsyncLineWriter writer) {
        this.writer = writer;
        this.format = new CustomRequestLog(writer, FORMAT);
        installBean(format);
    }

    /** The access log {@code target} names, or null when it is off. */
    static AccessLog open(AccessLogTarget target) {
        return target.enabled() ? new AccessLog(new AsyncLineWriter(target.file())) : null;
    }

    AsyncLineWriter writer() { return writer; }

    @Override
    public void log(Request request, Response response) {
        format.log(redacted(request), response);
    }

    /** The request as the log may show it: itself when nothing in it needs hiding (the common case, no allocation). */
    static Request redacted(Request request) {
        HttpURI uri = request.getHttpURI();
        String path = uri.getPath();
        String query = uri.getQuery();
        String agent = request.getHeaders().get(HttpHeader.USER_AGENT);
        boolean pathHasToken = path != null && path.contains(TOKEN_PREFIX);
        boolean agentHasToken = agent != null && agent.contains(TOKEN_PREFIX);
        if (query == null && !pathHasToken && !agentHasToken) return request;
        HttpURI shown = HttpURI.build(uri).path(pathHasToken ? scrub(path) : path).query(query == null ? null : query(query)).asImmutable();
        HttpFields headers = agentHasToken
                ? HttpFields.build(request.getHeaders()).put(HttpHeader.USER_AGENT, scrub(agent)).asImmutable()
                : request.getHeaders();
        return new Request.Wrapper(request) {
            @Override
            public HttpURI getHttpURI() { return shown; }

            @Override
            public HttpFields getHeaders() { return headers; }
        };
    }

    /** A query with the values of unknown parameters (and any token-shaped text) replaced. */
    static String query(String query) {
        StringBuilder shown = new StringBuilder(query.length());
        for (String pair : query.split("&", -1)) {
            if (shown.length() > 0) shown.append('&');
            int equals = pair.indexOf('=');
            String name = equals < 0 ? pair : pair.substring(0, equals);
            if (name.contains(TOKEN_PREFIX)) {
                shown.append(REDACTED);
            } else if (equals < 0) {
                shown.append(PLAIN_PARAMETERS.contains(name) ? name : REDACTED);
            } else if (PLAIN_PARAMETERS.contains(name)) {
                shown.append(name).append('=').append(scrub(pair.substring(equals + 1)));
            } else {
                shown.append(name).append('=').append(REDACTED);
            }
        }
        return shown.toString();
    }

    private static String scrub(String text) {
        return text.contains(TOKEN_PREFIX) ? TOKEN.matcher(text).replaceAll(TOKEN_PREFIX + REDACTED) : text;
    }
}
