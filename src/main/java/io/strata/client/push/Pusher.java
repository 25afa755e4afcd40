package io.strata.client.push;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.strata.api.ApiException;
import io.strata.catalog.PublishRequest;
import io.strata.client.Backoff;
import io.strata.client.ClientException;
import io.strata.client.Console;
import io.strata.client.Human;
import io.strata.client.Progress;
import io.strata.client.RegistryClient;
import io.strata.client.RegistryException;
import io.strata.client.Timings;
import io.strata.client.push.LocalChain.LocalLayer;
import io.strata.layer.Digest;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * {@code strata push}: follows the local backing chain of a top file, canonicalises each layer's
 * header in the upload stream (DESIGN §1: new first cluster, rest unchanged), hashes base first
 * (a child's id covers its parent's), skips layers the registry already has, uploads the rest
 * resumably base first (the registry checks a layer's parent is stored), and publishes the image.
 */
public final class Pusher {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Only for checking the metadata with the registry's own rules before any byte is uploaded. */
    private static final String PLACEHOLDER_LAYER = "0".repeat(64);

    /**
     * @param product  {@code os:release:arch:variant}, e.g. {@code debian:12:amd64:cloud}
     * @param version  the version serial, {@code YYYYMMDD_HHMM}
     * @param chunkBytes size of each upload request; a dropped connection costs at most one chunk
     */
    public record Options(Path top, String registry, String token, String product, String version, List<String> aliases,
                          Optional<String> title, Optional<String> description, int maxAttempts, Backoff backoff,
                          Duration timeout, long chunkBytes) {
        public Options {
            aliases = List.copyOf(aliases);
            if (maxAttempts < 1) throw new IllegalArgumentException("--max-attempts must be at least 1");
            if (chunkBytes < 1) throw new IllegalArgumentException("--chunk-size must be at least 1 byte");
        }

        public static Options of(Path top, String registry, String token, String product, String version, List<String> aliases) {
            return new Options(top, registry, token, product, version, aliases, Optional.empty(), Optional.empty(), 5,
                    Backoff.DEFAULT, Duration.ofSeconds(30), 64L << 20);
        }

        public Options withChunkBytes(long bytes) {
            return new Options(top, registry, token, product, version, aliases, title, description, maxAttempts, backoff, timeout, bytes);
        }

        public Options withBackoff(Backoff b) {
            return new Options(top, registry, token, product, version, aliases, title, description, maxAttempts, b, timeout, chunkBytes);
        }

        public Options withMaxAttempts(int n) {
            return new Options(top, registry, token, product, version, aliases, title, description, n, backoff, timeout, chunkBytes);
        }

        public Options withTimeout(Duration d) {
            return new Options(top, registry, token, product, version, aliases, title, description, maxAttempts, backoff, d, chunkBytes);
        }
    }

    /**
     * @param layers        the canonical chain, base first
     * @param uploaded      how many layers were sent (the others were on the registry already)
     * @param alreadyPublished the registry had this very image (same product and version) before
     */
    public record Result(Digest fingerprint, List<CanonicalLayer> layers, int uploaded, long uploadedBytes, boolean alreadyPublished) {}

    private final Console console;

    public Pusher(Console console) { this.console = console; }

    public Result push(Options options) throws IOException, InterruptedException {
        PublishRequest metadata = checkMetadata(options);
        RegistryClient registry = new RegistryClient(RegistryClient.baseUri(options.registry()),
                Optional.ofNullable(options.token()).filter(t -> !t.isBlank()), options.timeout());
        if (options.token() == null || options.token().isBlank()) {
            throw new ClientException("push needs a registry token with scopes push and publish: set STRATA_TOKEN (or pass --token);"
                    + " the registry's operator makes one with 'strata token create --scope push,publish'");
        }

        registry.warmUp(); // over https every request goes over the JDK client: build it while the base is hashed
        List<LocalLayer> local = LocalChain.follow(options.top());
        console.info("push: " + options.top() + ": a chain of " + local.size() + " layer" + (local.size() == 1 ? "" : "s")
                + ", " + Human.bytes(local.stream().mapToLong(LocalLayer::size).sum()));
        long chainBytes = local.stream().mapToLong(LocalLayer::size).sum();
        // The chain is hashed base first in its own thread, each layer asked about (HEAD) as soon as
        // its id is known; the uploads start with the base while the layers above are hashed, so
        // hashing costs the push only the base's hash, not the whole chain's before the first byte is sent.
        List<CompletableFuture<Checked>> checks = new ArrayList<>();
        for (int i = 0; i < local.size(); i++) checks.add(new CompletableFuture<>());
        ExecutorService hasher = Executors.newSingleThreadExecutor(runnable -> {
            Thread thread = new Thread(runnable, "strata-push-hash");
            thread.setDaemon(true);
            return thread;
        });
        List<CanonicalLayer> chain = new ArrayList<>();
        List<CanonicalLayer> missing = new ArrayList<>();
        Instant started = null;
        try (Progress progress = console.progress("push", chainBytes)) {
            hasher.submit(() -> check(registry, local, checks, chainBytes, options));
            LayerUploader uploader = new LayerUploader(registry, progress, console, options.maxAttempts(), options.backoff(),
                    options.chunkBytes());
            for (CompletableFuture<Checked> check : checks) {
                Checked checked = await(check);
                chain.add(checked.layer());
                if (checked.stored()) {
                    progress.skip(checked.layer().size());
                    continue;
                }
                if (started == null) started = Instant.now();
                missing.add(checked.layer());
                uploader.upload(checked.layer()); // base first: the registry checks each parent is stored
            }
        } finally {
            hasher.shutdownNow();
        }
        long bytes = missing.stream().mapToLong(CanonicalLayer::size).sum();
        if (started != null) {
            Duration took = Duration.between(started, Instant.now());
            console.info("push: uploaded " + Human.bytes(bytes) + " in " + Human.seconds(took)
                    + (took.toMillis() > 0 ? " (" + Human.rate(bytes * 1000.0 / took.toMillis()) + ")" : ""));
        }

        Digest top = chain.get(chain.size() - 1).digest();
        boolean alreadyPublished = publish(registry, metadata, top, options);
        return new Result(top, List.copyOf(chain), missing.size(), bytes, alreadyPublished);
    }

    /** A canonical layer and whether the registry has it already. */
    private record Checked(CanonicalLayer layer, boolean stored) {}

    /**
     * Hashes the chain base first and asks the registry for each layer, completing {@code checks}
     * in order; a failure fails the layer's check and every one after it. Says what will be uploaded
     * once every layer is known.
     */
    private Void check(RegistryClient registry, List<LocalLayer> local, List<CompletableFuture<Checked>> checks, long chainBytes,
                       Options options) {
        Progress hashing = Console.silent().progress("hash", chainBytes); // the push display counts sent bytes
        int i = 0;
        try {
            Optional<Digest> parent = Optional.empty();
            List<Checked> all = new ArrayList<>();
            for (; i < local.size(); i++) {
                LocalLayer layer = local.get(i);
                Timings timings = Timings.of("push-hash " + layer.file().getFileName() + " " + Human.bytes(layer.size()));
                CanonicalLayer canonical = CanonicalLayer.of(layer, parent, hashing);
                timings.report();
                console.info("push:   " + canonical.digest().shortHex() + "  " + Human.bytes(canonical.size()) + "  " + layer.file()
                        + (canonical.rewritten() ? "  (backing name rewritten to " + canonical.parent().orElseThrow().fileName().substring(0, 12)
                        + "….qcow2 in the upload)" : ""));
                boolean stored = Retry.call("push: HEAD " + canonical.digest().shortHex(), options.maxAttempts(), options.backoff(), console,
                        () -> registry.hasLayer(canonical.digest()));
                Checked checked = new Checked(canonical, stored);
                all.add(checked);
                checks.get(i).complete(checked);
                parent = Optional.of(canonical.digest());
            }
            List<CanonicalLayer> missing = all.stream().filter(c -> !c.stored()).map(Checked::layer).toList();
            if (missing.isEmpty()) {
                console.info("push: all " + all.size() + " layers are already on " + registry.name() + ": nothing to upload");
            } else {
                console.info("push: uploading " + missing.size() + " of " + all.size() + " layers, "
                        + Human.bytes(missing.stream().mapToLong(CanonicalLayer::size).sum())
                        + (missing.size() < all.size() ? " (" + (all.size() - missing.size()) + " already on the registry)" : ""));
            }
        } catch (Exception e) {
            for (; i < checks.size(); i++) checks.get(i).completeExceptionally(e);
        }
        return null;
    }

    private static Checked await(CompletableFuture<Checked> check) throws IOException, InterruptedException {
        try {
            return check.get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) throw io;
            if (cause instanceof InterruptedException interrupted) throw interrupted;
            if (cause instanceof RuntimeException runtime) throw runtime;
            throw new IOException(cause);
        }
    }

    /** Publishes; true when the registry already had exactly this image (a repeated push). */
    private boolean publish(RegistryClient registry, PublishRequest metadata, Digest top, Options options)
            throws IOException, InterruptedException {
        ObjectNode body = JSON.createObjectNode();
        body.put("os", metadata.os()).put("release", metadata.release()).put("arch", metadata.arch())
                .put("variant", metadata.variant()).put("version", metadata.version()).put("layer", top.hex());
        body.putArray("aliases").addAll(metadata.aliases().stream().map(JSON.getNodeFactory()::textNode).toList());
        if (metadata.releaseTitle() != null) body.put("release_title", metadata.releaseTitle());
        if (metadata.description() != null) body.put("description", metadata.description());
        body.putObject("properties");
        try {
            // A retry after a lost answer meets a 409 for our own image, which is handled below as published.
            Retry.call("push: publish", options.maxAttempts(), options.backoff(), console, () -> registry.publish(body));
            console.info("push: published " + metadata.product().id() + " " + metadata.version() + " as " + top.hex()
                    + (metadata.aliases().isEmpty() ? "" : " (aliases: " + String.join(", ", metadata.aliases()) + ")"));
            return false;
        } catch (RegistryException e) {
            if (e.status() != 409) throw new ClientException("publishing: " + e.getMessage(), e);
            Optional<JsonNode> existing = Retry.call("push: GET image", options.maxAttempts(), options.backoff(), console,
                    () -> registry.image(top));
            if (existing.isPresent() && existing.get().path("product").asText().equals(metadata.product().id())
                    && existing.get().path("version").asText().equals(metadata.version())) {
                console.info("push: " + metadata.product().id() + " " + metadata.version() + " is already published as "
                        + top.hex() + ": nothing to publish");
                return true;
            }
            throw new ClientException("publishing: " + e.getMessage(), e);
        }
    }

    /** The registry's own checks of product, version and aliases, run before anything is hashed or uploaded. */
    static PublishRequest checkMetadata(Options options) throws ClientException {
        String[] parts = options.product() == null ? new String[0] : options.product().split(":", -1);
        if (parts.length != 4) {
            throw new ClientException("--product must be os:release:arch:variant, e.g. debian:12:amd64:cloud; got '" + options.product() + "'");
        }
        PublishRequest request = new PublishRequest(parts[0], parts[1], parts[2], parts[3], options.version(), PLACEHOLDER_LAYER,
                options.aliases(), options.title().orElse(null), options.description().orElse(null), Map.of());
        try {
            PublishRequest valid = request.validated();
            // Keep what the user gave: the registry fills in its own defaults for what was left out.
            return new PublishRequest(valid.os(), valid.release(), valid.arch(), valid.variant(), valid.version(), null,
                    valid.aliases(), options.title().orElse(null), options.description().orElse(null), Map.of());
        } catch (ApiException e) {
            Object field = e.detail().get("field");
            String option = switch (String.valueOf(field)) {
                case "os", "release", "arch", "variant" -> "--product";
                case "version" -> "--version";
                case "aliases" -> "--alias";
                case "release_title" -> "--title";
                case "description" -> "--description";
                default -> "the image metadata";
            };
            throw new ClientException(option + ": " + e.getMessage());
        }
    }
}
