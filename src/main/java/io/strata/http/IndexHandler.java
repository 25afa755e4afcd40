package io.strata.http;

import io.strata.index.Document;
import io.strata.index.IndexService;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.PreEncodedHttpField;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.util.Locale;

/**
 * The index documents, from memory: strong ETag per representation (304 on If-None-Match),
 * gzip when the client accepts it, and {@code no-cache} so clients revalidate each time. Next to
 * each, its minisign signature ({@code <path>.minisig}), and the key at {@code /strata.pub}.
 */
final class IndexHandler {
    private static final HttpField NO_CACHE = new PreEncodedHttpField(HttpHeader.CACHE_CONTROL, "no-cache");
    private static final HttpField VARY = new PreEncodedHttpField(HttpHeader.VARY, "Accept-Encoding");
    private static final HttpField GZIP = new PreEncodedHttpField(HttpHeader.CONTENT_ENCODING, "gzip");
    private static final HttpField TEXT = new PreEncodedHttpField(HttpHeader.CONTENT_TYPE, "text/plain; charset=utf-8");

    private final IndexService index;

    IndexHandler(IndexService index) { this.index = index; }

    FastReads.Read of(IndexService.Kind kind) {
        return new FastReads.Read() {
            @Override
            public void handle(Request request, Response response, Callback callback, String rest, boolean head) {
                serve(request, response, callback, head, index.document(kind));
            }

            /** Inline once rendered: rendering the first time reads the catalog and may take a while. */
            @Override
            public boolean inline(String rest) { return index.rendered(kind); }
        };
    }

    /** {@code <path>.minisig}: the signature of the rendering {@link #of} serves now, with an ETag that follows the document's. */
    FastReads.Read signatureOf(IndexService.Kind kind) {
        return new FastReads.Read() {
            @Override
            public void handle(Request request, Response response, Callback callback, String rest, boolean head) {
                Document document = index.document(kind);
                byte[] body = document.minisig();
                PageFiles.serve(request, response, callback, head, new HttpField(HttpHeader.ETAG, document.minisigEtag()), TEXT,
                        new HttpField(HttpHeader.CONTENT_LENGTH, Integer.toString(body.length)), body);
            }

            /** Inline once signed: signing hashes the whole document, which for a large catalog takes milliseconds. */
            @Override
            public boolean inline(String rest) { return index.rendered(kind) && index.document(kind).signed(); }
        };
    }

    /** {@code /strata.pub}: the minisign public key the signatures verify with. */
    FastReads.Read publicKey() { return PageFiles.fixed(index.publicKeyFile(), TEXT.getValue()); }

    private static void serve(Request request, Response response, Callback callback, boolean head, Document document) {
        boolean gzip = acceptsGzip(request.getHeaders().get(HttpHeader.ACCEPT_ENCODING));
        String etag = gzip ? document.gzipEtag() : document.etag();
        HttpFields.Mutable headers = response.getHeaders();
        headers.put(HttpHeader.ETAG, etag);
        headers.put(NO_CACHE);
        headers.put(VARY);
        if (LayerHandler.matchesAny(request.getHeaders().get(HttpHeader.IF_NONE_MATCH), etag)) {
            response.setStatus(304);
            FastReads.endWithoutBody(response, callback);
            return;
        }
        byte[] body = gzip ? document.gzipped() : document.body();
        response.setStatus(200);
        headers.put(HttpHeader.CONTENT_TYPE, document.contentType());
        if (gzip) headers.put(GZIP);
        headers.put(HttpHeader.CONTENT_LENGTH, body.length);
        FastReads.endWith(response, callback, body, head);
    }

    /** True unless gzip is absent or refused with q=0 (RFC 9110 §12.5.3). */
    static boolean acceptsGzip(String header) {
        if (header == null) return false;
        for (String part : header.split(",")) {
            String[] pieces = part.strip().split(";");
            String coding = pieces[0].strip().toLowerCase(Locale.ROOT);
            if (!coding.equals("gzip") && !coding.equals("x-gzip") && !coding.equals("*")) continue;
            double q = 1;
            for (int i = 1; i < pieces.length; i++) {
                String param = pieces[i].strip();
                if (param.startsWith("q=") || param.startsWith("Q=")) {
                    try {
                        q = Double.parseDouble(param.substring(2));
                    } catch (NumberFormatException e) {
                        q = 0;
                    }
                }
            }
            if (q > 0) return true;
        }
        return false;
    }
}
