package io.strata.http;

import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.IteratingCallback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The hot public reads (layer bytes and the index documents), answered on Jetty's core API in
 * front of Javalin. Javalin's servlet pipeline costs more per request than serving a cached
 * document does, and these are the requests clients make by the thousand; writes stay on
 * Javalin. Only GET and HEAD are taken here: other methods fall through to the Javalin routes,
 * which answer them (405/404) like any other request. The table of what is served here lives
 * in {@link Routes}.
 */
final class FastReads extends Handler.Wrapper {
    private static final Logger LOG = LoggerFactory.getLogger(FastReads.class);

    /** A read handler; {@code rest} is the path after the registered prefix (empty for exact paths). */
    interface Read {
        void handle(Request request, Response response, Callback callback, String rest, boolean head) throws Exception;
    }

    private final Map<String, Read> exact = new HashMap<>();
    private final Map<String, Read> prefixes = new HashMap<>();
    /** Set only on a private registry, so the public case costs one null check. */
    private Access access;
    private Map<String, Supplier<byte[]>> privatePages = Map.of();

    /**
     * Makes every read served here need a token, and answers {@code pages} (the catalog page's
     * HTML, which Javalin serves) without one with 401 and the page itself as the body: the page
     * shows nothing of the registry until it is given a token, and a browser cannot attach one to
     * the request for the page.
     */
    FastReads requireToken(Access access, Map<String, Supplier<byte[]>> pages) {
        this.access = access;
        this.privatePages = Map.copyOf(pages);
        return this;
    }

    FastReads exact(String path, Read read) {
        exact.put(path, read);
        return this;
    }

    /** Serves every path {@code prefix + rest} where rest has no further '/'. */
    FastReads prefix(String prefix, Read read) {
        prefixes.put(prefix, read);
        return this;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
        String method = request.getMethod();
        boolean head = HttpMethod.HEAD.is(method);
        if (!head && !HttpMethod.GET.is(method)) return super.handle(request, response, callback);
        String path = Request.getPathInContext(request);
        Read read = exact.get(path);
        String rest = "";
        if (read == null) {
            int slash = path.lastIndexOf('/');
            read = prefixes.get(path.substring(0, slash + 1));
            rest = path.substring(slash + 1);
        }
        if (access != null && (read != null || privatePages.containsKey(path))) {
            ApiException refused = access.refuseRead(request);
            if (refused != null) {
                Supplier<byte[]> page = privatePages.get(path);
                if (page != null && refused.code() == ErrorCode.UNAUTHORIZED) {
                    writePage(response, callback, page.get(), head);
                } else {
                    ErrorBody.write(response, callback, refused, head);
                }
                return true;
            }
        }
        if (read == null) return super.handle(request, response, callback);
        try {
            read.handle(request, response, callback, rest, head);
        } catch (ApiException e) {
            ErrorBody.write(response, callback, e, head);
        } catch (Exception e) {
            LOG.error("unexpected error on {} {}", method, path, e);
            ErrorBody.write(response, callback, new ApiException(ErrorCode.INTERNAL), head);
        }
        return true;
    }

    private static void writePage(Response response, Callback callback, byte[] body, boolean head) {
        response.setStatus(401);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/html; charset=utf-8");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer realm=\"strata\"");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        if (head) {
            callback.succeeded();
        } else {
            response.write(true, ByteBuffer.wrap(body), callback);
        }
    }

    /** Writes buffers in order without blocking a thread; the last write completes the response. */
    static void write(Response response, List<ByteBuffer> buffers, Callback callback) {
        new IteratingCallback() {
            private final Iterator<ByteBuffer> next = buffers.iterator();

            @Override
            protected Action process() {
                if (!next.hasNext()) return Action.SUCCEEDED;
                ByteBuffer buffer = next.next();
                response.write(!next.hasNext(), buffer, this);
                return Action.SCHEDULED;
            }

            @Override
            protected void onCompleteSuccess() { callback.succeeded(); }

            @Override
            protected void onCompleteFailure(Throwable cause) { callback.failed(cause); }
        }.iterate();
    }
}
