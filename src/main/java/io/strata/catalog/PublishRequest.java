package io.strata.catalog;

import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.layer.Digest;

import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.time.format.ResolverStyle;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The body of {@code POST /api/v1/images} (DESIGN §6), checked field by field so a publisher
 * learns exactly which value is wrong. Names are lowercase so that products and aliases compare
 * the same everywhere (URLs, simplestreams, the LXD client).
 */
public record PublishRequest(String os, String release, String arch, String variant, String version, String layer,
                             List<String> aliases, String releaseTitle, String description, Map<String, String> properties) {

    /** The architectures the LXD client knows by these names (Debian naming, as in simplestreams). */
    public static final Set<String> ARCHITECTURES = Set.of("amd64", "arm64", "armhf", "armel", "i386", "ppc64el",
            "s390x", "riscv64", "loong64", "mips64el");
    static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._+-]{0,63}");
    /** Path-like, so {@code debian/12} works; no commas (simplestreams joins aliases with commas). */
    public static final Pattern ALIAS = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}(/[a-z0-9][a-z0-9._-]{0,63}){0,7}");
    static final Pattern PROPERTY_KEY = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");
    private static final DateTimeFormatter SERIAL = DateTimeFormatter.ofPattern("uuuuMMdd_HHmm").withResolverStyle(ResolverStyle.STRICT);
    static final int MAX_ALIASES = 32;
    static final int MAX_TITLE = 256;
    static final int MAX_DESCRIPTION = 4096;
    static final int MAX_PROPERTIES = 64;
    static final int MAX_PROPERTY_VALUE = 1024;

    public PublishRequest {
        aliases = aliases == null ? List.of() : List.copyOf(aliases);
        properties = properties == null ? Map.of() : new LinkedHashMap<>(properties);
    }

    public Product product() { return new Product(os, release, arch, variant); }

    public Digest layerDigest() { return new Digest(layer); }

    /** Throws BODY_INVALID naming the first bad field; returns this request with defaults filled in. */
    public PublishRequest validated() {
        name("os", os);
        name("release", release);
        required("arch", arch);
        if (!ARCHITECTURES.contains(arch)) {
            throw invalid("arch", "unknown architecture '" + arch + "'; use one of " + ARCHITECTURES.stream().sorted().toList());
        }
        name("variant", variant);
        required("version", version);
        if (!isSerial(version)) throw invalid("version", "the version serial must be a real date and time as YYYYMMDD_HHMM, e.g. 20261122_1000");
        required("layer", layer);
        if (!Digest.isValid(layer)) throw invalid("layer", "layer must be the top layer's sha256: 64 lowercase hex characters");
        if (aliases.size() > MAX_ALIASES) throw invalid("aliases", "at most " + MAX_ALIASES + " aliases per image");
        for (String alias : aliases) checkAlias(alias);
        if (aliases.stream().distinct().count() != aliases.size()) throw invalid("aliases", "an alias is listed twice");
        String title = releaseTitle == null ? os + " " + release : releaseTitle;
        if (title.length() > MAX_TITLE) throw invalid("release_title", "release_title is longer than " + MAX_TITLE + " characters");
        String text = description == null ? "" : description;
        if (text.length() > MAX_DESCRIPTION) throw invalid("description", "description is longer than " + MAX_DESCRIPTION + " characters");
        if (properties.size() > MAX_PROPERTIES) throw invalid("properties", "at most " + MAX_PROPERTIES + " properties");
        for (Map.Entry<String, String> entry : properties.entrySet()) {
            if (!PROPERTY_KEY.matcher(entry.getKey()).matches()) {
                throw invalid("properties", "property name '" + shorten(entry.getKey()) + "' must be lowercase letters, digits, '.', '_' or '-' (at most 64)");
            }
            if (entry.getValue() == null || entry.getValue().length() > MAX_PROPERTY_VALUE) {
                throw invalid("properties", "property '" + entry.getKey() + "' needs a string value of at most " + MAX_PROPERTY_VALUE + " characters");
            }
        }
        return new PublishRequest(os, release, arch, variant, version, layer, aliases, title, text, properties);
    }

    public static void checkAlias(String alias) {
        if (alias == null || !ALIAS.matcher(alias).matches()) {
            throw invalid("aliases", "alias '" + shorten(String.valueOf(alias)) + "' must be lowercase path segments of letters, digits, '.', '_' or '-', "
                    + "e.g. debian/12 (at most 8 segments of 64)");
        }
    }

    public static boolean isSerial(String version) {
        if (version == null || version.length() != 13) return false;
        try {
            LocalDateTime.parse(version, SERIAL);
            return true;
        } catch (DateTimeParseException e) {
            return false;
        }
    }

    private static void required(String field, String value) {
        if (value == null || value.isEmpty()) throw invalid(field, "'" + field + "' is required");
    }

    private static void name(String field, String value) {
        required(field, value);
        if (!NAME.matcher(value).matches()) {
            throw invalid(field, "'" + field + "' must be 1-64 lowercase letters, digits, '.', '_', '+' or '-', starting with a letter or digit; got '"
                    + shorten(value) + "'");
        }
    }

    private static String shorten(String value) { return value.length() > 80 ? value.substring(0, 80) + "…" : value; }

    static ApiException invalid(String field, String message) {
        return new ApiException(ErrorCode.BODY_INVALID, message, Map.of("field", field));
    }
}
