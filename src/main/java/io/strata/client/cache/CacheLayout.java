package io.strata.client.cache;

import io.strata.layer.Digest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;

/**
 * Where a client cache keeps what. Layers keep the registry's file names in one directory, so
 * {@code qemu-img info --backing-chain layers/<top>.qcow2} resolves the chain as it is, with no
 * header rewriting: downloaded files stay byte-identical to what the registry serves (DESIGN §1).
 *
 * <pre>
 * cache/                          $STRATA_CACHE, or ~/.cache/strata
 * ├── cache.lock                  held briefly while refs.json or an index copy changes, and through a prune
 * ├── refs.json                   the reference store: pulled images, their chains and sizes, aliases, last use
 * ├── index/&lt;key&gt;.json            the last /index.json of one registry with its ETag (key: hash of the URL)
 * ├── keys/&lt;key&gt;.pub             the signing key of one registry, pinned on first use or given with pull --key
 * ├── layers/
 * │   ├── &lt;sha256&gt;.qcow2         a verified layer
 * │   ├── &lt;sha256&gt;.qcow2.part    a download in progress or interrupted: the next pull resumes it
 * │   └── &lt;sha256&gt;.qcow2.part.json  which ranges of a part fetched as several ranges at once are on disk
 * └── locks/&lt;sha256&gt;.lock        per-layer lock: shared while a pull uses the layer,
 *                                 exclusive while a pull downloads it or prune removes it
 * </pre>
 *
 * Lock files are never deleted: removing a lock file another process has open would let two
 * processes lock different files of the same name.
 */
public record CacheLayout(Path root) {
    static final String LAYER_SUFFIX = ".qcow2";
    static final String PART_SUFFIX = ".qcow2.part";

    public CacheLayout {
        root = root.toAbsolutePath().normalize();
    }

    /** Creates the directories if needed. */
    public CacheLayout create() throws IOException {
        Files.createDirectories(layers());
        Files.createDirectories(locks());
        Files.createDirectories(indexes());
        return this;
    }

    public Path layers() { return root.resolve("layers"); }

    public Path locks() { return root.resolve("locks"); }

    public Path indexes() { return root.resolve("index"); }

    public Path refs() { return root.resolve("refs.json"); }

    public Path cacheLock() { return root.resolve("cache.lock"); }

    public Path layer(Digest digest) { return layers().resolve(digest.fileName()); }

    public Path part(Digest digest) { return layers().resolve(digest.hex() + PART_SUFFIX); }

    public Path partState(Digest digest) { return layers().resolve(digest.hex() + PART_SUFFIX + ".json"); }

    public Path lock(Digest digest) { return locks().resolve(digest.hex() + ".lock"); }

    /** The cached index of {@code registry}, named by a hash of its URL so any URL makes a safe file name. */
    public Path index(String registry) { return indexes().resolve(stem(registry) + ".json"); }

    public Path keys() { return root.resolve("keys"); }

    /** The pinned signing key of {@code registry}, named like its {@link #index}. */
    public Path key(String registry) { return keys().resolve(stem(registry) + ".pub"); }

    /** A registry's files are named by a hash of its URL, so any URL makes a safe file name. */
    private static String stem(String registry) {
        byte[] hash = Digest.sha256().digest(registry.getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(hash, 0, 8);
    }

    /** The layer a file in {@code layers/} holds or is downloading, if its name is one of ours. */
    static java.util.Optional<Digest> digestOf(Path file, String suffix) {
        String name = file.getFileName().toString();
        if (!name.endsWith(suffix)) return java.util.Optional.empty();
        String hex = name.substring(0, name.length() - suffix.length());
        return Digest.isValid(hex) ? java.util.Optional.of(new Digest(hex)) : java.util.Optional.empty();
    }
}
