package io.strata.http;

import io.javalin.http.Context;
import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.config.Units;
import io.strata.gc.GarbageCollector;
import io.strata.layer.LayerRecord;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code POST /api/v1/gc?dry_run=true&min_age=1h}: garbage collection of unreferenced layers. */
final class GcHandler {
    static final Duration DEFAULT_MIN_AGE = Duration.ofHours(1);

    private GcHandler() {}

    static void collect(Context ctx, GarbageCollector gc) throws Exception {
        boolean dryRun = Boolean.parseBoolean(ctx.queryParam("dry_run"));
        Access.note(ctx, "gc", dryRun ? "dry run" : "collect");
        Duration minAge = DEFAULT_MIN_AGE;
        String age = ctx.queryParam("min_age");
        if (age != null) {
            try {
                minAge = Units.parseDuration(age);
            } catch (IllegalArgumentException e) {
                throw new ApiException(ErrorCode.BODY_INVALID, e.getMessage(), Map.of("field", "min_age"));
            }
        }
        GarbageCollector.Report report = gc.collect(minAge, dryRun);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("dry_run", report.dryRun());
        body.put("min_age_seconds", minAge.toSeconds());
        body.put("removed", report.removed().stream().map(LayerRecord::digest).map(Object::toString).toList());
        body.put("bytes_freed", report.bytesFreed());
        body.put("kept", report.kept());
        body.put("deferred", report.deferred());
        ctx.json(body);
    }
}
