package io.strata.http;

import io.javalin.http.Context;
import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.layer.Digest;
import io.strata.layer.LayerRecord;
import io.strata.layer.LayerService;
import io.strata.layer.LayerStore.LayerContent;
import jakarta.servlet.ServletOutputStream;
import org.eclipse.jetty.ee10.servlet.HttpOutput;
import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * {@code GET} and {@code HEAD /layers/<sha256>.qcow2} with the semantics of DESIGN §5 / RFC 9110:
 * strong ETag, immutable caching, single and multiple ranges, 416, If-Range, If-None-Match.
 * Bodies are written from memory-mapped slices straight to the socket.
 */
final class LayerHandler {
    private static final String SUFFIX = ".qcow2";
    private static final String CACHE_CONTROL = "public, max-age=31536000, immutable";
    private static final String CONTENT_TYPE = "application/octet-stream";

    private final LayerService layers;

    LayerHandler(LayerService layers) { this.layers = layers; }

    void serve(Context ctx) throws IOException {
        boolean head = "HEAD".equals(ctx.method().name());
        Digest digest = parse(ctx.pathParam("file"));
        LayerRecord record = layers.find(digest).orElseThrow(() -> unknown(digest));
        LayerContent content;
        try {
            content = layers.store().open(digest);
        } catch (NoSuchFileException e) {
            throw new ApiException(ErrorCode.LAYER_UNKNOWN, "layer " + digest + " is recorded but its file is missing; run 'strata verify'");
        }
        long size = content.size();
        String etag = "\"" + digest.hex() + "\"";
        String lastModified = DateTimeFormatter.RFC_1123_DATE_TIME.format(record.createdAt().atZone(ZoneOffset.UTC));
        HttpServletResponse res = ctx.res();
        res.setHeader("Accept-Ranges", "bytes");
        res.setHeader("ETag", etag);
        res.setHeader("Cache-Control", CACHE_CONTROL);
        res.setHeader("Last-Modified", lastModified);

        if (matchesAny(ctx.header("If-None-Match"), etag)) {
            res.setStatus(304);
            return;
        }
        String rangeHeader = ctx.header("Range");
        String ifRange = ctx.header("If-Range");
        if (rangeHeader != null && ifRange != null && !ifRangeMatches(ifRange.strip(), etag, record)) rangeHeader = null;

        ByteRanges.Outcome outcome = ByteRanges.parse(rangeHeader, size);
        if (outcome instanceof ByteRanges.Satisfiable satisfiable) {
            List<ByteRanges.Range> ranges = satisfiable.ranges();
            if (ranges.size() > 1) {
                multipart(res, head, content, ranges, size);
                return;
            }
            ByteRanges.Range range = ranges.get(0);
            res.setStatus(206);
            res.setContentType(CONTENT_TYPE);
            res.setHeader("Content-Range", range.contentRange(size));
            res.setContentLengthLong(range.length());
            if (!head) write(res, content.slices(range.first(), range.length()));
        } else if (outcome instanceof ByteRanges.Unsatisfiable) {
            res.setHeader("Content-Range", "bytes */" + size);
            throw new ApiException(ErrorCode.RANGE_NOT_SATISFIABLE,
                    "no requested range starts inside the layer's " + size + " bytes", Map.of("size", size));
        } else if (outcome instanceof ByteRanges.TooMany tooMany) {
            res.setHeader("Content-Range", "bytes */" + size);
            throw new ApiException(ErrorCode.RANGE_NOT_SATISFIABLE, "at most " + ByteRanges.MAX_RANGES
                    + " ranges per request, got " + tooMany.count(), Map.of("size", size));
        } else {
            res.setStatus(200);
            res.setContentType(CONTENT_TYPE);
            res.setContentLengthLong(size);
            if (!head) write(res, content.slices(0, size));
        }
    }

    private static void multipart(HttpServletResponse res, boolean head, LayerContent content, List<ByteRanges.Range> ranges,
                                  long size) throws IOException {
        String boundary = UUID.randomUUID().toString().replace("-", "");
        List<byte[]> partHeads = new ArrayList<>(ranges.size());
        long length = 0;
        for (ByteRanges.Range range : ranges) {
            byte[] partHead = ("\r\n--" + boundary + "\r\nContent-Type: " + CONTENT_TYPE + "\r\nContent-Range: "
                    + range.contentRange(size) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
            partHeads.add(partHead);
            length += partHead.length + range.length();
        }
        byte[] end = ("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.US_ASCII);
        length += end.length;
        res.setStatus(206);
        res.setContentType("multipart/byteranges; boundary=" + boundary);
        res.setContentLengthLong(length);
        if (head) return;
        List<ByteBuffer> body = new ArrayList<>();
        for (int i = 0; i < ranges.size(); i++) {
            body.add(ByteBuffer.wrap(partHeads.get(i)));
            body.addAll(content.slices(ranges.get(i).first(), ranges.get(i).length()));
        }
        body.add(ByteBuffer.wrap(end));
        write(res, body);
    }

    private static void write(HttpServletResponse res, List<ByteBuffer> buffers) throws IOException {
        ServletOutputStream out = res.getOutputStream();
        try {
            if (out instanceof HttpOutput jetty) {
                // Jetty writes a ByteBuffer straight to the socket: mapped page-cache pages, no heap copy.
                for (ByteBuffer buffer : buffers) jetty.write(buffer);
            } else {
                byte[] chunk = new byte[64 * 1024];
                for (ByteBuffer buffer : buffers) {
                    while (buffer.hasRemaining()) {
                        int n = Math.min(chunk.length, buffer.remaining());
                        buffer.get(chunk, 0, n);
                        out.write(chunk, 0, n);
                    }
                }
            }
        } catch (IOException e) {
            // The client went away mid-body (a cancelled or resumed download): nothing to answer.
            throw new ClientGoneException(e);
        }
    }

    /** A download the client abandoned; not an error worth a response or a stack trace. */
    static final class ClientGoneException extends RuntimeException {
        ClientGoneException(IOException cause) { super(cause.getMessage(), cause); }
    }

    static Digest parse(String file) {
        if (file == null || !file.endsWith(SUFFIX) || !Digest.isValid(file.substring(0, file.length() - SUFFIX.length()))) {
            throw new ApiException(ErrorCode.LAYER_UNKNOWN, "layer URLs look like /layers/<64 lowercase hex>.qcow2");
        }
        return new Digest(file.substring(0, file.length() - SUFFIX.length()));
    }

    private static ApiException unknown(Digest digest) {
        return new ApiException(ErrorCode.LAYER_UNKNOWN, "layer " + digest + " is not stored here", Map.of("digest", digest.hex()));
    }

    /** If-None-Match uses weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored, "*" matches. */
    static boolean matchesAny(String header, String etag) {
        if (header == null) return false;
        for (String candidate : header.split(",")) {
            String tag = candidate.strip();
            if (tag.equals("*")) return true;
            if (tag.startsWith("W/")) tag = tag.substring(2);
            if (tag.equals(etag)) return true;
        }
        return false;
    }

    /** If-Range uses strong comparison: a weak tag never matches; a date matches only our exact Last-Modified. */
    private static boolean ifRangeMatches(String value, String etag, LayerRecord record) {
        if (value.startsWith("\"") || value.startsWith("W/")) return value.equals(etag);
        try {
            ZonedDateTime date = ZonedDateTime.parse(value, DateTimeFormatter.RFC_1123_DATE_TIME);
            return date.toEpochSecond() == record.createdAt().getEpochSecond();
        } catch (DateTimeParseException e) {
            return false;
        }
    }
}
