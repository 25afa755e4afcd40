package io.strata.catalog;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.api.ApiException;
import io.strata.api.ErrorCode;
import io.strata.db.Database;
import io.strata.layer.Digest;
import io.strata.layer.LayerDao;
import io.strata.layer.LayerRecord;
import io.strata.lxd.LxdView;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;

import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Images, products and aliases (DESIGN §3). Every change is one database transaction that also
 * records how aliases moved, then bumps {@link #generation()}, which is what the index
 * documents are cached by: a reader gets either the catalog before a change or after it.
 *
 * <p>Replicas sharing a PostgreSQL database: every catalog-changing transaction also bumps
 * {@code catalog_meta.generation}; {@link #refreshIfChanged()} (polled by the server) reloads the
 * snapshot when another process moved it, and a write that finds it moved reloads instead of
 * patching a stale snapshot.
 */
public final class CatalogService {
    /** A chain deeper than this is a malformed catalog, not a real image. */
    static final int MAX_CHAIN_DEPTH = 256;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Database database;
    private final Jdbi jdbi;
    private final Clock clock;
    /** {@code catalog_meta.generation} as of {@link #current}; written under {@link #writeLock}. */
    private volatile long seenGeneration;
    /** Set by {@link #inTransaction}: another process changed the catalog since {@link #current} was made. */
    private boolean staleWrite;
    /** Serialises writers so the in-memory snapshot is replaced in commit order. */
    private final Object writeLock = new Object();
    /**
     * The catalog as readers see it, immutable, replaced whole after each committed change. Kept
     * in memory because the index is rebuilt from it on every change: reading 10,000 images and
     * 50,000 layers back from SQLite each time would cost more than rendering them.
     */
    private volatile Snapshot current;

    public CatalogService(Database database, Clock clock) {
        this.database = database;
        this.jdbi = database.jdbi();
        this.clock = clock;
        this.current = load(1, LxdView.NONE);
    }

    /** Changes every time the catalog does; caches of rendered documents key on it. */
    public long generation() { return current.generation(); }

    /** Runs {@code work} while no publish, unpublish or alias change can happen (garbage collection needs a still catalog). */
    public <T> T whileStill(java.util.concurrent.Callable<T> work) throws Exception {
        synchronized (writeLock) {
            return work.call();
        }
    }

    /** Re-reads everything, for changes made beside this service that alter what is visible (layers dropped by recovery or GC). */
    public void changed() {
        synchronized (writeLock) {
            // Other replicas learn of it through the generation (their layer caches must forget removed rows).
            jdbi.useTransaction(handle -> handle.attach(CatalogMetaDao.class).bump());
            current = load(current.generation() + 1, current.lxd());
        }
    }

    /**
     * Replaces what the documents say about LXD items (io.strata.lxd) when it changed: a new
     * generation, so the index documents are rendered again with the items that became ready.
     */
    public void lxdChanged(LxdView view) {
        synchronized (writeLock) {
            Snapshot s = current;
            if (view.equals(s.lxd())) return;
            current = new Snapshot(s.generation() + 1, s.updated(), s.images(), s.hidden(), s.aliases(), s.aliasesByImage(),
                    s.layers(), view);
        }
    }

    /**
     * Tells other replicas that layer rows were removed (garbage collection) without reloading
     * this one's snapshot, which did not use them. Takes no catalog lock, so it may run while
     * the caller holds the cluster's exclusive lock.
     */
    public void layersRemoved() {
        synchronized (writeLock) {
            long[] moved = jdbi.inTransaction(handle -> {
                CatalogMetaDao meta = handle.attach(CatalogMetaDao.class);
                long prior = meta.generation();
                meta.bump();
                return new long[] {prior, meta.generation()};
            });
            if (moved[0] == seenGeneration) seenGeneration = moved[1];
        }
    }

    /**
     * Reloads the snapshot if another process changed the catalog since it was made; one cheap
     * query when nothing changed. Returns true when it reloaded (callers then drop their caches
     * of layer rows, which another process may have removed).
     */
    public boolean refreshIfChanged() {
        long stored = jdbi.withHandle(handle -> handle.attach(CatalogMetaDao.class).generation());
        if (stored == seenGeneration) return false;
        synchronized (writeLock) {
            if (stored == seenGeneration) return false;
            current = load(current.generation() + 1, current.lxd());
            return true;
        }
    }

    /** Publishes a version: resolves and stores its chain, sets its aliases, moves the product's aliases if it is the newest. */
    public Image publish(PublishRequest body) {
        PublishRequest request = body.validated();
        Product product = request.product();
        synchronized (writeLock) {
        List<LayerRecord> resolved = new ArrayList<>();
        Image image = inTransaction(handle -> {
            ImageDao images = handle.attach(ImageDao.class);
            AliasDao aliases = handle.attach(AliasDao.class);
            Digest top = request.layerDigest();
            Optional<Image> published = images.find(top.hex());
            if (published.isPresent()) {
                throw new ApiException(ErrorCode.CONFLICT, "layer " + top + " is already published as " + published.get().product().id()
                        + " version " + published.get().version() + "; an image's fingerprint is its top layer, so publish a new top layer",
                        Map.of("fingerprint", top.hex()));
            }
            if (images.findVersion(product.id(), request.version()).isPresent()) {
                throw new ApiException(ErrorCode.CONFLICT, product.id() + " already has version " + request.version()
                        + "; versions are immutable, publish a new serial", Map.of("product", product.id(), "version", request.version()));
            }
            for (String alias : request.aliases()) {
                Optional<String> owner = aliases.productOf(alias);
                if (owner.isPresent() && !owner.get().equals(product.id())) {
                    throw new ApiException(ErrorCode.CONFLICT, "alias '" + alias + "' belongs to " + owner.get()
                            + "; move it explicitly with PUT /api/v1/aliases/" + alias, Map.of("alias", alias, "product", owner.get()));
                }
            }
            List<LayerRecord> chain = resolveChain(handle.attach(LayerDao.class), top);
            resolved.addAll(chain);
            Set<String> affected = new LinkedHashSet<>(aliases.namesFor(product.id()));
            affected.addAll(request.aliases());
            Map<String, String> before = resolve(handle, affected);

            Instant now = now();
            long downloadSize = chain.stream().mapToLong(LayerRecord::size).sum();
            long virtualSize = chain.get(chain.size() - 1).virtualSize();
            images.insert(top.hex(), product.id(), product.os(), product.release(), product.arch(), product.variant(),
                    request.version(), request.releaseTitle(), request.description(), json(request.properties()),
                    chain.stream().map(l -> l.digest().hex()).collect(Collectors.joining(" ")), downloadSize, virtualSize, now.toString());
            for (String alias : request.aliases()) aliases.upsert(alias, product.id(), now.toString());
            recordMoves(handle, before, resolve(handle, affected), "published " + product.id() + " " + request.version(), now);
            return images.find(top.hex()).orElseThrow();
        });
        List<Image> all = new ArrayList<>(current.images());
        all.addAll(current.hidden());
        all.add(image);
        Map<Digest, LayerRecord> known = new HashMap<>(current.layers());
        for (LayerRecord layer : resolved) known.put(layer.digest(), layer);
        current = staleWrite ? load(current.generation() + 1, current.lxd()) : build(current.generation() + 1, all, known);
        return image;
        }
    }

    /** Unpublishes a version; its layers stay until garbage collection. Aliases fall back to the product's next newest version. */
    public Image deleteImage(Digest fingerprint) { return deleteImage(fingerprint, product -> {}); }

    /** As {@link #deleteImage(Digest)}, after {@code allowed} accepted the image's product id (it throws to refuse), in the same transaction. */
    public Image deleteImage(Digest fingerprint, java.util.function.Consumer<String> allowed) {
        synchronized (writeLock) {
        Image deleted = inTransaction(handle -> {
            ImageDao images = handle.attach(ImageDao.class);
            Image image = images.find(fingerprint.hex()).orElseThrow(() -> unknownImage(fingerprint.hex()));
            allowed.accept(image.product().id());
            Set<String> affected = new LinkedHashSet<>(handle.attach(AliasDao.class).namesFor(image.product().id()));
            Map<String, String> before = resolve(handle, affected);
            images.delete(fingerprint.hex());
            recordMoves(handle, before, resolve(handle, affected), "deleted " + image.product().id() + " " + image.version(), now());
            return image;
        });
        List<Image> all = new ArrayList<>(current.images());
        all.addAll(current.hidden());
        all.removeIf(i -> i.fingerprint().equals(fingerprint));
        current = staleWrite ? load(current.generation() + 1, current.lxd()) : build(current.generation() + 1, all, current.layers());
        return deleted;
        }
    }

    /** Points {@code alias} at a product (which must have a version); returns the fingerprint it now resolves to. */
    public String setAlias(String alias, String productId) { return setAlias(alias, productId, current -> {}); }

    /**
     * As {@link #setAlias(String, String)}, after {@code allowedToMove} accepted the product the alias
     * points at now (it throws to refuse; not called for a new alias), in the same transaction.
     */
    public String setAlias(String alias, String productId, java.util.function.Consumer<String> allowedToMove) {
        PublishRequest.checkAlias(alias);
        Product product = Product.parse(productId);
        if (product == null) {
            throw new ApiException(ErrorCode.BODY_INVALID, "product must be os:release:arch:variant, e.g. debian:12:amd64:cloud",
                    Map.of("field", "product"));
        }
        synchronized (writeLock) {
        String fingerprint = inTransaction(handle -> {
            if (handle.attach(ImageDao.class).versions(product.id()).isEmpty()) {
                throw new ApiException(ErrorCode.IMAGE_UNKNOWN, "product " + product.id() + " has no published version to point an alias at",
                        Map.of("product", product.id()));
            }
            handle.attach(AliasDao.class).productOf(alias).ifPresent(allowedToMove);
            Map<String, String> before = resolve(handle, Set.of(alias));
            Instant now = now();
            handle.attach(AliasDao.class).upsert(alias, product.id(), now.toString());
            Map<String, String> after = resolve(handle, Set.of(alias));
            recordMoves(handle, before, after, "set to " + product.id(), now);
            return after.get(alias);
        });
        current = staleWrite ? load(current.generation() + 1, current.lxd()) : rebuildAliases();
        return fingerprint;
        }
    }

    public void deleteAlias(String alias) { deleteAlias(alias, product -> {}); }

    /** As {@link #deleteAlias(String)}, after {@code allowed} accepted the product the alias points at (it throws to refuse). */
    public void deleteAlias(String alias, java.util.function.Consumer<String> allowed) {
        synchronized (writeLock) {
        inTransaction(handle -> {
            AliasDao aliases = handle.attach(AliasDao.class);
            allowed.accept(aliases.productOf(alias).orElseThrow(() -> unknownAlias(alias)));
            aliases.delete(alias);
            Instant now = now();
            aliases.record(alias, null, null, "deleted", now.toString());
            handle.attach(CatalogMetaDao.class).touch(now.toString());
            return null;
        });
        current = staleWrite ? load(current.generation() + 1, current.lxd()) : rebuildAliases();
        }
    }

    public List<AliasChange> history(String alias) {
        List<AliasChange> changes = jdbi.onDemand(AliasDao.class).history(alias);
        if (changes.isEmpty()) throw unknownAlias(alias);
        return changes;
    }

    /** An image by fingerprint or by alias (resolved to its product's newest version). */
    public Optional<Image> find(String fingerprintOrAlias) {
        return jdbi.inTransaction(handle -> {
            ImageDao images = handle.attach(ImageDao.class);
            if (Digest.isValid(fingerprintOrAlias)) {
                Optional<Image> image = images.find(fingerprintOrAlias);
                if (image.isPresent()) return image;
            }
            String fingerprint = resolve(handle, Set.of(fingerprintOrAlias)).get(fingerprintOrAlias);
            return fingerprint == null ? Optional.<Image>empty() : images.find(fingerprint);
        });
    }

    /** The aliases currently resolving to {@code image}. */
    /** Every layer some image's chain uses (hidden images too: their layers are published, only incomplete). */
    public Set<Digest> publishedLayers() {
        Snapshot snapshot = current;
        Set<Digest> layers = new java.util.HashSet<>();
        for (Image image : snapshot.images()) layers.addAll(image.chain());
        for (Image image : snapshot.hidden()) layers.addAll(image.chain());
        return layers;
    }

    public List<String> aliasesOf(Image image) { return current.aliasesOf(image.fingerprint()); }

    /**
     * Everything the index documents need, as of the last committed change. Images whose chain
     * lost a layer (recovery dropped it) are listed apart as hidden: never served, always reported.
     */
    public Snapshot snapshot() { return current; }

    private Snapshot load(long generation, LxdView lxd) {
        return jdbi.inTransaction(handle -> {
            // Read first: a change committed after it makes the next poll reload again, never one missed.
            seenGeneration = handle.attach(CatalogMetaDao.class).generation();
            List<Image> all = handle.attach(ImageDao.class).all();
            Map<Digest, LayerRecord> layers = new HashMap<>();
            for (LayerRecord layer : handle.attach(LayerDao.class).all()) layers.put(layer.digest(), layer);
            return build(handle, generation, all, layers, lxd);
        });
    }

    private Snapshot rebuildAliases() {
        List<Image> all = new ArrayList<>(current.images());
        all.addAll(current.hidden());
        return build(current.generation() + 1, all, current.layers());
    }

    private Snapshot build(long generation, List<Image> all, Map<Digest, LayerRecord> known) {
        LxdView lxd = current == null ? LxdView.NONE : current.lxd();
        return jdbi.withHandle(handle -> build(handle, generation, all, known, lxd));
    }

    /** Derives the reader's view: visible and hidden images, alias targets, the layers the visible chains use. */
    private static Snapshot build(Handle handle, long generation, List<Image> all, Map<Digest, LayerRecord> known, LxdView lxd) {
        List<Image> sorted = new ArrayList<>(all);
        sorted.sort(java.util.Comparator.comparing((Image i) -> i.product().id()).thenComparing(Image::version, java.util.Comparator.reverseOrder()));
        List<Image> visible = new ArrayList<>(sorted.size());
        List<Image> hidden = new ArrayList<>();
        for (Image image : sorted) (known.keySet().containsAll(image.chain()) ? visible : hidden).add(image);
        Map<String, Image> newest = new HashMap<>();
        for (Image image : visible) newest.putIfAbsent(image.product().id(), image);
        Map<String, Digest> aliases = new TreeMap<>();
        Map<Digest, List<String>> aliasesByImage = new HashMap<>();
        // Sorted here, not by ORDER BY: PostgreSQL's collation may order '/', '-' and '.' unlike SQLite, and the index must not depend on it.
        List<AliasDao.Alias> byName = new ArrayList<>(handle.attach(AliasDao.class).all());
        byName.sort(java.util.Comparator.comparing(AliasDao.Alias::name));
        for (AliasDao.Alias alias : byName) {
            Image target = newest.get(alias.product());
            if (target == null) continue;
            aliases.put(alias.name(), target.fingerprint());
            aliasesByImage.computeIfAbsent(target.fingerprint(), k -> new ArrayList<>()).add(alias.name());
        }
        Map<Digest, LayerRecord> used = new TreeMap<>();
        for (Image image : visible) for (Digest d : image.chain()) used.put(d, known.get(d));
        String updated = handle.attach(CatalogMetaDao.class).updatedAt();
        return new Snapshot(generation, updated, List.copyOf(visible), List.copyOf(hidden), Collections.unmodifiableMap(aliases),
                Collections.unmodifiableMap(aliasesByImage), Collections.unmodifiableMap(used), lxd);
    }

    /**
     * A consistent view of the catalog; images in product order, newest version first. {@code lxd}
     * is what the LXD service last reported about the images' LXD items.
     */
    public record Snapshot(long generation, String updated, List<Image> images, List<Image> hidden, Map<String, Digest> aliases,
                           Map<Digest, List<String>> aliasesByImage, Map<Digest, LayerRecord> layers, LxdView lxd) {
        public List<String> aliasesOf(Digest fingerprint) { return aliasesByImage.getOrDefault(fingerprint, List.of()); }
    }

    // ------------------------------------------------------------------ internals

    /** The chain base→top, from the layers' parent links. */
    static List<LayerRecord> resolveChain(LayerDao layers, Digest top) {
        List<LayerRecord> chain = new ArrayList<>();
        Optional<Digest> next = Optional.of(top);
        while (next.isPresent()) {
            Digest digest = next.get();
            LayerRecord layer = layers.find(digest.hex()).orElseThrow(() -> new ApiException(ErrorCode.CHAIN_INCOMPLETE,
                    digest.equals(top) ? "layer " + digest + " is not stored; upload it before publishing"
                            : "layer " + digest + " (in the backing chain of " + top + ") is not stored; upload it first",
                    Map.of("layer", digest.hex())));
            chain.add(layer);
            if (chain.size() > MAX_CHAIN_DEPTH) {
                throw new ApiException(ErrorCode.CHAIN_INCOMPLETE, "the backing chain of " + top + " is deeper than " + MAX_CHAIN_DEPTH);
            }
            next = layer.parent();
        }
        Collections.reverse(chain);
        return chain;
    }

    /** alias → fingerprint of its product's newest version (absent when it has none). */
    private static Map<String, String> resolve(Handle handle, Iterable<String> names) {
        Map<String, String> out = new LinkedHashMap<>();
        AliasDao aliases = handle.attach(AliasDao.class);
        ImageDao images = handle.attach(ImageDao.class);
        for (String name : names) {
            Optional<String> product = aliases.productOf(name);
            if (product.isEmpty()) continue;
            List<Image> versions = images.versions(product.get());
            if (!versions.isEmpty()) out.put(name, versions.get(0).fingerprint().hex());
        }
        return out;
    }

    private static void recordMoves(Handle handle, Map<String, String> before, Map<String, String> after, String reason, Instant now) {
        AliasDao aliases = handle.attach(AliasDao.class);
        Set<String> names = new LinkedHashSet<>(before.keySet());
        names.addAll(after.keySet());
        for (String name : names) {
            String was = before.get(name);
            String is = after.get(name);
            if (is == null ? was == null : is.equals(was)) continue;
            aliases.record(name, aliases.productOf(name).orElse(null), is, reason, now.toString());
        }
        handle.attach(CatalogMetaDao.class).touch(now.toString());
    }

    /** A catalog change (callers hold {@link #writeLock}); notes whether another process changed the catalog first. */
    private <T> T inTransaction(org.jdbi.v3.core.HandleCallback<T, RuntimeException> callback) {
        long[] generations = new long[2];
        T result = database.catalogTransaction(handle -> {
            CatalogMetaDao meta = handle.attach(CatalogMetaDao.class);
            generations[0] = meta.generation();
            T value = callback.withHandle(handle);
            generations[1] = meta.generation();
            return value;
        });
        staleWrite = generations[0] != seenGeneration;
        seenGeneration = generations[1];
        return result;
    }

    private Instant now() { return clock.instant().truncatedTo(ChronoUnit.MILLIS); }

    private static String json(Map<String, String> properties) {
        try {
            return JSON.writeValueAsString(new TreeMap<>(properties));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ApiException unknownImage(String fingerprint) {
        return new ApiException(ErrorCode.IMAGE_UNKNOWN, "no image with fingerprint " + fingerprint, Map.of("fingerprint", fingerprint));
    }

    private static ApiException unknownAlias(String alias) {
        return new ApiException(ErrorCode.ALIAS_UNKNOWN, "no alias named '" + alias + "'", Map.of("alias", alias));
    }
}
