package io.strata.index;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.strata.catalog.CatalogService.Snapshot;
import io.strata.catalog.Image;
import io.strata.layer.Digest;
import io.strata.layer.LayerRecord;
import io.strata.lxd.LxdItems;
import io.strata.lxd.LxdStatus;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * Renders the index documents of DESIGN §4 from a catalog snapshot, with Jackson's streaming
 * generator (no intermediate object tree: 10,000 images render in tens of milliseconds).
 * Output is deterministic, so equal catalogs give equal bytes and equal ETags across restarts.
 */
public final class IndexRenderer {
    public static final String FORMAT = "strata-index:1.0";
    private static final JsonFactory JSON = new JsonFactory();
    /** As simplestreams publishers write it ("Tue, 01 Dec 2026 10:00:00 GMT"): two-digit day, English names. */
    private static final DateTimeFormatter SIMPLESTREAMS_DATE =
            DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", java.util.Locale.US).withZone(ZoneOffset.UTC);

    private IndexRenderer() {}

    /** {@code /index.json}: the one-call plan. */
    public static byte[] strataIndex(Snapshot s) {
        return write(json -> {
            json.writeStartObject();
            json.writeStringField("format", FORMAT);
            json.writeStringField("updated", s.updated());
            json.writeObjectFieldStart("aliases");
            for (Map.Entry<String, Digest> alias : s.aliases().entrySet()) json.writeStringField(alias.getKey(), alias.getValue().hex());
            json.writeEndObject();
            json.writeObjectFieldStart("images");
            for (Image image : s.images()) {
                json.writeObjectFieldStart(image.fingerprint().hex());
                json.writeStringField("product", image.product().id());
                json.writeStringField("version", image.version());
                json.writeStringField("os", image.product().os());
                json.writeStringField("release", image.product().release());
                json.writeStringField("arch", image.product().arch());
                json.writeStringField("variant", image.product().variant());
                json.writeStringField("release_title", image.releaseTitle());
                json.writeStringField("description", image.description());
                stringArray(json, "aliases", s.aliasesOf(image.fingerprint()));
                json.writeArrayFieldStart("chain");
                for (Digest d : image.chain()) json.writeString(d.hex());
                json.writeEndArray();
                json.writeNumberField("download_size", image.downloadSize());
                json.writeNumberField("virtual_size", image.virtualSize());
                json.writeStringField("created", image.createdAt().toString());
                json.writeObjectFieldStart("properties");
                for (Map.Entry<String, String> p : image.properties().entrySet()) json.writeStringField(p.getKey(), p.getValue());
                json.writeEndObject();
                lxdStatus(json, s.lxd().images().get(image.fingerprint()));
                json.writeEndObject();
            }
            json.writeEndObject();
            json.writeObjectFieldStart("layers");
            for (LayerRecord layer : s.layers().values()) {
                json.writeObjectFieldStart(layer.digest().hex());
                json.writeNumberField("size", layer.size());
                json.writeNumberField("virtual_size", layer.virtualSize());
                if (layer.parent().isPresent()) json.writeStringField("parent", layer.parent().get().hex());
                else json.writeNullField("parent");
                json.writeStringField("path", "layers/" + layer.digest().fileName());
                json.writeEndObject();
            }
            json.writeEndObject();
            json.writeObjectFieldStart("lxd");
            json.writeBooleanField("enabled", s.lxd().enabled());
            json.writeStringField("message", s.lxd().message());
            json.writeNumberField("versions", s.lxd().versions());
            json.writeEndObject();
            json.writeEndObject();
        });
    }

    /** An image's LXD items in /index.json: ready (with the LXD fingerprint and both files), preparing or failed; absent when it gets none. */
    private static void lxdStatus(JsonGenerator json, LxdStatus status) throws IOException {
        if (status == null) return;
        json.writeObjectFieldStart("lxd");
        json.writeStringField("state", status.state().label());
        if (status.items().isPresent()) {
            LxdItems items = status.items().get();
            json.writeStringField("fingerprint", items.combined().hex());
            file(json, "meta", items.meta(), items.metaSize(), items.metaPath());
            file(json, "disk", items.disk(), items.diskSize(), items.diskPath());
        }
        if (status.error().isPresent()) json.writeStringField("error", status.error().get());
        if (status.attempts() > 0) json.writeNumberField("attempts", status.attempts());
        json.writeEndObject();
    }

    private static void file(JsonGenerator json, String field, Digest digest, long size, String path) throws IOException {
        json.writeObjectFieldStart(field);
        json.writeStringField("sha256", digest.hex());
        json.writeNumberField("size", size);
        json.writeStringField("path", path);
        json.writeEndObject();
    }

    /**
     * The LXD items of a version in images.json, as LXD's simplestreams parser reads them: the
     * metadata tarball under both clients' ftypes, each carrying the combined fingerprint, and the
     * disk. LXD lists a version only when it has such a pair.
     */
    private static void lxdItems(JsonGenerator json, LxdItems items) throws IOException {
        for (String ftype : List.of("lxd.tar.xz", "incus.tar.xz")) {
            json.writeObjectFieldStart(ftype);
            json.writeStringField("ftype", ftype);
            json.writeStringField("path", items.metaPath());
            json.writeStringField("sha256", items.meta().hex());
            json.writeNumberField("size", items.metaSize());
            json.writeStringField("combined_disk-kvm-img_sha256", items.combined().hex());
            json.writeEndObject();
        }
        json.writeObjectFieldStart("disk-kvm.img");
        json.writeStringField("ftype", "disk-kvm.img");
        json.writeStringField("path", items.diskPath());
        json.writeStringField("sha256", items.disk().hex());
        json.writeNumberField("size", items.diskSize());
        json.writeEndObject();
    }

    /**
     * LXD's instance requirements of a product, from its newest version's {@code requirements.*}
     * properties; Secure Boot is declared off unless a property says otherwise, since Strata's
     * images are not known to be signed for it.
     */
    private static Map<String, String> requirements(Image newest) {
        Map<String, String> out = new java.util.TreeMap<>();
        out.put("secureboot", "false");
        for (Map.Entry<String, String> p : newest.properties().entrySet()) {
            if (p.getKey().startsWith("requirements.") && p.getKey().length() > "requirements.".length()) {
                out.put(p.getKey().substring("requirements.".length()), p.getValue());
            }
        }
        return out;
    }

    /** {@code /streams/v1/index.json}: simplestreams index (format index:1.0). */
    public static byte[] streamsIndex(Snapshot s) {
        String updated = simplestreamsDate(s.updated());
        return write(json -> {
            json.writeStartObject();
            json.writeStringField("format", "index:1.0");
            json.writeStringField("updated", updated);
            json.writeObjectFieldStart("index");
            json.writeObjectFieldStart("images");
            json.writeStringField("datatype", "image-downloads");
            json.writeStringField("path", "streams/v1/images.json");
            json.writeStringField("format", "products:1.0");
            json.writeStringField("updated", updated);
            TreeSet<String> products = new TreeSet<>();
            for (Image image : s.images()) products.add(image.product().id());
            stringArray(json, "products", List.copyOf(products));
            json.writeEndObject();
            json.writeEndObject();
            json.writeEndObject();
        });
    }

    /**
     * {@code /streams/v1/images.json}: simplestreams products (format products:1.0) with the JSON
     * types the LXD client's parser requires: {@code aliases} one comma-separated string,
     * version keys starting YYYYMMDD, numeric {@code size}. Chain and sizes ride along in
     * {@code strata_*} fields, which simplestreams clients ignore.
     */
    public static byte[] streamsImages(Snapshot s) {
        Map<String, List<Image>> byProduct = new LinkedHashMap<>();
        for (Image image : s.images()) byProduct.computeIfAbsent(image.product().id(), k -> new java.util.ArrayList<>()).add(image);
        return write(json -> {
            json.writeStartObject();
            json.writeStringField("content_id", "strata:images");
            json.writeStringField("datatype", "image-downloads");
            json.writeStringField("format", "products:1.0");
            json.writeStringField("updated", simplestreamsDate(s.updated()));
            json.writeObjectFieldStart("products");
            for (Map.Entry<String, List<Image>> entry : byProduct.entrySet()) {
                Image newest = entry.getValue().get(0);
                json.writeObjectFieldStart(entry.getKey());
                json.writeStringField("aliases", String.join(",", s.aliasesOf(newest.fingerprint())));
                json.writeStringField("arch", newest.product().arch());
                json.writeStringField("os", newest.product().os());
                json.writeStringField("release", newest.product().release());
                json.writeStringField("release_title", newest.releaseTitle());
                json.writeStringField("variant", newest.product().variant());
                Map<String, String> requirements = requirements(newest);
                for (String field : List.of("requirements", "lxd_requirements")) {
                    json.writeObjectFieldStart(field);
                    for (Map.Entry<String, String> r : requirements.entrySet()) json.writeStringField(r.getKey(), r.getValue());
                    json.writeEndObject();
                }
                json.writeObjectFieldStart("versions");
                for (Image image : entry.getValue()) {
                    json.writeObjectFieldStart(image.version());
                    json.writeObjectFieldStart("items");
                    List<Digest> chain = image.chain();
                    for (int i = 0; i < chain.size(); i++) {
                        LayerRecord layer = s.layers().get(chain.get(i));
                        boolean top = i == chain.size() - 1;
                        json.writeObjectFieldStart(top ? "qcow2" : "layer-" + i);
                        json.writeStringField("ftype", top ? "qcow2" : "qcow2-layer");
                        json.writeStringField("path", "layers/" + layer.digest().fileName());
                        json.writeStringField("sha256", layer.digest().hex());
                        json.writeNumberField("size", layer.size());
                        json.writeEndObject();
                    }
                    Optional<LxdItems> lxd = s.lxd().ready(image.fingerprint());
                    if (lxd.isPresent()) lxdItems(json, lxd.get());
                    json.writeEndObject();
                    json.writeStringField("strata_fingerprint", image.fingerprint().hex());
                    json.writeArrayFieldStart("strata_chain");
                    for (Digest d : chain) json.writeString(d.hex());
                    json.writeEndArray();
                    json.writeNumberField("strata_download_size", image.downloadSize());
                    json.writeNumberField("strata_virtual_size", image.virtualSize());
                    json.writeEndObject();
                }
                json.writeEndObject();
                json.writeEndObject();
            }
            json.writeEndObject();
            json.writeEndObject();
        });
    }

    private static String simplestreamsDate(String iso) {
        return SIMPLESTREAMS_DATE.format(Instant.parse(iso));
    }

    private static void stringArray(JsonGenerator json, String field, List<String> values) throws IOException {
        json.writeArrayFieldStart(field);
        for (String value : values) json.writeString(value);
        json.writeEndArray();
    }

    private interface Body {
        void write(JsonGenerator json) throws IOException;
    }

    private static byte[] write(Body body) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(1 << 16);
        try (JsonGenerator json = JSON.createGenerator(out, JsonEncoding.UTF8)) {
            body.write(json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
