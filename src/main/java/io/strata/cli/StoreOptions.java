package io.strata.cli;

import io.strata.config.StoreConfig;
import picocli.CommandLine.Option;

/** {@code --store} and the {@code --s3-*} options, shared by every command that opens the layer store. */
final class StoreOptions {
    @Option(names = "--store", paramLabel = "s3://BUCKET/PREFIX", defaultValue = "${env:STRATA_STORE}",
            description = "Keep layers in an S3-compatible bucket under PREFIX instead of the data directory's layers/ "
                    + "(env STRATA_STORE). Credentials: the standard AWS chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ~/.aws profile).")
    String store;

    @Option(names = "--s3-endpoint", paramLabel = "URL", defaultValue = "${env:STRATA_S3_ENDPOINT}",
            description = "An S3-compatible endpoint (MinIO, Ceph RGW, Garage…), e.g. http://127.0.0.1:9000; implies path-style "
                    + "addressing (env STRATA_S3_ENDPOINT; default: AWS).")
    String endpoint;

    @Option(names = "--s3-region", paramLabel = "REGION", defaultValue = "${env:STRATA_S3_REGION}",
            description = "Signing region (env STRATA_S3_REGION; default: AWS_REGION, else us-east-1).")
    String region;

    @Option(names = "--s3-virtual-host", defaultValue = "${env:STRATA_S3_VIRTUAL_HOST:-false}",
            description = "Address the bucket as BUCKET.endpoint instead of endpoint/BUCKET when --s3-endpoint is given.")
    boolean virtualHost;

    /** Only {@code serve} offers it; other commands leave it off. */
    boolean redirectLayers;

    StoreConfig config() { return StoreConfig.parse(store, endpoint, region, virtualHost, redirectLayers); }
}
