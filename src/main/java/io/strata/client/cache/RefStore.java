package io.strata.client.cache;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.strata.client.Console;
import io.strata.layer.Digest;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.UnaryOperator;

/**
 * The local reference store ({@code refs.json}): which images were pulled, their chains and when
 * each was last used. It is the only mutable metadata of a cache, so every change is a
 * read-modify-write under the cache lock, written to a temp file, fsynced and renamed over the
 * old one: a crash leaves either the old or the new file, never half of one.
 *
 * <p>Layer files are the truth; the store only describes them. {@link #recover} drops entries
 * whose layers are gone or have the wrong size (a manual delete, a disk problem) and says so.
 */
public final class RefStore {
    static final String FORMAT = "strata-refs:1";
    static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(SerializationFeature.INDENT_OUTPUT);

    /** The whole file. */
    public record State(String format, List<CachedImage> images) {
        public State {
            images = images == null ? List.of() : List.copyOf(images);
        }

        static State empty() { return new State(FORMAT, List.of()); }

        public Optional<CachedImage> image(String fingerprint) {
            return images.stream().filter(image -> image.fingerprint().equals(fingerprint)).findFirst();
        }
    }

    private final CacheLayout cache;
    private final Console console;

    public RefStore(CacheLayout cache, Console console) {
        this.cache = cache;
        this.console = console;
    }

    /** Reads the store (under the cache lock, so never a file another process is replacing). */
    public State read() throws IOException, InterruptedException {
        try (FileLocks.Held lock = lockCache()) {
            return loadLocked();
        }
    }

    /** Applies {@code change} to the store atomically with respect to other processes. */
    public State update(UnaryOperator<State> change) throws IOException, InterruptedException {
        try (FileLocks.Held lock = lockCache()) {
            State before = loadLocked();
            State after = change.apply(before);
            if (!after.equals(before)) saveLocked(after);
            return after;
        }
    }

    /**
     * Startup recovery: drops entries whose layer files are missing or of the wrong size, and
     * temp files of writes a crash interrupted. Partial downloads ({@code .part}) are left for
     * the next pull to resume.
     */
    public State recover() throws IOException, InterruptedException {
        try (FileLocks.Held lock = lockCache()) {
            deleteStaleTemps();
            State state = loadLocked();
            List<CachedImage> kept = new ArrayList<>();
            for (CachedImage image : state.images()) {
                Optional<String> problem = problem(image);
                if (problem.isPresent()) {
                    console.warn("cache: forgetting " + describe(image) + ": " + problem.get() + "; pull it again to restore it");
                } else {
                    kept.add(image);
                }
            }
            State recovered = new State(FORMAT, kept);
            if (!recovered.equals(state)) saveLocked(recovered);
            return recovered;
        }
    }

    /** Why {@code image} is not complete in the cache, if it is not. */
    public Optional<String> problem(CachedImage image) {
        List<Digest> layers = image.layers();
        for (int i = 0; i < layers.size(); i++) {
            Path file = cache.layer(layers.get(i));
            try {
                long size = Files.size(file);
                if (size != image.sizes().get(i)) {
                    return Optional.of("layer " + layers.get(i).shortHex() + " has " + size + " bytes instead of " + image.sizes().get(i));
                }
            } catch (NoSuchFileException e) {
                return Optional.of("layer " + layers.get(i).shortHex() + " is missing");
            } catch (IOException e) {
                return Optional.of("layer " + layers.get(i).shortHex() + " cannot be read (" + e.getMessage() + ")");
            }
        }
        return Optional.empty();
    }

    public static String describe(CachedImage image) {
        String name = image.aliases().isEmpty() ? image.product() + " " + image.version() : String.join(", ", image.aliases());
        return name + " (" + image.fingerprint().substring(0, 12) + ")";
    }

    /** Records a completed pull: the image replaces any older entry, and takes its aliases from other images of the same registry. */
    public static State recordPull(State state, CachedImage pulled) {
        List<CachedImage> images = new ArrayList<>();
        for (CachedImage image : state.images()) {
            if (image.fingerprint().equals(pulled.fingerprint())) continue;
            if (image.registry().equals(pulled.registry()) && image.aliases().stream().anyMatch(pulled.aliases()::contains)) {
                image = image.withAliases(image.aliases().stream().filter(alias -> !pulled.aliases().contains(alias)).toList());
            }
            images.add(image);
        }
        images.add(pulled);
        return new State(FORMAT, images);
    }

    public static State touch(State state, String fingerprint, Instant when) {
        return new State(FORMAT, state.images().stream()
                .map(image -> image.fingerprint().equals(fingerprint) ? image.withLastUsed(when) : image).toList());
    }

    FileLocks.Held lockCache() throws IOException, InterruptedException {
        Files.createDirectories(cache.root());
        return FileLocks.exclusive(cache.cacheLock(), message -> console.info("cache: waiting for another strata process to finish with the cache"));
    }

    /** Reads the file; the caller holds {@link #lockCache()}. */
    State loadLocked() throws IOException {
        Path file = cache.refs();
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return State.empty();
        }
        try {
            State state = JSON.readValue(bytes, State.class);
            if (!FORMAT.equals(state.format())) throw new IOException("unknown format " + state.format());
            return state;
        } catch (IOException | IllegalArgumentException e) {
            // Unreadable metadata must not make the cache unusable: keep the file for a look, start afresh.
            Path aside = file.resolveSibling("refs.json.unreadable-" + Instant.now().toEpochMilli());
            Files.move(file, aside);
            console.warn("cache: " + file + " could not be read (" + e.getMessage() + "); moved it to " + aside
                    + " and started an empty reference store (layers are kept; pull images again to list them)");
            return State.empty();
        }
    }

    /** Replaces the file atomically; the caller holds {@link #lockCache()}. */
    void saveLocked(State state) throws IOException {
        write(cache.refs(), JSON.writeValueAsBytes(state));
    }

    /** temp file + fsync + rename + fsync of the directory: the new content or the old, never a mix. */
    public static void write(Path target, byte[] bytes) throws IOException {
        Path temp = target.resolveSibling(target.getFileName() + "." + ProcessHandle.current().pid() + "-" + Thread.currentThread().getId() + ".tmp");
        try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer buffer = java.nio.ByteBuffer.wrap(bytes);
            while (buffer.hasRemaining()) channel.write(buffer);
            channel.force(true);
        }
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        fsyncDirectory(target.getParent());
    }

    public static void fsyncDirectory(Path dir) {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException e) {
            // not every file system lets a directory be opened; the rename itself is still atomic
        }
    }

    /**
     * Temp files of metadata writes a crash interrupted, and range records whose part is gone.
     * Temp files of range records belong to a running download unless its layer lock is free.
     */
    private void deleteStaleTemps() throws IOException {
        for (Path dir : List.of(cache.root(), cache.indexes())) {
            if (!Files.isDirectory(dir)) continue;
            try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.tmp")) {
                for (Path file : files) Files.deleteIfExists(file);
            }
        }
        if (!Files.isDirectory(cache.layers())) return;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(cache.layers(), "*" + CacheLayout.PART_SUFFIX + ".json*")) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                String hex = name.substring(0, Math.min(64, name.length()));
                if (!Digest.isValid(hex)) continue;
                Digest layer = new Digest(hex);
                boolean orphan = name.endsWith(".tmp") || !Files.exists(cache.part(layer));
                if (!orphan) continue;
                Optional<FileLocks.Held> lock = FileLocks.tryExclusive(cache.lock(layer));
                if (lock.isEmpty()) continue; // a pull is downloading this layer right now
                try (FileLocks.Held held = lock.get()) {
                    if (name.endsWith(".tmp") || !Files.exists(cache.part(layer))) Files.deleteIfExists(file);
                }
            }
        }
    }
}
