package io.strata.http;

import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import io.javalin.http.Context;
import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.catalog.AliasChange;
import io.strata.config.Limits;
import io.strata.catalog.CatalogService;
import io.strata.catalog.Image;
import io.strata.auth.Scope;
import io.strata.catalog.Product;
import io.strata.catalog.PublishRequest;
import io.strata.layer.Digest;

import java.io.IOException;
import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** Images and aliases (DESIGN §6): publish, unpublish, move and delete aliases, their history, one image for scripts. */
final class CatalogHandlers {
    /** A publish body is metadata only; anything larger is a mistake or an attack. */
    static final int MAX_BODY_BYTES = 64 * 1024;

    private final CatalogService catalog;
    private final ObjectMapper json;
    private final Access access;

    CatalogHandlers(CatalogService catalog, ObjectMapper json, Access access) {
        this.catalog = catalog;
        this.access = access;
        this.json = json.copy().enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
        // A nesting bomb ([[[[...) is refused by the parser before it can exhaust the stack.
        this.json.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(Limits.MAX_JSON_NESTING).build());
    }

    void publish(Context ctx) throws IOException {
        PublishRequest request = read(ctx, PublishRequest.class).validated();
        Access.note(ctx, "image.publish", request.product().id() + " " + request.version() + " " + request.layer());
        access.require(ctx, Scope.on(Scope.Action.PUBLISH, request.product().id()));
        Image image = catalog.publish(request);
        ctx.status(201).header("Location", "/api/v1/images/" + image.fingerprint().hex()).json(view(image, catalog.aliasesOf(image)));
    }

    void image(Context ctx) {
        String ref = ctx.pathParam("ref");
        Image image = catalog.find(ref).orElseThrow(() -> new ApiException(ErrorCode.IMAGE_UNKNOWN,
                "no image with fingerprint or alias '" + ref + "'", Map.of("ref", ref)));
        ctx.header("Cache-Control", "no-cache").json(view(image, catalog.aliasesOf(image)));
    }

    void deleteImage(Context ctx) {
        String fingerprint = ctx.pathParam("fingerprint");
        if (!Digest.isValid(fingerprint)) {
            throw new ApiException(ErrorCode.IMAGE_UNKNOWN, "an image fingerprint is 64 lowercase hex characters", Map.of("fingerprint", fingerprint));
        }
        Access.note(ctx, "image.delete", fingerprint);
        catalog.deleteImage(new Digest(fingerprint), product -> access.require(ctx, Scope.on(Scope.Action.DELETE, product)));
        ctx.status(204);
    }

    record AliasBody(String product) {}

    void setAlias(Context ctx) throws IOException {
        String alias = ctx.pathParam("alias");
        AliasBody body = read(ctx, AliasBody.class);
        Access.note(ctx, "alias.set", alias + " -> " + body.product());
        // Moving an alias needs the scope on the product it leaves as well as on the one it joins.
        if (Product.parse(body.product()) != null) access.require(ctx, Scope.on(Scope.Action.PUBLISH, body.product()));
        String fingerprint = catalog.setAlias(alias, body.product(), old -> access.require(ctx, Scope.on(Scope.Action.PUBLISH, old)));
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("alias", alias);
        answer.put("product", body.product());
        answer.put("fingerprint", fingerprint);
        ctx.status(200).json(answer);
    }

    void deleteAlias(Context ctx) {
        Access.note(ctx, "alias.delete", ctx.pathParam("alias"));
        catalog.deleteAlias(ctx.pathParam("alias"), product -> access.require(ctx, Scope.on(Scope.Action.PUBLISH, product)));
        ctx.status(204);
    }

    void aliasHistory(Context ctx) {
        String alias = ctx.pathParam("alias");
        List<Map<String, Object>> changes = catalog.history(alias).stream().map(CatalogHandlers::view).collect(Collectors.toList());
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("alias", alias);
        body.put("history", changes);
        ctx.header("Cache-Control", "no-cache").json(body);
    }

    private <T> T read(Context ctx, Class<T> type) throws IOException {
        checkContentType(ctx.header("Content-Type"));
        long declared = ctx.req().getContentLengthLong();
        if (declared > MAX_BODY_BYTES) throw tooLarge();
        byte[] body;
        try (InputStream in = ctx.req().getInputStream()) {
            body = in.readNBytes(MAX_BODY_BYTES + 1);
        } catch (IOException e) {
            // Jetty fails the read on broken chunked framing, a timeout or a cut connection: the client's doing.
            throw new ApiException(ErrorCode.REQUEST_INVALID, "the request body could not be read (malformed chunked encoding, a stall or a cut connection)");
        }
        if (body.length > MAX_BODY_BYTES) throw tooLarge();
        if (body.length == 0) throw new ApiException(ErrorCode.BODY_INVALID, "the request needs a JSON body");
        try {
            T value = json.readValue(body, type);
            if (value == null) throw new ApiException(ErrorCode.BODY_INVALID, "the request needs a JSON object");
            return value;
        } catch (UnrecognizedPropertyException e) {
            throw new ApiException(ErrorCode.BODY_INVALID, "unknown field '" + e.getPropertyName() + "'; known fields: "
                    + e.getKnownPropertyIds(), Map.of("field", e.getPropertyName()));
        } catch (JsonMappingException e) {
            String field = e.getPath().stream().map(r -> r.getFieldName() == null ? "[" + r.getIndex() + "]" : r.getFieldName())
                    .collect(Collectors.joining("."));
            throw new ApiException(ErrorCode.BODY_INVALID, "field '" + field + "' has the wrong type: " + e.getOriginalMessage(),
                    Map.of("field", field));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ApiException(ErrorCode.BODY_INVALID, "the body is not valid JSON: " + e.getOriginalMessage());
        }
    }

    /**
     * JSON, or no type, or the form type curl's {@code --data} sends when not told otherwise (the
     * README's examples rely on it); anything else is a client sending the wrong thing.
     */
    static void checkContentType(String header) {
        if (header == null) return;
        String type = header.split(";", 2)[0].strip().toLowerCase(java.util.Locale.ROOT);
        if (type.isEmpty() || type.equals("application/json") || type.endsWith("+json")
                || type.equals("application/x-www-form-urlencoded")) return;
        throw new ApiException(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "this endpoint takes a JSON body; send Content-Type: application/json, not '"
                + (type.length() > 80 ? type.substring(0, 80) : type) + "'", Map.of("content_type", type.length() > 80 ? type.substring(0, 80) : type));
    }

    private static ApiException tooLarge() {
        return new ApiException(ErrorCode.BODY_TOO_LARGE, "the JSON body is larger than " + MAX_BODY_BYTES + " bytes", Map.of("limit", MAX_BODY_BYTES));
    }

    /** An image as in /index.json, plus its fingerprint. */
    static Map<String, Object> view(Image image, List<String> aliases) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("fingerprint", image.fingerprint().hex());
        out.put("product", image.product().id());
        out.put("version", image.version());
        out.put("os", image.product().os());
        out.put("release", image.product().release());
        out.put("arch", image.product().arch());
        out.put("variant", image.product().variant());
        out.put("release_title", image.releaseTitle());
        out.put("description", image.description());
        out.put("aliases", aliases);
        out.put("chain", image.chain().stream().map(Digest::hex).toList());
        out.put("download_size", image.downloadSize());
        out.put("virtual_size", image.virtualSize());
        out.put("created", image.createdAt().toString());
        out.put("properties", image.properties());
        return out;
    }

    private static Map<String, Object> view(AliasChange change) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("at", change.at().toString());
        out.put("product", change.product());
        out.put("fingerprint", change.fingerprint());
        out.put("reason", change.reason());
        return out;
    }
}
