package io.strata.http;

import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.layer.Digest;
import io.strata.layer.LayerRecord;
import io.strata.layer.LayerService;
import io.strata.layer.LayerStore.LayerContent;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.PreEncodedHttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

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
 * Bodies are memory-mapped slices handed to Jetty, which writes them straight to the socket.
 */
final class LayerHandler implements FastReads.Read {
    private static final String SUFFIX = ".qcow2";
    private static final String CONTENT_TYPE = "application/octet-stream";
    // Constant headers, encoded once rather than per response.
    private static final HttpField ACCEPT_RANGES = new PreEncodedHttpField(HttpHeader.ACCEPT_RANGES, "bytes");
    private static final HttpField CACHE_CONTROL = new PreEncodedHttpField(HttpHeader.CACHE_CONTROL, "public, max-age=31536000, immutable");
    private static final HttpField OCTET_STREAM = new PreEncodedHttpField(HttpHeader.CONTENT_TYPE, CONTENT_TYPE);

    private final LayerService layers;

    LayerHandler(LayerService layers) { this.layers = layers; }

    @Override
    public void handle(Request request, Response response, Callback callback, String file, boolean head) throws IOException {
        Digest digest = parse(file);
        LayerRecord record = layers.find(digest).orElseThrow(() -> unknown(digest));
        LayerContent content;
        try {
            content = layers.store().open(digest);
        } catch (NoSuchFileException e) {
            throw new ApiException(ErrorCode.LAYER_UNKNOWN, "layer " + digest + " is recorded but its file is missing; run 'strata verify'");
        }
        long size = content.size();
        String etag = "\"" + digest.hex() + "\"";
        HttpFields.Mutable headers = response.getHeaders();
        headers.put(ACCEPT_RANGES);
        headers.put(HttpHeader.ETAG, etag);
        headers.put(CACHE_CONTROL);
        headers.put(HttpHeader.LAST_MODIFIED, DateTimeFormatter.RFC_1123_DATE_TIME.format(record.createdAt().atZone(ZoneOffset.UTC)));

        HttpFields requestHeaders = request.getHeaders();
        if (matchesAny(requestHeaders.get(HttpHeader.IF_NONE_MATCH), etag)) {
            response.setStatus(304);
            callback.succeeded();
            return;
        }
        String range = requestHeaders.get(HttpHeader.RANGE);
        String ifRange = requestHeaders.get(HttpHeader.IF_RANGE);
        if (range != null && ifRange != null && !ifRangeMatches(ifRange.strip(), etag, record)) range = null;

        ByteRanges.Outcome outcome = ByteRanges.parse(range, size);
        if (outcome instanceof ByteRanges.Satisfiable satisfiable) {
            List<ByteRanges.Range> ranges = satisfiable.ranges();
            if (ranges.size() > 1) {
                multipart(response, callback, head, content, ranges, size);
                return;
            }
            ByteRanges.Range one = ranges.get(0);
            response.setStatus(206);
            headers.put(OCTET_STREAM);
            headers.put(HttpHeader.CONTENT_RANGE, one.contentRange(size));
            send(response, callback, head, one.length(), content.slices(one.first(), one.length()));
        } else if (outcome instanceof ByteRanges.Unsatisfiable) {
            headers.put(HttpHeader.CONTENT_RANGE, "bytes */" + size);
            throw new ApiException(ErrorCode.RANGE_NOT_SATISFIABLE,
                    "no requested range starts inside the layer's " + size + " bytes", Map.of("size", size));
        } else if (outcome instanceof ByteRanges.TooMany tooMany) {
            headers.put(HttpHeader.CONTENT_RANGE, "bytes */" + size);
            throw new ApiException(ErrorCode.RANGE_NOT_SATISFIABLE, "at most " + ByteRanges.MAX_RANGES
                    + " ranges per request, got " + tooMany.count(), Map.of("size", size));
        } else if (outcome instanceof ByteRanges.Overlapping overlapping) {
            headers.put(HttpHeader.CONTENT_RANGE, "bytes */" + size);
            throw new ApiException(ErrorCode.RANGE_NOT_SATISFIABLE, overlapping.count()
                    + " of the requested ranges overlap; ask for each byte once (at most " + ByteRanges.MAX_OVERLAPPING + " overlapping ranges)",
                    Map.of("size", size));
        } else {
            response.setStatus(200);
            headers.put(OCTET_STREAM);
            send(response, callback, head, size, content.slices(0, size));
        }
    }

    private static void multipart(Response response, Callback callback, boolean head, LayerContent content,
                                  List<ByteRanges.Range> ranges, long size) throws IOException {
        String boundary = UUID.randomUUID().toString().replace("-", "");
        List<ByteBuffer> body = new ArrayList<>();
        long length = 0;
        for (ByteRanges.Range range : ranges) {
            byte[] partHead = ("\r\n--" + boundary + "\r\nContent-Type: " + CONTENT_TYPE + "\r\nContent-Range: "
                    + range.contentRange(size) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
            body.add(ByteBuffer.wrap(partHead));
            body.addAll(content.slices(range.first(), range.length()));
            length += partHead.length + range.length();
        }
        byte[] end = ("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.US_ASCII);
        body.add(ByteBuffer.wrap(end));
        length += end.length;
        response.setStatus(206);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "multipart/byteranges; boundary=" + boundary);
        send(response, callback, head, length, body);
    }

    private static void send(Response response, Callback callback, boolean head, long length, List<ByteBuffer> body) {
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, length);
        if (head) {
            callback.succeeded();
        } else {
            FastReads.write(response, body, callback);
        }
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
