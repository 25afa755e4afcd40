package io.strata.client;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.strata.layer.Digest;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * A registry's {@code /index.json} (DESIGN §4), the part a pull needs: aliases, images with
 * their chains, layers with their sizes. Unknown fields are ignored so the registry can add some.
 */
public record RemoteIndex(String format, String updated, Map<String, String> aliases, Map<String, Image> images,
                          Map<String, Layer> layers) {
    static final String FORMAT = "strata-index:1.0";
    private static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    public record Image(String product, String version, List<String> aliases, List<String> chain, long downloadSize,
                        long virtualSize) {}

    public record Layer(long size, long virtualSize, String parent, String path) {}

    public RemoteIndex {
        aliases = aliases == null ? Map.of() : Map.copyOf(aliases);
        images = images == null ? Map.of() : Map.copyOf(images);
        layers = layers == null ? Map.of() : Map.copyOf(layers);
    }

    public static RemoteIndex parse(byte[] json, String registry) throws ClientException {
        try {
            RemoteIndex index = JSON.readValue(json, RemoteIndex.class);
            if (!FORMAT.equals(index.format())) {
                throw new ClientException(registry + "index.json has format '" + index.format() + "', this client reads "
                        + FORMAT + "; is the URL a Strata registry? (upgrade strata if the registry is newer)");
            }
            return index;
        } catch (IOException e) {
            if (e instanceof ClientException client) throw client;
            throw new ClientException(registry + "index.json is not a Strata index (" + e.getMessage()
                    + "); check the --registry URL", e);
        }
    }

    /** One layer of a resolved chain. */
    public record ChainLayer(Digest digest, long size, String path) {}

    /** An image resolved for pulling: its fingerprint, metadata and layers base first. */
    public record Resolved(Digest fingerprint, Image image, List<String> aliases, List<ChainLayer> chain) {
        public long downloadSize() { return chain.stream().mapToLong(ChainLayer::size).sum(); }
    }

    /**
     * Resolves an alias, a fingerprint or an unambiguous fingerprint prefix (at least 8 hex digits),
     * checking the chain is complete in the index.
     */
    public Resolved resolve(String ref, String registry) throws ClientException {
        String fingerprint = aliases.get(ref);
        if (fingerprint == null) fingerprint = byFingerprint(ref, registry).orElse(null);
        if (fingerprint == null) {
            throw new ClientException("no image '" + ref + "' on " + registry + "; " + knownAliases()
                    + " (or use a fingerprint from " + registry + "index.json)");
        }
        Image image = images.get(fingerprint);
        if (image == null || image.chain() == null || image.chain().isEmpty()) {
            throw new ClientException("the index of " + registry + " names image " + fingerprint
                    + " but does not describe it; the registry's index is inconsistent, report it to its operator");
        }
        List<ChainLayer> chain = new ArrayList<>();
        for (String hex : image.chain()) {
            Layer layer = layers.get(hex);
            if (!Digest.isValid(hex) || layer == null || layer.size() < 0) {
                throw new ClientException("image " + fingerprint.substring(0, 12) + " on " + registry + " lists layer " + hex
                        + " that the index does not describe; the registry's index is inconsistent, report it to its operator");
            }
            String path = layer.path() == null ? "layers/" + hex + ".qcow2" : layer.path();
            chain.add(new ChainLayer(new Digest(hex), layer.size(), path));
        }
        if (!chain.get(chain.size() - 1).digest().hex().equals(fingerprint)) {
            throw new ClientException("image " + fingerprint.substring(0, 12) + " on " + registry
                    + " has a chain that does not end with its own layer; report it to the registry's operator");
        }
        List<String> imageAliases = image.aliases() == null ? List.of() : image.aliases();
        return new Resolved(new Digest(fingerprint), image, imageAliases, List.copyOf(chain));
    }

    private Optional<String> byFingerprint(String ref, String registry) throws ClientException {
        if (!ref.matches("[0-9a-f]{8,64}")) return Optional.empty();
        List<String> matches = images.keySet().stream().filter(fp -> fp.startsWith(ref)).toList();
        if (matches.size() > 1) {
            throw new ClientException("'" + ref + "' is the start of " + matches.size() + " fingerprints on " + registry
                    + "; give more digits");
        }
        return matches.stream().findFirst();
    }

    private String knownAliases() {
        if (aliases.isEmpty()) return "it has no aliases";
        List<String> names = new ArrayList<>(new TreeSet<>(aliases.keySet()));
        return "known aliases: " + String.join(", ", names.subList(0, Math.min(12, names.size())))
                + (names.size() > 12 ? ", …" : "");
    }
}
