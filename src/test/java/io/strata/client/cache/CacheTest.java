package io.strata.client.cache;

import io.strata.cli.Main;
import io.strata.client.ClientFixtures;
import io.strata.client.Console;
import io.strata.client.pull.Puller;
import io.strata.layer.Digest;
import io.strata.testing.FaultyTcpProxy;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The client cache: reference store recovery, {@code cache list}, and prune's limits and what it must never remove. */
class CacheTest {
    @TempDir static Path publisher;
    @TempDir Path work;
    static TestRegistry registry;
    static Digest base, mid, top, other, lone;

    @BeforeAll
    static void publish() throws IOException {
        QemuImg.assumeAvailable();
        registry = TestRegistry.start(publisher.resolve("data"));
        base = ClientFixtures.layer(publisher, null, 2, 0, 21);
        mid = ClientFixtures.layer(publisher, base, 1, 8, 22);
        top = ClientFixtures.layer(publisher, mid, 1, 16, 23);
        other = ClientFixtures.layer(publisher, mid, 1, 24, 24);
        lone = ClientFixtures.layer(publisher, null, 1, 0, 25);
        ClientFixtures.upload(registry, publisher, base, mid, top, other, lone);
        ClientFixtures.publish(registry, "a:1:amd64:cloud", "20261122_1000", top, "a/1");
        ClientFixtures.publish(registry, "b:1:amd64:cloud", "20261122_1000", other, "b/1");
        ClientFixtures.publish(registry, "c:1:amd64:cloud", "20261122_1000", lone, "c/1");
    }

    @AfterAll
    static void stop() {
        if (registry != null) registry.close();
    }

    CacheLayout cache() { return new CacheLayout(work.resolve("cache")); }

    void pull(String... refs) throws Exception {
        for (String ref : refs) {
            new Puller(Console.silent()).pull(Puller.Options.defaults(cache().root(), registry.url("/"), ref).withBackoff(ClientFixtures.FAST));
        }
    }

    /** Makes {@code fingerprint} look last used {@code ago} before now. */
    void usedAgo(Digest fingerprint, Duration ago) throws Exception {
        new RefStore(cache(), Console.silent()).update(state -> RefStore.touch(state, fingerprint.hex(), Instant.now().minus(ago)));
    }

    boolean cached(Digest layer) { return Files.exists(cache().layer(layer)); }

    @Test
    void recovery_forgets_images_whose_layers_were_deleted_or_have_the_wrong_size_and_keeps_the_rest() throws Exception {
        pull("a/1", "b/1", "c/1");
        Files.delete(cache().layer(lone));
        try (FileChannel file = FileChannel.open(cache().layer(top), StandardOpenOption.WRITE)) {
            file.truncate(file.size() - 1);
        }
        ClientFixtures.Recording log = new ClientFixtures.Recording();

        CacheInventory.Listing listing = new CacheInventory(cache(), log.console).list();

        assertEquals(List.of(other.hex()), listing.images().stream().map(CachedImage::fingerprint).toList());
        assertTrue(log.toString().contains("forgetting a/1 (" + top.hex().substring(0, 12) + "): layer " + top.shortHex()
                + " has " + (ClientFixtures.size(publisher, top) - 1) + " bytes"), log.toString());
        assertTrue(log.toString().contains("forgetting c/1 (" + lone.hex().substring(0, 12) + "): layer " + lone.shortHex()
                + " is missing"), log.toString());
        assertTrue(log.toString().contains("pull it again"), log.toString());
        String stored = Files.readString(cache().refs());
        assertFalse(stored.contains(top.hex()) || stored.contains(lone.hex()), "the store itself was rewritten: " + stored);

        ClientFixtures.Run list = ClientFixtures.strata("cache", "list", "--cache", cache().root().toString());
        assertEquals(0, list.exitCode(), list.err());
        assertTrue(list.out().contains(other.hex().substring(0, 12)) && list.out().contains("b/1"), list.out());
        assertTrue(list.out().contains("1 image;"), list.out());
    }

    @Test
    void prune_to_a_size_drops_the_least_recently_used_image_but_never_a_layer_a_kept_image_needs() throws Exception {
        pull("a/1", "b/1");
        usedAgo(top, Duration.ofHours(2));
        long keep = ClientFixtures.size(publisher, base) + ClientFixtures.size(publisher, mid) + ClientFixtures.size(publisher, other);

        CacheInventory.Pruned pruned = new CacheInventory(cache(), Console.silent()).prune(Optional.of(keep), Optional.empty(), Instant.now());

        assertEquals(List.of(top.hex()), pruned.droppedImages().stream().map(CachedImage::fingerprint).toList());
        assertEquals(List.of(cache().layer(top)), pruned.removed().stream().map(CacheInventory.CachedFile::path).toList());
        assertTrue(cached(base) && cached(mid) && cached(other), "b/1 keeps its whole chain, shared layers included");
        assertEquals(keep, pruned.bytesAfter());
        assertEquals(List.of(other.hex()), new RefStore(cache(), Console.silent()).read().images().stream().map(CachedImage::fingerprint).toList());
    }

    @Test
    void prune_never_removes_a_layer_a_running_pull_holds_nor_the_layers_backing_it() throws Exception {
        pull("a/1");
        try (FileLocks.Held pulling = FileLocks.shared(cache().lock(top), message -> { })) {
            CacheInventory.Pruned pruned = new CacheInventory(cache(), Console.silent()).prune(Optional.of(0L), Optional.empty(), Instant.now());

            assertEquals(1, pruned.droppedImages().size(), "the image entry goes");
            assertEquals(List.of(cache().layer(top)), pruned.keptLocked().stream().map(CacheInventory.CachedFile::path).toList());
            assertTrue(cached(top), "held by a pull");
            assertTrue(cached(mid) && cached(base), "qemu needs them to open the layer that stays");
            assertEquals(List.of(), pruned.removed());
        }
        CacheInventory.Pruned after = new CacheInventory(cache(), Console.silent()).prune(Optional.of(0L), Optional.empty(), Instant.now());
        assertEquals(3, after.removed().size());
        assertEquals(List.of(cache().layer(top), cache().layer(mid), cache().layer(base)),
                after.removed().stream().map(CacheInventory.CachedFile::path).toList(), "children before the layers they stand on");
        assertEquals(0, after.bytesAfter());
    }

    @Test
    void prune_skips_a_layer_a_pull_in_another_process_is_downloading() throws Exception {
        try (FaultyTcpProxy slow = new FaultyTcpProxy(registry.uri("/"), 1, FaultyTcpProxy.Faults.NONE)) {
            slow.setThrottle(512 * 1024);
            String java = ProcessHandle.current().info().command().orElse("java");
            Process pull = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                    "pull", "c/1", "--registry", slow.url(), "--cache", cache().root().toString(), "--quiet")
                    .redirectErrorStream(true).start();
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (!Files.exists(cache().part(lone)) || Files.size(cache().part(lone)) == 0) {
                    assertTrue(pull.isAlive() && System.nanoTime() < deadline, "the pull should be downloading");
                    Thread.sleep(20);
                }

                CacheInventory.Pruned pruned = new CacheInventory(cache(), Console.silent()).prune(Optional.of(0L), Optional.empty(), Instant.now());

                assertEquals(List.of(cache().part(lone)), pruned.keptLocked().stream().map(CacheInventory.CachedFile::path).toList());
                assertTrue(Files.exists(cache().part(lone)) || Files.exists(cache().layer(lone)));
                assertTrue(pull.waitFor(30, TimeUnit.SECONDS), "pull finishes");
                String output = new String(pull.getInputStream().readAllBytes());
                assertEquals(0, pull.exitValue(), output);
                assertEquals(cache().layer(lone).toString(), output.strip().lines().reduce((a, b) -> b).orElse(""));
            } finally {
                pull.destroyForcibly();
            }
        }
        assertEquals(lone, ClientFixtures.sha256(cache().layer(lone)), "the pull completed undisturbed");
    }

    @Test
    void prune_by_age_drops_images_unused_for_longer_and_keeps_recent_ones() throws Exception {
        pull("a/1", "c/1");
        usedAgo(lone, Duration.ofDays(10));

        ClientFixtures.Run run = ClientFixtures.strata("cache", "prune", "--max-age", "7d", "--cache", cache().root().toString());

        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().contains("dropped image " + lone.hex().substring(0, 12)), run.out());
        assertFalse(cached(lone));
        assertTrue(cached(base) && cached(mid) && cached(top));
    }

    @Test
    void prune_without_limits_removes_only_layers_no_cached_image_needs_and_keeps_partial_downloads() throws Exception {
        pull("a/1", "b/1");
        new RefStore(cache(), Console.silent()).update(state -> new RefStore.State(RefStore.FORMAT,
                state.images().stream().filter(image -> !image.fingerprint().equals(other.hex())).toList()));
        byte[] half = java.util.Arrays.copyOf(Files.readAllBytes(publisher.resolve(lone.fileName())), 4096);
        Files.write(cache().part(lone), half);

        CacheInventory.Pruned pruned = new CacheInventory(cache(), Console.silent()).prune(Optional.empty(), Optional.empty(), Instant.now());

        assertEquals(List.of(cache().layer(other)), pruned.removed().stream().map(CacheInventory.CachedFile::path).toList());
        assertTrue(Files.exists(cache().part(lone)), "a partial download is kept for the next pull to resume");
        assertTrue(cached(base) && cached(mid) && cached(top));
    }
}
