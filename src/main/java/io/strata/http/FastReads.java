package io.strata.http;

import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.IteratingCallback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.strata.layer.LayerStore;
import io.strata.metrics.RouteTemplates;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The hot public reads (layer bytes, the index documents, the catalog page's files), answered on
 * Jetty's core API in front of Javalin. Javalin's servlet pipeline costs more per request than
 * serving a cached document does, and these are the requests clients make by the thousand;
 * writes stay on Javalin. Only GET and HEAD are taken here: other methods fall through to the
 * Javalin routes, which answer them (405/404) like any other request. The table of what is
 * served here lives in {@link Routes}.
 *
 * <p><b>Threads.</b> This handler tells Jetty it never blocks, so Jetty parses a request and
 * calls it on the thread that saw the bytes arrive, with no hand-off to a pool thread and back
 * (measured with 64 keep-alive HEADs: 3.4 futex calls per request before; after, the I/O thread
 * makes only its reads, writes and epoll waits; README "Performance"). The promise is kept by answering inline only what is
 * at hand without blocking ({@link Read#inline}: a cached record of an open local file, a
 * rendered document, a page file in memory); everything else (a first request for a layer, an
 * object store, a private registry's token check, every Javalin route) is handed to the pool
 * thread it would have run on anyway.
 */
final class FastReads extends Handler.Wrapper {
    private static final Logger LOG = LoggerFactory.getLogger(FastReads.class);

    /** A read handler; {@code rest} is the path after the registered prefix (empty for exact paths). */
    interface Read {
        void handle(Request request, Response response, Callback callback, String rest, boolean head) throws Exception;

        /**
         * True when {@link #handle} for {@code rest} will neither block nor wait (no database,
         * no disk beyond an open mapping, no network): it is then run on Jetty's I/O thread.
         * When in doubt, false: the request is handed to a pool thread.
         */
        default boolean inline(String rest) { return false; }
    }

    private final Map<String, Read> exact = new HashMap<>();
    /** Paths anyone may read even on a private registry: the catalog page's code and styles. */
    private final Map<String, Read> pages = new HashMap<>();
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

    /**
     * A file of the catalog page, served without a token even on a private registry (it holds no
     * registry data; the page's HTML itself, if given to {@link #requireToken}, still needs one).
     */
    FastReads page(String path, Read read) {
        pages.put(path, read);
        return this;
    }

    /** Serves every path {@code prefix + rest} where rest has no further '/'. */
    FastReads prefix(String prefix, Read read) {
        prefixes.put(prefix, read);
        return this;
    }

    /** The GETs and HEADs served here, as route templates (a prefix's file is {@code {file}}), for labelling request metrics. */
    List<RouteTemplates.Route> routes() {
        List<String> paths = new ArrayList<>(exact.keySet());
        paths.addAll(pages.keySet());
        for (String prefix : prefixes.keySet()) paths.add(prefix + "{file}");
        List<RouteTemplates.Route> routes = new ArrayList<>();
        for (String path : paths) {
            routes.add(new RouteTemplates.Route("GET", path));
            routes.add(new RouteTemplates.Route("HEAD", path));
        }
        return routes;
    }

    @Override
    public InvocationType getInvocationType() { return InvocationType.NON_BLOCKING; }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        String method = request.getMethod();
        boolean head = HttpMethod.HEAD.is(method);
        if (!head && !HttpMethod.GET.is(method)) return onPool(() -> next(request, response, callback), request, response, callback);
        String path = Request.getPathInContext(request);
        Read page = pages.get(path);
        boolean guarded = access != null && (page == null || privatePages.containsKey(path));
        Read read = page != null ? page : exact.get(path);
        String rest = "";
        if (read == null) {
            int slash = path.lastIndexOf('/');
            read = prefixes.get(path.substring(0, slash + 1));
            rest = path.substring(slash + 1);
        }
        if (read == null && !(guarded && privatePages.containsKey(path))) {
            return onPool(() -> next(request, response, callback), request, response, callback);
        }
        Read found = read;
        String file = rest;
        if (guarded) return onPool(() -> guardedRead(request, response, callback, found, path, file, head), request, response, callback);
        if (found.inline(file)) {
            read(request, response, callback, found, path, file, head);
            return true;
        }
        return onPool(() -> read(request, response, callback, found, path, file, head), request, response, callback);
    }

    /** The rest of the chain (Javalin), on a pool thread; what nothing answers is a 404. */
    private void next(Request request, Response response, Callback callback) throws Exception {
        if (!super.handle(request, response, callback)) Response.writeError(request, response, callback, 404);
    }

    /** A private registry's read: the token is checked (which may ask the database) first. */
    private void guardedRead(Request request, Response response, Callback callback, Read read, String path, String rest, boolean head)
            throws Exception {
        ApiException refused = access.refuseRead(request);
        if (refused != null) {
            Supplier<byte[]> page = privatePages.get(path);
            if (page != null && refused.code() == ErrorCode.UNAUTHORIZED) {
                writePage(response, callback, page.get(), head);
            } else {
                ErrorBody.write(response, callback, refused, head);
            }
            return;
        }
        if (read == null) {
            next(request, response, callback);
            return;
        }
        read(request, response, callback, read, path, rest, head);
    }

    private static void read(Request request, Response response, Callback callback, Read read, String path, String rest, boolean head) {
        try {
            read.handle(request, response, callback, rest, head);
        } catch (ApiException e) {
            ErrorBody.write(response, callback, e, head);
        } catch (Exception e) {
            LOG.error("unexpected error on {} {}", request.getMethod(), path, e);
            ErrorBody.write(response, callback, new ApiException(ErrorCode.INTERNAL), head);
        }
    }

    /** Work that may block, handed to a pool thread; the request is then answered from there. */
    private boolean onPool(Work work, Request request, Response response, Callback callback) {
        getServer().getThreadPool().execute(() -> {
            try {
                work.run();
            } catch (Throwable t) {
                Response.writeError(request, response, callback, t);
            }
        });
        return true;
    }

    @FunctionalInterface
    private interface Work {
        void run() throws Exception;
    }

    /** A part of a response body: bytes at hand, or a range of a stored layer. */
    sealed interface Piece permits Bytes, LayerRange {}

    record Bytes(ByteBuffer buffer) implements Piece {}

    record LayerRange(LayerStore.LayerContent content, long offset, long length) implements Piece {}

    /** Bytes read per step from a store that streams (an object store); the memory one response holds. */
    private static final int STREAM_CHUNK = 64 * 1024;

    /**
     * Writes the pieces in order. A layer range the store can map goes to the socket as mapped
     * buffers (zero copy); otherwise it is streamed through one {@value #STREAM_CHUNK}-byte buffer,
     * opened only when its turn comes, and closed (aborting the store's transfer) the moment the
     * client goes away.
     */
    static void writePieces(Response response, List<Piece> pieces, Callback callback) {
        List<ByteBuffer> mapped = new ArrayList<>();
        boolean allMapped = true;
        try {
            for (Piece piece : pieces) {
                if (piece instanceof Bytes bytes) {
                    mapped.add(bytes.buffer());
                } else if (piece instanceof LayerRange range) {
                    var slices = range.content().slices(range.offset(), range.length());
                    if (slices.isEmpty()) {
                        allMapped = false;
                        break;
                    }
                    mapped.addAll(slices.get());
                }
            }
        } catch (IOException e) {
            callback.failed(e);
            return;
        }
        if (allMapped) {
            write(response, mapped, callback);
            return;
        }
        new IteratingCallback() {
            private final Iterator<Piece> next = pieces.iterator();
            private InputStream stream;
            private long remaining;
            private byte[] chunk;

            @Override
            protected Action process() throws Exception {
                while (stream == null || remaining == 0) {
                    closeStream();
                    if (!next.hasNext()) return Action.SUCCEEDED;
                    Piece piece = next.next();
                    if (piece instanceof Bytes bytes) {
                        response.write(!next.hasNext(), bytes.buffer(), this);
                        return Action.SCHEDULED;
                    }
                    LayerRange range = (LayerRange) piece;
                    if (range.length() == 0) continue;
                    stream = range.content().stream(range.offset(), range.length());
                    remaining = range.length();
                    if (chunk == null) chunk = new byte[STREAM_CHUNK];
                }
                int want = (int) Math.min(chunk.length, remaining);
                int n = stream.readNBytes(chunk, 0, want);
                if (n < want) throw new IOException("the layer store ended the stream " + (remaining - n) + " bytes early");
                remaining -= n;
                response.write(remaining == 0 && !next.hasNext(), ByteBuffer.wrap(chunk, 0, n), this);
                return Action.SCHEDULED;
            }

            private void closeStream() {
                if (stream == null) return;
                try {
                    stream.close();
                } catch (IOException e) {
                    LOG.debug("closing a layer stream", e);
                }
                stream = null;
            }

            @Override
            protected void onCompleteSuccess() {
                closeStream();
                callback.succeeded();
            }

            @Override
            protected void onCompleteFailure(Throwable cause) {
                closeStream();
                callback.failed(cause);
            }
        }.iterate();
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

    /**
     * Ends a response that has no body (HEAD, 304) with an empty last write: completing it by
     * {@code callback.succeeded()} alone makes Jetty build an error-response wrapper per request.
     */
    static void endWithoutBody(Response response, Callback callback) {
        response.write(true, BufferUtil.EMPTY_BUFFER, callback);
    }

    /** Ends the response with {@code body}, or with no body for a HEAD (whose headers already say its length). */
    static void endWith(Response response, Callback callback, byte[] body, boolean head) {
        if (head) {
            endWithoutBody(response, callback);
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
