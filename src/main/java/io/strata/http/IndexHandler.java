package io.strata.http;

import io.javalin.http.Context;
import io.strata.index.Document;
import io.strata.index.Documents;
import io.strata.index.IndexService;
import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;
import java.util.Locale;
import java.util.function.Function;

/**
 * The index documents, from memory: strong ETag per representation (304 on If-None-Match),
 * gzip when the client accepts it, and {@code no-cache} so clients revalidate each time.
 */
final class IndexHandler {
    private final IndexService index;

    IndexHandler(IndexService index) { this.index = index; }

    void strataIndex(Context ctx) throws IOException { serve(ctx, Documents::index); }

    void streamsIndex(Context ctx) throws IOException { serve(ctx, Documents::streamsIndex); }

    void streamsImages(Context ctx) throws IOException { serve(ctx, Documents::streamsImages); }

    private void serve(Context ctx, Function<Documents, Document> which) throws IOException {
        Document document = which.apply(index.current());
        boolean gzip = acceptsGzip(ctx.header("Accept-Encoding"));
        String etag = gzip ? document.gzipEtag() : document.etag();
        HttpServletResponse res = ctx.res();
        res.setHeader("ETag", etag);
        res.setHeader("Cache-Control", "no-cache");
        res.setHeader("Vary", "Accept-Encoding");
        if (LayerHandler.matchesAny(ctx.header("If-None-Match"), etag)) {
            res.setStatus(304);
            return;
        }
        byte[] body = gzip ? document.gzipped() : document.body();
        res.setStatus(200);
        res.setContentType(document.contentType());
        if (gzip) res.setHeader("Content-Encoding", "gzip");
        res.setContentLength(body.length);
        if (!"HEAD".equals(ctx.method().name())) res.getOutputStream().write(body);
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
