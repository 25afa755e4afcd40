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
import java.net.URI;
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
import java.util.Optional;
import java.util.UUID;

/**
 * {@code GET} and {@code HEAD /layers/<sha256>.qcow2} with the semantics of DESIGN §5 / RFC 9110:
 * strong ETag, immutable caching, single and multiple ranges, 416, If-Range, If-None-Match.
 * Bodies are memory-mapped slices handed to Jetty, which writes them straight to the socket, or,
 * from a store that cannot map (an object store), ranges streamed with bounded memory.
 */
final class LayerHandler implements FastReads.Read {
    private static final String SUFFIX = ".qcow2";
    private static final String CONTENT_TYPE = "application/octet-stream";
    // Constant headers, encoded once rather than per response.
    private static final HttpField ACCEPT_RANGES = new PreEncodedHttpField(HttpHeader.ACCEPT_RANGES, "bytes");
    private static final HttpField CACHE_CONTROL = new PreEncodedHttpField(HttpHeader.CACHE_CONTROL, "public, max-age=31536000, immutable");
    private static final HttpField OCTET_STREAM = new PreEncodedHttpField(HttpHeader.CONTENT_TYPE, CONTENT_TYPE);

    /** How long a presigned layer URL stays valid: long enough to start a download, short enough not to leak. */
    private static final java.time.Duration REDIRECT_VALIDITY = java.time.Duration.ofMinutes(5);

    private final LayerService layers;

    LayerHandler(LayerService layers) { this.layers = layers; }

    /** Inline (on the I/O thread) only when the record is cached and the file is open: no query, no open. */
    @Override
    public boolean inline(String file) {
        Digest digest = NAMES.getIfPresent(file);
        if (digest == null) return false; // the first request for this name parses it, on the pool
        return layers.cached(digest).isPresent() && layers.store().alreadyOpen(digest).isPresent();
    }

    /** Digests by file name, so a hot layer's name is not parsed again on every request. */
    private static final com.github.benmanes.caffeine.cache.Cache<String, Digest> NAMES =
            com.github.benmanes.caffeine.cache.Caffeine.newBuilder().maximumSize(10_000).executor(Runnable::run).build();

    @Override
    public void handle(Request request, Response response, Callback callback, String file, boolean head) throws IOException {
        Digest digest = NAMES.get(file, LayerHandler::parse); // a bad name throws and is not cached
        LayerRecord record = layers.find(digest).orElseThrow(() -> unknown(digest));
        if (!head && Conditions.of(request.getHeaders()).plainFullGet()) {
            Optional<URI> direct = layers.store().directUrl(digest, REDIRECT_VALIDITY);
            if (direct.isPresent()) {
                // The bytes come straight from the object store; the redirect itself must not outlive the URL.
                response.setStatus(307);
                response.getHeaders().put(HttpHeader.LOCATION, direct.get().toASCIIString());
                response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
                response.getHeaders().put(HttpHeader.CONTENT_LENGTH, 0);
                callback.succeeded();
                return;
            }
        }
        LayerContent content;
        try {
            content = layers.store().open(digest);
        } catch (NoSuchFileException e) {
            throw new ApiException(ErrorCode.LAYER_UNKNOWN, "layer " + digest + " is recorded but its file is missing; run 'strata verify'");
        }
        serve(request, response, callback, head, digest, content, record.createdAt());
    }

    /**
     * Serves one immutable blob named by its sha256 with the semantics above; shared with the LXD
     * items under {@code /lxd/}, which are blobs of the same store.
     */
    static void serve(Request request, Response response, Callback callback, boolean head, Digest digest, LayerContent content,
                      java.time.Instant lastModified) throws IOException {
        long size = content.size();
        Validators validators = Validators.of(digest, lastModified, size);
        String etag = validators.etag().getValue();
        HttpFields.Mutable headers = response.getHeaders();
        headers.put(ACCEPT_RANGES);
        headers.put(validators.etag());
        headers.put(CACHE_CONTROL);
        headers.put(validators.lastModified());

        Conditions conditions = Conditions.of(request.getHeaders());
        if (matchesAny(conditions.ifNoneMatch(), etag)) {
            response.setStatus(304);
            FastReads.endWithoutBody(response, callback);
            return;
        }
        String range = conditions.range();
        String ifRange = conditions.ifRange();
        if (range != null && ifRange != null && !ifRangeMatches(ifRange.strip(), etag, lastModified)) range = null;

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
            headers.put(HttpHeader.CONTENT_LENGTH, one.length());
            send(response, callback, head, List.of(new FastReads.LayerRange(content, one.first(), one.length())));
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
            headers.put(validators.length());
            send(response, callback, head, List.of(new FastReads.LayerRange(content, 0, size)));
        }
    }

    /**
     * RFC 9110's IMF-fixdate, the one date format a sender may generate: two-digit day, English
     * names, GMT. The JDK's {@code RFC_1123_DATE_TIME} writes a one-digit day ("Tue, 1 Dec 2026"),
     * which recipients only have to tolerate.
     */
    static final DateTimeFormatter HTTP_DATE =
            DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", java.util.Locale.US).withZone(ZoneOffset.UTC);

    /**
     * A blob's ETag, Last-Modified and whole-body Content-Length fields, encoded once per blob
     * rather than per response (formatting the date and building the strings were most of what a
     * HEAD allocated). A blob is named by its digest, so only its time may differ between calls
     * (an LXD item made again); the size is checked too, as it costs nothing.
     */
    private record Validators(java.time.Instant at, long size, HttpField etag, HttpField lastModified, HttpField length) {
        private static final com.github.benmanes.caffeine.cache.Cache<Digest, Validators> CACHE =
                com.github.benmanes.caffeine.cache.Caffeine.newBuilder().maximumSize(4096).executor(Runnable::run).build();

        static Validators of(Digest digest, java.time.Instant lastModified, long size) {
            Validators known = CACHE.getIfPresent(digest);
            if (known != null && known.at().equals(lastModified) && known.size() == size) return known;
            Validators made = new Validators(lastModified, size, new PreEncodedHttpField(HttpHeader.ETAG, "\"" + digest.hex() + "\""),
                    new PreEncodedHttpField(HttpHeader.LAST_MODIFIED, HTTP_DATE.format(lastModified)),
                    new PreEncodedHttpField(HttpHeader.CONTENT_LENGTH, Long.toString(size)));
            CACHE.put(digest, made);
            return made;
        }
    }

    private static void multipart(Response response, Callback callback, boolean head, LayerContent content,
                                  List<ByteRanges.Range> ranges, long size) throws IOException {
        String boundary = UUID.randomUUID().toString().replace("-", "");
        List<FastReads.Piece> body = new ArrayList<>();
        long length = 0;
        for (ByteRanges.Range range : ranges) {
            byte[] partHead = ("\r\n--" + boundary + "\r\nContent-Type: " + CONTENT_TYPE + "\r\nContent-Range: "
                    + range.contentRange(size) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
            body.add(new FastReads.Bytes(ByteBuffer.wrap(partHead)));
            body.add(new FastReads.LayerRange(content, range.first(), range.length()));
            length += partHead.length + range.length();
        }
        byte[] end = ("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.US_ASCII);
        body.add(new FastReads.Bytes(ByteBuffer.wrap(end)));
        length += end.length;
        response.setStatus(206);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "multipart/byteranges; boundary=" + boundary);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, length);
        send(response, callback, head, body);
    }

    /** The body (its Content-Length already set), or nothing for HEAD. */
    private static void send(Response response, Callback callback, boolean head, List<FastReads.Piece> body) {
        if (head) {
            FastReads.endWithoutBody(response, callback);
        } else {
            FastReads.writePieces(response, body, callback);
        }
    }

    /** The request headers a blob read depends on, found in one pass over the headers (by index: no iterator). */
    private record Conditions(String ifNoneMatch, String range, String ifRange, boolean otherCondition) {
        static Conditions of(HttpFields headers) {
            String ifNoneMatch = null, range = null, ifRange = null;
            boolean other = false;
            for (int i = 0, n = headers.size(); i < n; i++) {
                HttpField field = headers.getField(i);
                HttpHeader header = field.getHeader();
                if (header == null) continue;
                switch (header) {
                    case IF_NONE_MATCH -> ifNoneMatch = ifNoneMatch == null ? field.getValue() : ifNoneMatch + ", " + field.getValue();
                    case RANGE -> range = range == null ? field.getValue() : range;
                    case IF_RANGE -> ifRange = ifRange == null ? field.getValue() : ifRange;
                    case IF_MATCH, IF_MODIFIED_SINCE, IF_UNMODIFIED_SINCE -> other = true;
                    default -> { }
                }
            }
            return new Conditions(ifNoneMatch, range, ifRange, other);
        }

        /**
         * Only a GET for the whole body with no condition may be redirected (--redirect-layers): the
         * object store would answer ranges and conditions itself, but not with our strong ETag,
         * Last-Modified, multipart/byteranges or 416 semantics, so everything else is served here.
         */
        boolean plainFullGet() { return ifNoneMatch == null && range == null && ifRange == null && !otherCondition; }
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
    private static boolean ifRangeMatches(String value, String etag, java.time.Instant lastModified) {
        if (value.startsWith("\"") || value.startsWith("W/")) return value.equals(etag);
        try {
            ZonedDateTime date = ZonedDateTime.parse(value, DateTimeFormatter.RFC_1123_DATE_TIME);
            return date.toEpochSecond() == lastModified.getEpochSecond();
        } catch (DateTimeParseException e) {
            return false;
        }
    }
}
