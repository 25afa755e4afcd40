package io.strata.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.javalin.config.JavalinConfig;
import io.javalin.http.HttpResponseException;
import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.config.AccessConfig;
import io.strata.config.Limits;
import io.strata.index.IndexService;
import io.strata.metrics.Metrics;
import io.strata.metrics.RouteTemplates;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Every route of the server, in one table. Reads are public (unless private); writes name the scope they need.
 * Handlers parse the request, call one service method and set status and headers.
 */
public final class Routes {
    private Routes() {}

    public static void install(JavalinConfig config, Services services, ObjectMapper json, Limits limits) {
        install(config, services, json, limits, AccessConfig.defaults(), Map.of(), true, null);
    }

    /**
     * @param privatePages on a private registry, the catalog page's HTML by path, answered with 401
     *                     to a request without a token (see {@link FastReads#requireToken})
     * @param builtInPage  serve the catalog page built into the jar (false when {@code --static DIR} gives another)
     * @param metrics      served at {@code /metrics}; null for none
     * @return the templates of every route, which label the request metrics
     */
    public static RouteTemplates install(JavalinConfig config, Services services, ObjectMapper json, Limits limits, AccessConfig accessConfig,
                                         Map<String, Supplier<byte[]>> privatePages, boolean builtInPage, Metrics metrics) {
        Access access = new Access(services.tokens(), services.audit(), accessConfig.privateMode());
        LayerHandler layers = new LayerHandler(services.layers());
        UploadHandlers uploads = new UploadHandlers(services.uploads(), limits);
        CatalogHandlers catalog = new CatalogHandlers(services.catalog(), json, access);
        TokenHandlers tokens = new TokenHandlers(services.tokens(), services.audit(), access, json);
        IndexHandler index = new IndexHandler(services.index());
        var routes = config.routes;

        // Who may do what (DESIGN §11): Need roles below; routes without one are reads (token needed only with --private).
        routes.beforeMatched(access::check);

        // GET and HEAD of the hot public reads, on Jetty's core API in front of Javalin (see FastReads).
        FastReads reads = new FastReads()
                .exact("/index.json", index.of(IndexService.Kind.INDEX))                // the one-call plan (DESIGN §4)
                .exact("/streams/v1/index.json", index.of(IndexService.Kind.STREAMS_INDEX))// simplestreams index:1.0
                .exact("/streams/v1/images.json", index.of(IndexService.Kind.STREAMS_IMAGES))// simplestreams products:1.0
                .exact("/strata.pub", index.publicKey())                                // the key the signatures verify with (DESIGN §12)
                .prefix("/layers/", layers)                                             // layer bytes (DESIGN §5)
                .prefix("/lxd/", new LxdHandler(services.lxd(), services.layers().store())); // LXD/Incus items (DESIGN §9)
        for (IndexService.Kind kind : IndexService.Kind.values()) reads.exact("/" + kind.path() + ".minisig", index.signatureOf(kind));
        if (builtInPage) {
            PageFiles page = PageFiles.fromClasspath();                                 // the catalog page: /, /app.js, ...
            for (String path : page.paths()) reads.page(path, page.read(path));
        }
        if (metrics != null) reads.exact("/metrics", new MetricsHandler(metrics));     // Prometheus text (DESIGN §12)
        if (accessConfig.privateMode()) reads.requireToken(access, privatePages);
        config.jetty.modifyHttpConfiguration(http -> http.setInputBufferSize(UploadHandlers.INPUT_BUFFER_BYTES));
        config.jetty.modifyServer(server -> {
            // Outermost, so these requests skip the servlet context, sessions and Javalin entirely.
            reads.setHandler(server.getHandler());
            server.setHandler(reads);
        });

        routes.get("/healthz", ctx -> Health.check(ctx, services), Access.PUBLIC);

        // Publishing layers (DESIGN §6).
        routes.get("/api/v1/layers/{digest}", ctx -> ctx.json(LayerView.of(services.layers()
                .find(UploadHandlers.digestParam(ctx.pathParam("digest")))
                .orElseThrow(() -> new ApiException(ErrorCode.LAYER_UNKNOWN, "layer " + ctx.pathParam("digest") + " is not stored",
                        Map.of("digest", ctx.pathParam("digest")))))));
        routes.put("/api/v1/layers/{digest}", uploads::putLayer, Access.PUSH);
        routes.post("/api/v1/uploads", uploads::start, Access.PUSH);
        routes.get("/api/v1/uploads/{id}", uploads::status, Access.PUSH);
        routes.patch("/api/v1/uploads/{id}", uploads::append, Access.PUSH);
        routes.put("/api/v1/uploads/{id}", uploads::finish, Access.PUSH);
        routes.delete("/api/v1/uploads/{id}", uploads::cancel, Access.PUSH);

        // Images and aliases (DESIGN §3, §6). Alias names contain '/': <alias> takes the rest of the path.
        routes.post("/api/v1/images", catalog::publish, Access.PUBLISH);
        routes.get("/api/v1/images/<ref>", catalog::image);
        routes.delete("/api/v1/images/{fingerprint}", catalog::deleteImage, Access.DELETE);
        routes.put("/api/v1/aliases/<alias>", catalog::setAlias, Access.PUBLISH);
        routes.delete("/api/v1/aliases/<alias>", catalog::deleteAlias, Access.PUBLISH);
        routes.get("/api/v1/alias-history/<alias>", catalog::aliasHistory);

        // Maintenance.
        routes.post("/api/v1/gc", ctx -> GcHandler.collect(ctx, services.gc()), Access.ADMIN);
        routes.get("/api/v1/jobs", ctx -> JobsView.list(ctx, services), Access.ADMIN);         // background jobs, failures first

        // Tokens and the audit log (issue 10): a token makes tokens with a subset of its own scopes.
        routes.post("/api/v1/tokens", tokens::create, Access.TOKEN);
        routes.get("/api/v1/tokens", tokens::list, Access.ADMIN);
        routes.delete("/api/v1/tokens/{id}", tokens::revoke, Access.ADMIN);
        routes.get("/api/v1/audit", tokens::audit, Access.ADMIN);

        routes.after(BodyDrain::drain);
        routes.after(access::audit);

        routes.exception(ApiException.class, ErrorRenderer::render);
        routes.exception(HttpResponseException.class, ErrorRenderer::render);
        routes.exception(Exception.class, ErrorRenderer::renderUnexpected);

        // The request metrics label a request by its route's template, never by its path (one series per layer would be unbounded).
        // FastReads answers its GETs and HEADs in front of Javalin; Javalin's own table gives the rest, as registered above.
        List<RouteTemplates.Route> templates = new ArrayList<>(reads.routes());
        for (var handler : config.unsafe.internalRouter.allHttpHandlers()) {
            if (handler.endpoint.method.isHttpMethod()) templates.add(new RouteTemplates.Route(handler.endpoint.method.name(), handler.endpoint.path));
        }
        return RouteTemplates.of(templates);
    }
}
