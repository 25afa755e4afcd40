package io.strata.http;

import io.javalin.http.Context;
import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.config.Limits;
import io.strata.http.guard.MinRateInputStream;
import io.strata.layer.Digest;
import io.strata.layer.LayerService.Accepted;
import io.strata.upload.UploadService;
import io.strata.upload.UploadSession;

import java.io.IOException;
import java.util.Map;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The publishing API for layer bytes: monolithic PUT and the resumable session flow of DESIGN §6. */
final class UploadHandlers {
    /** {@code bytes a-b/*}, {@code bytes a-b/total} or Distribution's bare {@code a-b}. */
    private static final Pattern CONTENT_RANGE = Pattern.compile("(?:bytes\\s+)?(\\d{1,19})-(\\d{1,19})(?:/(\\d{1,19}|\\*))?");

    private final UploadService uploads;
    private final Limits limits;

    /**
     * Jetty's read buffer per connection. Its default (8 KiB) made an upload body arrive in that
     * many small pieces, each one a socket read plus Jetty chunk objects; with 64 KiB the request
     * thread spends ~15% less CPU per GiB uploaded (measured, issue 11). 64 KiB is the largest size
     * Jetty's default buffer pool keeps, so the buffer stays pooled and is released when a
     * connection has nothing buffered.
     */
    static final int INPUT_BUFFER_BYTES = 64 * 1024;

    UploadHandlers(UploadService uploads, Limits limits) {
        this.uploads = uploads;
        this.limits = limits;
    }

    void putLayer(Context ctx) throws IOException {
        Access.note(ctx, "layer.put", ctx.pathParam("digest"));
        Digest digest = digestParam(ctx.pathParam("digest"));
        MinRateInputStream body = body(ctx);
        try {
            stored(ctx, uploads.putLayer(digest, body, ctx.req().getContentLengthLong(), Access.uploader(ctx)));
        } catch (ApiException e) {
            throw slowOr(ctx, body, e);
        }
    }

    void start(Context ctx) throws IOException {
        Access.note(ctx, "upload.start", "new session");
        UploadSession session = uploads.start(Access.uploader(ctx));
        Access.note(ctx, "upload.start", session.id());
        describe(ctx, session, 202);
    }

    void status(Context ctx) throws InterruptedException {
        uploads.checkOwner(ctx.pathParam("id"), Access.uploader(ctx));
        describe(ctx, uploads.status(ctx.pathParam("id")), 200);
    }

    void append(Context ctx) throws IOException, InterruptedException {
        String id = ctx.pathParam("id");
        uploads.checkOwner(id, Access.uploader(ctx));
        try {
            OptionalLong start = OptionalLong.empty();
            OptionalLong end = OptionalLong.empty();
            String header = ctx.header("Content-Range");
            if (header != null) {
                Matcher m = CONTENT_RANGE.matcher(header.strip());
                if (!m.matches()) {
                    throw new ApiException(ErrorCode.RANGE_INVALID, "Content-Range must look like 'bytes <first>-<last>/*', got '"
                            + header + "'", Map.of("received", uploads.status(id).received()));
                }
                try {
                    start = OptionalLong.of(Long.parseLong(m.group(1)));
                    end = OptionalLong.of(Long.parseLong(m.group(2)));
                } catch (NumberFormatException e) {
                    throw new ApiException(ErrorCode.RANGE_INVALID, "Content-Range offsets are beyond any layer size",
                            Map.of("received", uploads.status(id).received()));
                }
            }
            MinRateInputStream body = body(ctx);
            try {
                describe(ctx, uploads.append(id, start, end, body, ctx.req().getContentLengthLong(), Access.uploader(ctx)), 202);
            } catch (ApiException e) {
                throw slowOr(ctx, body, e);
            }
        } catch (ApiException e) {
            if (e.detail().get("received") instanceof Long received) offsetHeaders(ctx, received);
            throw e;
        }
    }

    void finish(Context ctx) throws IOException {
        String digest = ctx.queryParam("digest");
        Access.note(ctx, "upload.finish", ctx.pathParam("id") + " as " + digest);
        uploads.checkOwner(ctx.pathParam("id"), Access.uploader(ctx));
        if (digest == null || !digest.startsWith("sha256:")) {
            throw new ApiException(ErrorCode.DIGEST_INVALID, "finish the upload with PUT <location>?digest=sha256:<64 lowercase hex>");
        }
        Digest claimed = digestParam(digest.substring("sha256:".length()));
        long length = ctx.req().getContentLengthLong();
        MinRateInputStream body = body(ctx);
        try {
            stored(ctx, uploads.finish(ctx.pathParam("id"), claimed, body, length, Access.uploader(ctx)));
        } catch (ApiException e) {
            throw slowOr(ctx, body, e);
        }
    }

    private MinRateInputStream body(Context ctx) throws IOException {
        return new MinRateInputStream(ctx.req().getInputStream(), limits.minUploadRate(), limits.uploadRateWindow());
    }

    /**
     * A body cut off because it was too slow is the client's doing, not a malformed request: 408
     * with what the session kept, and the connection closed instead of waiting for the rest.
     */
    private static ApiException slowOr(Context ctx, MinRateInputStream body, ApiException e) {
        if (!body.tripped()) return e;
        ctx.header("Connection", "close");
        BodyDrain.skip(ctx);
        Map<String, Object> detail = new java.util.LinkedHashMap<>(e.detail());
        detail.put("min_rate", body.minRate());
        return new ApiException(ErrorCode.UPLOAD_TOO_SLOW, "the body arrived slower than " + body.minRate()
                + " bytes per second (or stalled) and was cut off; a resumable upload keeps what arrived: ask GET on the upload for its offset and continue from there",
                detail);
    }

    void cancel(Context ctx) throws IOException {
        Access.note(ctx, "upload.cancel", ctx.pathParam("id"));
        uploads.checkOwner(ctx.pathParam("id"), Access.uploader(ctx));
        uploads.cancel(ctx.pathParam("id"));
        ctx.status(204);
    }

    private static void stored(Context ctx, Accepted accepted) {
        ctx.status(accepted.created() ? 201 : 200);
        ctx.header("Location", "/layers/" + accepted.layer().digest().fileName());
        ctx.json(LayerView.of(accepted.layer()));
    }

    private static void describe(Context ctx, UploadSession session, int status) {
        String location = "/api/v1/uploads/" + session.id();
        ctx.status(status);
        ctx.header("Location", location);
        offsetHeaders(ctx, session.received());
        ctx.header("Cache-Control", "no-store");
        ctx.json(Map.of("id", session.id(), "location", location, "received", session.received()));
    }

    /** Distribution's convention: Range names the bytes held, inclusive; it cannot say "none", hence Upload-Offset too. */
    private static void offsetHeaders(Context ctx, long received) {
        ctx.header("Range", "0-" + Math.max(0, received - 1));
        ctx.header("Upload-Offset", Long.toString(received));
    }

    static Digest digestParam(String hex) {
        if (!Digest.isValid(hex)) {
            throw new ApiException(ErrorCode.DIGEST_INVALID, "a layer digest is 64 lowercase hex characters (the sha256 of the file), got '"
                    + (hex.length() > 80 ? hex.substring(0, 80) + "…" : hex) + "'");
        }
        return new Digest(hex);
    }
}
