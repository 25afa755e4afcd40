package io.strata.config;

import java.net.URI;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where layers are stored: the data directory (the default) or an S3-compatible bucket.
 *
 * @param s3             {@code s3://BUCKET/PREFIX} parsed, or empty for the data directory's {@code layers/}
 * @param endpoint       an S3-compatible endpoint (MinIO, Ceph RGW, Garage, S3Proxy…); empty means AWS
 * @param region         the signing region
 * @param pathStyle      {@code http://endpoint/BUCKET/key} addressing (on whenever an endpoint is given, unless turned off)
 * @param redirectLayers answer plain full layer GETs with a redirect to a short-lived presigned URL
 * @param directWrites   the data directory's uploads are appended with O_DIRECT where the file system allows it
 *                       (off: through the page cache, so a new layer's first reads come from memory)
 */
public record StoreConfig(Optional<S3Location> s3, Optional<URI> endpoint, String region, boolean pathStyle, boolean redirectLayers,
                          boolean directWrites) {
    public static final String DEFAULT_REGION = "us-east-1";
    private static final Pattern S3_URL = Pattern.compile("s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?");

    /** A bucket and a key prefix inside it ({@code ""} or ending in {@code /}). */
    public record S3Location(String bucket, String prefix) {
        @Override public String toString() { return "s3://" + bucket + "/" + prefix; }
    }

    /** The data directory's own store. */
    public static StoreConfig filesystem() {
        return new StoreConfig(Optional.empty(), Optional.empty(), DEFAULT_REGION, false, false, true);
    }

    public StoreConfig withDirectWrites(boolean direct) {
        return new StoreConfig(s3, endpoint, region, pathStyle, redirectLayers, direct);
    }

    /**
     * From the command line: {@code store} is empty or {@code s3://BUCKET[/PREFIX]}; a blank region
     * means {@code AWS_REGION}, else {@value #DEFAULT_REGION}. Throws {@link IllegalArgumentException}
     * with what to fix.
     */
    public static StoreConfig parse(String store, String endpoint, String region, boolean virtualHost, boolean redirectLayers) {
        Optional<URI> endpointUri = Optional.ofNullable(endpoint).filter(e -> !e.isBlank()).map(e -> {
            URI uri = URI.create(e.strip());
            if (uri.getScheme() == null || !(uri.getScheme().equals("http") || uri.getScheme().equals("https")) || uri.getHost() == null) {
                throw new IllegalArgumentException("--s3-endpoint must be an http:// or https:// URL, e.g. http://127.0.0.1:9000, not '" + e + "'");
            }
            return uri;
        });
        String resolvedRegion = region != null && !region.isBlank() ? region.strip()
                : Optional.ofNullable(System.getenv("AWS_REGION")).filter(r -> !r.isBlank()).orElse(DEFAULT_REGION);
        if (store == null || store.isBlank()) {
            if (endpointUri.isPresent()) throw new IllegalArgumentException("--s3-endpoint needs --store s3://BUCKET/PREFIX");
            if (redirectLayers) throw new IllegalArgumentException("--redirect-layers needs --store s3://BUCKET/PREFIX");
            return new StoreConfig(Optional.empty(), Optional.empty(), resolvedRegion, false, false, true);
        }
        Matcher m = S3_URL.matcher(store.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException("--store must look like s3://BUCKET or s3://BUCKET/PREFIX (a lowercase S3 bucket name), not '" + store + "'");
        }
        String prefix = m.group(2) == null ? "" : m.group(2).replaceAll("^/+|/+$", "");
        if (!prefix.isEmpty()) prefix += "/";
        return new StoreConfig(Optional.of(new S3Location(m.group(1), prefix)), endpointUri, resolvedRegion,
                endpointUri.isPresent() && !virtualHost, redirectLayers, true);
    }
}
