package io.strata.http;

import io.javalin.config.JavalinConfig;
import io.javalin.http.HttpResponseException;
import io.strata.api.ApiException;
import io.strata.auth.TokenService;

/**
 * Every route of the server, in one table. Reads are public; writes name the scope they need.
 * Handlers parse the request, call one service method and set status and headers.
 */
public final class Routes {
    private Routes() {}

    public static void install(JavalinConfig config, Services services) {
        LayerHandler layers = new LayerHandler(services.layers());
        UploadHandlers uploads = new UploadHandlers(services.uploads());
        TokenService tokens = services.tokens();
        var routes = config.routes;

        routes.beforeMatched(ctx -> Access.check(ctx, tokens));

        routes.get("/healthz", ctx -> Health.check(ctx, services));

        routes.get("/layers/{file}", layers::serve);
        routes.head("/layers/{file}", layers::serve);

        routes.put("/api/v1/layers/{digest}", uploads::putLayer, Access.PUSH);
        routes.post("/api/v1/uploads", uploads::start, Access.PUSH);
        routes.get("/api/v1/uploads/{id}", uploads::status, Access.PUSH);
        routes.patch("/api/v1/uploads/{id}", uploads::append, Access.PUSH);
        routes.put("/api/v1/uploads/{id}", uploads::finish, Access.PUSH);
        routes.delete("/api/v1/uploads/{id}", uploads::cancel, Access.PUSH);

        routes.exception(ApiException.class, ErrorRenderer::render);
        routes.exception(HttpResponseException.class, ErrorRenderer::render);
        routes.exception(Exception.class, ErrorRenderer::renderUnexpected);
    }
}
