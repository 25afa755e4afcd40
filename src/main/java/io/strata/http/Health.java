package io.strata.http;

import io.javalin.http.Context;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code GET /healthz}: 200 when the database answers and the layer store answers (a writable directory,
 * or a reachable bucket), 503 otherwise; also whether LXD items are made (and if not, why) and how many
 * are preparing, failed or ready.
 */
final class Health {
    private Health() {}

    static void check(Context ctx, Services services) {
        boolean database = services.database().isUsable();
        boolean store;
        try {
            services.layers().store().check();
            store = true;
        } catch (java.io.IOException | RuntimeException e) {
            store = false;
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("status", database && store ? "ok" : "unavailable");
        body.put("database", database ? "ok" : "failing");
        body.put("store", store ? "ok" : "failing");
        // Optional feature: reported, never a reason for 503 (layer-aware clients do not need it).
        body.put("lxd", JobsView.lxdSummary(services));
        ctx.status(database && store ? 200 : 503).header("Cache-Control", "no-store").json(body);
    }
}
