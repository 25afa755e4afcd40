package io.strata.client.cache;

import io.strata.client.Console;
import io.strata.layer.Digest;
import io.strata.layer.qcow2.Qcow2Exception;
import io.strata.layer.qcow2.Qcow2Header;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * {@code strata cache list} and {@code strata cache prune}: what the cache holds, and eviction by
 * size and age.
 *
 * <p>Prune drops images (reference store entries) least recently used first, then removes the
 * layers no kept image needs, least recently used first. It never removes a layer that a kept
 * image needs, a layer that backs another layer staying in the cache (qemu could no longer open
 * that one), or a layer a running pull holds: each removal takes the layer's exclusive lock
 * without waiting, and skips the layer if that fails.
 */
public final class CacheInventory {
    /** A file in {@code layers/}: a complete layer, or a partial download. */
    public record CachedFile(Path path, Digest digest, boolean partial, long size, Instant modified) {}

    /** The cache as {@code cache list} shows it. */
    public record Listing(List<CachedImage> images, List<CachedFile> files) {
        public long totalBytes() { return files.stream().mapToLong(CachedFile::size).sum(); }
    }

    /** What a prune did. */
    public record Pruned(List<CachedImage> droppedImages, List<CachedFile> removed, List<CachedFile> keptLocked, long bytesAfter) {
        public long removedBytes() { return removed.stream().mapToLong(CachedFile::size).sum(); }
    }

    private final CacheLayout cache;
    private final Console console;

    public CacheInventory(CacheLayout cache, Console console) {
        this.cache = cache;
        this.console = console;
    }

    public Listing list() throws IOException, InterruptedException {
        cache.create();
        RefStore.State state = new RefStore(cache, console).recover();
        return new Listing(state.images(), files());
    }

    /**
     * Prunes. With neither limit, removes only layers and partial downloads no cached image needs.
     *
     * @param maxBytes keep the cache at most this large (layers and partial downloads)
     * @param maxAge   drop images not used for this long, and partial downloads untouched for this long
     */
    public Pruned prune(Optional<Long> maxBytes, Optional<Duration> maxAge, Instant now) throws IOException, InterruptedException {
        cache.create();
        RefStore refs = new RefStore(cache, console);
        refs.recover();
        // The cache lock for the whole prune: no pull records an image (making its layers needed) while we decide.
        try (FileLocks.Held lock = refs.lockCache()) {
            RefStore.State state = refs.loadLocked();
            List<CachedImage> kept = new ArrayList<>(state.images());
            kept.sort(Comparator.comparing(CachedImage::lastUsedAt)); // least recently used first
            List<CachedImage> dropped = new ArrayList<>();
            maxAge.ifPresent(age -> kept.removeIf(image -> image.lastUsedAt().isBefore(now.minus(age)) && dropped.add(image)));

            List<CachedFile> present = new ArrayList<>(files());
            Map<Digest, Digest> parents = parents(present);
            Map<Digest, Instant> lastUse = lastUse(state.images(), present);
            List<CachedFile> removed = new ArrayList<>();
            Set<Path> locked = new HashSet<>();
            while (true) {
                boolean overSize = maxBytes.isPresent() && bytes(present) > maxBytes.get();
                Optional<CachedFile> victim = victim(present, needed(kept), parents, lastUse, locked, maxBytes, maxAge, overSize, now);
                if (victim.isPresent()) {
                    if (remove(victim.get())) {
                        present.remove(victim.get());
                        removed.add(victim.get());
                    } else {
                        locked.add(victim.get().path());
                    }
                } else if (overSize && !kept.isEmpty()) {
                    dropped.add(kept.remove(0)); // its layers become removable unless another image needs them
                } else {
                    break;
                }
            }
            if (!dropped.isEmpty()) refs.saveLocked(new RefStore.State(RefStore.FORMAT, List.copyOf(kept)));
            List<CachedFile> keptLocked = present.stream().filter(file -> locked.contains(file.path())).toList();
            return new Pruned(List.copyOf(dropped), removed, keptLocked, bytes(present));
        }
    }

    /**
     * The least recently used file that may go now: a complete layer no kept image needs and no
     * staying layer stands on, when no limit was given, the cache is over its size, or it is older
     * than the age limit; a partial download only when over size or older than the age limit.
     */
    private static Optional<CachedFile> victim(List<CachedFile> present, Set<Digest> needed, Map<Digest, Digest> parents,
                                               Map<Digest, Instant> lastUse, Set<Path> locked, Optional<Long> maxBytes,
                                               Optional<Duration> maxAge, boolean overSize, Instant now) {
        boolean noLimits = maxBytes.isEmpty() && maxAge.isEmpty();
        return present.stream()
                .filter(file -> !locked.contains(file.path()))
                .filter(file -> file.partial() ? partialEvictable(file, maxAge, now, overSize)
                        : !needed.contains(file.digest()) && !backsAnother(file.digest(), present, parents)
                        && (noLimits || overSize || olderThan(lastUse.get(file.digest()), maxAge, now)))
                .min(Comparator.comparing((CachedFile file) -> lastUse.getOrDefault(file.digest(), file.modified())));
    }

    private static Set<Digest> needed(List<CachedImage> kept) {
        Set<Digest> needed = new HashSet<>();
        for (CachedImage image : kept) needed.addAll(image.layers());
        return needed;
    }

    private static long bytes(List<CachedFile> files) { return files.stream().mapToLong(CachedFile::size).sum(); }

    private static boolean partialEvictable(CachedFile file, Optional<Duration> maxAge, Instant now, boolean overSize) {
        // What an interrupted pull left: the next pull resumes it, so it goes only when the cache is over
        // its size or the part has not been touched for longer than the age limit.
        return overSize || olderThan(file.modified(), maxAge, now);
    }

    private static boolean olderThan(Instant when, Optional<Duration> maxAge, Instant now) {
        return maxAge.isPresent() && when != null && when.isBefore(now.minus(maxAge.get()));
    }

    /** Whether a complete layer staying in the cache names {@code digest} as its backing file. */
    private static boolean backsAnother(Digest digest, List<CachedFile> present, Map<Digest, Digest> parents) {
        for (CachedFile file : present) {
            if (!file.partial() && digest.equals(parents.get(file.digest()))) return true;
        }
        return false;
    }

    /** Each complete layer's parent, read from its own qcow2 header: the truth qemu will follow, whatever refs.json says. */
    private Map<Digest, Digest> parents(List<CachedFile> files) {
        Map<Digest, Digest> parents = new HashMap<>();
        for (CachedFile file : files) {
            if (file.partial()) continue;
            try {
                Qcow2Header header = Qcow2Header.read(file.path());
                Optional<String> name = header.backingName();
                if (name.isPresent() && name.get().endsWith(CacheLayout.LAYER_SUFFIX)) {
                    String hex = name.get().substring(0, name.get().length() - CacheLayout.LAYER_SUFFIX.length());
                    if (Digest.isValid(hex)) parents.put(file.digest(), new Digest(hex));
                }
            } catch (IOException | Qcow2Exception e) {
                console.warn("cache: cannot read the header of " + file.path() + " (" + e.getMessage() + "); it backs nothing");
            }
        }
        return parents;
    }

    /**
     * When each layer was last used: the latest use of any image (kept or dropped) that has it;
     * for a layer no image lists (left by a failed pull), the file's modification time.
     */
    private static Map<Digest, Instant> lastUse(List<CachedImage> images, List<CachedFile> files) {
        Map<Digest, Instant> lastUse = new LinkedHashMap<>();
        for (CachedImage image : images) {
            for (Digest layer : image.layers()) lastUse.merge(layer, image.lastUsedAt(), (a, b) -> a.isAfter(b) ? a : b);
        }
        for (CachedFile file : files) lastUse.putIfAbsent(file.digest(), file.modified());
        return lastUse;
    }

    private boolean remove(CachedFile file) throws IOException {
        Optional<FileLocks.Held> lock = FileLocks.tryExclusive(cache.lock(file.digest()));
        if (lock.isEmpty()) {
            console.info("cache: keeping " + file.path().getFileName() + ": a running pull is using it");
            return false;
        }
        try (FileLocks.Held held = lock.get()) {
            Files.deleteIfExists(file.path());
            if (file.partial()) Files.deleteIfExists(cache.partState(file.digest()));
            return true;
        }
    }

    private List<CachedFile> files() throws IOException {
        List<CachedFile> files = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(cache.layers())) {
            for (Path path : entries) {
                Optional<Digest> layer = CacheLayout.digestOf(path, CacheLayout.LAYER_SUFFIX);
                Optional<Digest> part = CacheLayout.digestOf(path, CacheLayout.PART_SUFFIX);
                if (layer.isEmpty() && part.isEmpty()) continue;
                BasicFileAttributes attributes;
                try {
                    attributes = Files.readAttributes(path, BasicFileAttributes.class);
                } catch (java.nio.file.NoSuchFileException e) {
                    continue; // renamed or removed by a pull meanwhile
                }
                files.add(new CachedFile(path, layer.orElseGet(part::get), part.isPresent(), attributes.size(),
                        attributes.lastModifiedTime().toInstant()));
            }
        }
        files.sort(Comparator.comparing(CachedFile::path));
        return files;
    }
}
