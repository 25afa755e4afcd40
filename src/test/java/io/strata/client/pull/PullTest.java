package io.strata.client.pull;

import io.strata.client.ClientException;
import io.strata.client.ClientFixtures;
import io.strata.client.Console;
import io.strata.client.Human;
import io.strata.client.cache.CacheLayout;
import io.strata.client.cache.RefStore;
import io.strata.layer.Digest;
import io.strata.testing.FaultyTcpProxy;
import io.strata.testing.FaultyTcpProxy.Direction;
import io.strata.testing.FaultyTcpProxy.Faults;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

import static io.strata.client.ClientFixtures.FAST;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code strata pull} against a real registry, through a proxy that breaks connections: resume,
 * verification, the cache, the free-space check, the index's ETag, and what qemu makes of the result.
 */
class PullTest {
    @TempDir static Path publisher;
    @TempDir Path work;
    static TestRegistry registry;
    static Digest base, mid, top, other;
    static long chainBytes;

    @BeforeAll
    static void publish() throws IOException {
        QemuImg.assumeAvailable();
        registry = TestRegistry.start(publisher.resolve("data"));
        base = ClientFixtures.layer(publisher, null, 8, 0, 1);
        mid = ClientFixtures.layer(publisher, base, 6, 16, 2);
        top = ClientFixtures.layer(publisher, mid, 4, 32, 3);
        other = ClientFixtures.layer(publisher, mid, 3, 48, 4);
        ClientFixtures.upload(registry, publisher, base, mid, top, other);
        ClientFixtures.publish(registry, "test:1:amd64:cloud", "20261122_1000", top, "test/1");
        ClientFixtures.publish(registry, "test:1:amd64:other", "20261122_1000", other, "test/other");
        chainBytes = size(base) + size(mid) + size(top);
    }

    @AfterAll
    static void stop() {
        if (registry != null) registry.close();
    }

    static long size(Digest layer) {
        try {
            return Files.size(publisher.resolve(layer.fileName()));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    Puller.Options options(String url, String ref) {
        return Puller.Options.defaults(work.resolve("cache"), url, ref).withBackoff(FAST).withIdleTimeout(Duration.ofSeconds(1));
    }

    CacheLayout cache() { return new CacheLayout(work.resolve("cache")); }

    @Test
    void a_pull_through_a_proxy_that_cuts_stalls_and_fails_connections_completes_with_at_most_a_tenth_more_bytes()
            throws Exception {
        ClientFixtures.Recording log = new ClientFixtures.Recording();
        try (FaultyTcpProxy proxy = new FaultyTcpProxy(registry.uri("/"), 20261122L,
                new Faults(0.6, 0.1, 0.1, 2L << 20, Direction.DOWNLOAD))) {
            // Six connections for three layers: the larger layers are also fetched as parallel ranges.
            Puller.Result result = new Puller(log.console).pull(options(proxy.url(), "test/1").withMaxAttempts(10)
                    .withJobs(6).withSplitBytes(2L << 20));

            assertEquals(cache().layer(top), result.top());
            assertEquals(List.of(base, mid, top), result.chain());
            for (Digest layer : result.chain()) assertEquals(layer, ClientFixtures.sha256(cache().layer(layer)), "verified " + layer);
            assertTrue(proxy.cuts() >= 3 && proxy.cuts() + proxy.stalls() + proxy.errors() >= 5,
                    "the proxy must have broken some connections to mean anything: " + proxy.cuts() + " cuts, "
                            + proxy.stalls() + " stalls, " + proxy.errors() + " 503s\n" + log);
            long received = proxy.bytesToClient();
            assertTrue(received <= chainBytes * 1.1, "received " + received + " bytes for a chain of " + chainBytes + "\n" + log);
            try (Stream<Path> files = Files.list(cache().layers())) {
                assertEquals(List.of(), files.filter(f -> f.toString().endsWith(".part")).toList(), "no partial download is left");
            }
            System.out.printf("faulty proxy: %d connections, %d cuts, %d stalls, %d 503s; %d bytes received for %d needed (%.3fx)%n",
                    proxy.connections(), proxy.cuts(), proxy.stalls(), proxy.errors(), received, chainBytes, received / (double) chainBytes);
        }
        QemuImg.check(cache().layer(top));
        assertTrue(QemuImg.compare(cache().layer(top), publisher.resolve(top.fileName())), "guest content identical");
    }

    @Test
    void on_a_slow_link_spare_connections_split_the_running_downloads_and_no_byte_comes_twice() throws Exception {
        try (FaultyTcpProxy proxy = new FaultyTcpProxy(registry.uri("/"), 3, Faults.NONE)) {
            pullSplitting(proxy, proxy.url(), 4);
        }
    }

    @Test
    void the_split_works_the_same_over_the_jdk_client_which_takes_redirected_answers() throws Exception {
        try (FaultyTcpProxy proxy = new FaultyTcpProxy(registry.uri("/"), 5, Faults.NONE)) {
            List<String> ranges = new java.util.concurrent.CopyOnWriteArrayList<>();
            com.sun.net.httpserver.HttpServer front = redirectingTo(proxy.url(), ranges);
            try {
                // The JDK client keeps its connections alive, so the proxy's count says little; the
                // Range headers the front sees do: a layer's first request has none.
                pullSplitting(proxy, "http://127.0.0.1:" + front.getAddress().getPort(), 0);
            } finally {
                front.stop(0);
            }
            assertTrue(ranges.stream().anyMatch(r -> r.matches("bytes=[1-9][0-9]*-[0-9]+")),
                    "a split range was asked for: " + ranges);
        }
    }

    /**
     * Pulls test/1 with --jobs 4 through {@code proxy} throttled to 4 MiB/s per connection, where the
     * first connection mostly waits, so the slots open and split the running layers; checks that
     * more than {@code unsplit} connections were made (if it is not 0), that no byte came twice and that every layer verified.
     */
    private void pullSplitting(FaultyTcpProxy proxy, String url, int unsplit) throws Exception {
        ClientFixtures.Recording log = new ClientFixtures.Recording();
        proxy.setThrottle(4L << 20);
        Puller.Result result = new Puller(log.console).pull(options(url, "test/1").withJobs(4).withSplitBytes(1L << 20));

        for (Digest layer : result.chain()) assertEquals(layer, ClientFixtures.sha256(cache().layer(layer)), "verified " + layer);
        if (unsplit > 0) {
            assertTrue(proxy.connections() >= unsplit + 2, proxy.connections() + " connections; " + unsplit + " without a split\n" + log);
        }
        long received = proxy.bytesToClient();
        assertTrue(received <= chainBytes * 1.05, "a split range's request stops where the new one starts: "
                + received + " bytes for " + chainBytes + "\n" + log);
        for (Digest layer : result.chain()) {
            assertFalse(Files.exists(cache().part(layer)) || Files.exists(cache().partState(layer)), "nothing partial left");
        }
        System.out.printf("throttled split via %s: %d connections, %d bytes received for %d needed (%.3fx)%n",
                url, proxy.connections(), received, chainBytes, received / (double) chainBytes);
        assertTrue(QemuImg.compare(cache().layer(top), publisher.resolve(top.fileName())), "guest content identical");
    }

    /** A server that answers every request with a 307 to the same path at {@code target}, noting each Range header in {@code ranges}. */
    private static com.sun.net.httpserver.HttpServer redirectingTo(String target, List<String> ranges) throws IOException {
        com.sun.net.httpserver.HttpServer front = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 0);
        front.createContext("/", exchange -> {
            String range = exchange.getRequestHeaders().getFirst("Range");
            if (range != null) ranges.add(range);
            exchange.getResponseHeaders().add("Location", target + exchange.getRequestURI().getRawPath());
            exchange.sendResponseHeaders(307, -1);
            exchange.close();
        });
        front.start();
        return front;
    }

    @Test
    void a_pull_from_a_front_that_redirects_every_request_follows_it_and_verifies_every_layer() throws Exception {
        // Answers the plain-socket client cannot take (a redirect) go over the JDK client, with the same checks.
        com.sun.net.httpserver.HttpServer front = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 0);
        java.util.concurrent.atomic.AtomicInteger redirected = new java.util.concurrent.atomic.AtomicInteger();
        front.createContext("/", exchange -> {
            redirected.incrementAndGet();
            exchange.getResponseHeaders().add("Location", registry.url(exchange.getRequestURI().getRawPath()));
            exchange.sendResponseHeaders(307, -1);
            exchange.close();
        });
        front.start();
        try {
            Puller.Result result = new Puller(Console.silent())
                    .pull(options("http://127.0.0.1:" + front.getAddress().getPort(), "test/1").withJobs(2));
            assertEquals(top, result.fingerprint());
            assertEquals(3, result.downloaded());
            assertTrue(redirected.get() >= 4, "the index and each layer were redirected: " + redirected.get());
        } finally {
            front.stop(0);
        }
        for (Digest layer : List.of(base, mid, top)) {
            assertEquals(layer, ClientFixtures.sha256(cache().layer(layer)));
            assertFalse(Files.exists(cache().part(layer)));
        }
    }

    @Test
    void a_pull_with_some_layers_cached_downloads_only_the_others() throws Exception {
        new Puller(Console.silent()).pull(options(registry.url("/"), "test/1"));
        try (FaultyTcpProxy proxy = new FaultyTcpProxy(registry.uri("/"), 1, Faults.NONE)) {
            Puller.Result result = new Puller(Console.silent()).pull(options(proxy.url(), "test/other"));

            assertEquals(List.of(base, mid, other), result.chain());
            assertEquals(1, result.downloaded());
            long index = 64 * 1024; // the index and the response headers
            assertTrue(proxy.bytesToClient() >= size(other) && proxy.bytesToClient() < size(other) + index,
                    proxy.bytesToClient() + " bytes for a missing layer of " + size(other));
        }
        assertTrue(QemuImg.compare(cache().layer(other), publisher.resolve(other.fileName())));
    }

    @Test
    void a_second_pull_asks_for_the_index_with_its_etag_and_downloads_nothing() throws Exception {
        try (FaultyTcpProxy proxy = new FaultyTcpProxy(registry.uri("/"), 1, Faults.NONE)) {
            new Puller(Console.silent()).pull(options(proxy.url(), "test/1"));
            proxy.resetCounters();
            ClientFixtures.Recording log = new ClientFixtures.Recording();

            Puller.Result again = new Puller(log.console).pull(options(proxy.url(), "test/1"));

            assertEquals(0, again.downloaded());
            assertTrue(proxy.bytesToClient() < 1024, "a 304 and nothing else: " + proxy.bytesToClient() + " bytes");
            assertTrue(log.toString().contains("index unchanged"), log.toString());
        }
    }

    @Test
    void a_partial_download_left_by_an_interrupted_pull_is_resumed_not_restarted() throws Exception {
        byte[] layer = Files.readAllBytes(publisher.resolve(base.fileName()));
        int kept = layer.length / 2;
        Files.createDirectories(cache().layers());
        Files.write(cache().part(base), java.util.Arrays.copyOf(layer, kept));
        try (FaultyTcpProxy proxy = new FaultyTcpProxy(registry.uri("/"), 1, Faults.NONE)) {
            new Puller(Console.silent()).pull(options(proxy.url(), "test/1"));

            long expected = chainBytes - kept;
            assertTrue(proxy.bytesToClient() >= expected && proxy.bytesToClient() < expected + 64 * 1024,
                    proxy.bytesToClient() + " bytes, expected about " + expected);
        }
        assertEquals(base, ClientFixtures.sha256(cache().layer(base)));
        assertFalse(Files.exists(cache().part(base)));
    }

    @Test
    void a_pull_that_gave_up_keeps_its_ranges_and_the_next_pull_fetches_only_the_rest() throws Exception {
        // A slow link that goes down for good once a third of the chain has arrived: the first pull fails.
        try (FaultyTcpProxy proxy = new FaultyTcpProxy(registry.uri("/"), 7, Faults.NONE)) {
            proxy.setThrottle(2L << 20);
            ExecutorService background = Executors.newSingleThreadExecutor();
            try {
                Future<Puller.Result> pull = background.submit(() -> new Puller(Console.silent())
                        .pull(options(proxy.url(), "test/1").withJobs(6).withSplitBytes(2L << 20).withMaxAttempts(2)));
                while (proxy.bytesToClient() < chainBytes / 3 && !pull.isDone()) Thread.sleep(20);
                proxy.setFaults(new Faults(0, 0, 1, 0, Direction.DOWNLOAD));
                proxy.cutAll();
                java.util.concurrent.ExecutionException failed = assertThrows(java.util.concurrent.ExecutionException.class, pull::get);
                assertTrue(failed.getCause() instanceof ClientException, String.valueOf(failed.getCause()));
            } finally {
                background.shutdownNow();
            }
        }
        long kept = 0;
        for (Digest layer : List.of(base, mid, top)) {
            assertFalse(Files.exists(cache().layer(layer)));
            kept += PartState.resumable(cache().part(layer), cache().partState(layer), layer, size(layer));
        }
        assertTrue(kept > 0, "the failed pull kept what it had downloaded");
        assertTrue(Files.exists(cache().partState(base)), "the base was fetched as ranges, recorded beside its part");

        try (FaultyTcpProxy proxy = new FaultyTcpProxy(registry.uri("/"), 1, Faults.NONE)) {
            new Puller(Console.silent()).pull(options(proxy.url(), "test/1").withJobs(6).withSplitBytes(2L << 20));

            long rest = chainBytes - kept;
            assertTrue(proxy.bytesToClient() >= rest && proxy.bytesToClient() < rest + 64 * 1024,
                    proxy.bytesToClient() + " bytes, expected about " + rest + " (" + kept + " kept)");
        }
        for (Digest layer : List.of(base, mid, top)) {
            assertEquals(layer, ClientFixtures.sha256(cache().layer(layer)));
            assertFalse(Files.exists(cache().part(layer)) || Files.exists(cache().partState(layer)));
        }
    }

    @Test
    void a_damaged_partial_download_is_deleted_and_fetched_again() throws Exception {
        byte[] layer = Files.readAllBytes(publisher.resolve(mid.fileName()));
        layer[layer.length / 3] ^= 0x01;
        Files.createDirectories(cache().layers());
        Files.write(cache().part(mid), layer);
        ClientFixtures.Recording log = new ClientFixtures.Recording();

        new Puller(log.console).pull(options(registry.url("/"), "test/1"));

        assertEquals(mid, ClientFixtures.sha256(cache().layer(mid)));
        assertTrue(log.toString().contains("layer " + mid.shortHex() + ": the bytes received hash to"), log.toString());
    }

    @Test
    void two_pulls_into_one_cache_at_once_download_each_layer_once() throws Exception {
        try (FaultyTcpProxy proxy = new FaultyTcpProxy(registry.uri("/"), 1, Faults.NONE)) {
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                List<Future<Puller.Result>> pulls = new ArrayList<>();
                for (String ref : List.of("test/1", "test/other")) {
                    Callable<Puller.Result> pull = () -> new Puller(Console.silent()).pull(options(proxy.url(), ref));
                    pulls.add(pool.submit(pull));
                }
                for (Future<Puller.Result> pull : pulls) assertTrue(Files.exists(pull.get().top()));
            } finally {
                pool.shutdownNow();
            }
            long needed = chainBytes + size(other);
            assertTrue(proxy.bytesToClient() < needed + 128 * 1024,
                    "shared layers downloaded once: " + proxy.bytesToClient() + " bytes for " + needed);
        }
        RefStore.State refs = new RefStore(cache(), Console.silent()).read();
        assertEquals(2, refs.images().size());
    }

    @Test
    void not_enough_free_space_fails_before_any_layer_is_downloaded_and_names_both_numbers() throws Exception {
        try (FaultyTcpProxy proxy = new FaultyTcpProxy(registry.uri("/"), 1, Faults.NONE)) {
            ClientException e = assertThrows(ClientException.class, () -> new Puller(Console.silent())
                    .pull(options(proxy.url(), "test/1").withFreeSpace(dir -> 1_000_000)));

            assertTrue(e.getMessage().contains("need " + Human.bytes(chainBytes) + " (" + chainBytes + " bytes)"), e.getMessage());
            assertTrue(e.getMessage().contains("(1000000 bytes) are free"), e.getMessage());
            assertTrue(e.getMessage().contains("--cache DIR"), e.getMessage());
            assertTrue(proxy.bytesToClient() < 64 * 1024, "only the index was fetched: " + proxy.bytesToClient());
        }
        try (Stream<Path> files = Files.list(cache().layers())) {
            assertEquals(0, files.count());
        }
    }

    @Test
    void a_byte_flipped_on_the_registry_is_detected_and_never_kept(@TempDir Path other) throws Exception {
        try (TestRegistry damaged = TestRegistry.start(other.resolve("data"))) {
            ClientFixtures.upload(damaged, publisher, base, mid);
            ClientFixtures.publish(damaged, "test:1:amd64:cloud", "20261122_1000", mid, "test/1");
            Path stored = other.resolve("data/layers").resolve(mid.hex().substring(0, 2)).resolve(mid.fileName());
            try (FileChannel file = FileChannel.open(stored, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                ByteBuffer one = ByteBuffer.allocate(1);
                long where = file.size() / 2;
                file.read(one, where);
                one.put(0, (byte) (one.get(0) ^ 0x40)).rewind();
                file.write(one, where); // the registry maps its files: a channel write is what it will serve
            }
            ClientFixtures.Recording log = new ClientFixtures.Recording();

            ClientException e = assertThrows(ClientException.class, () -> new Puller(log.console)
                    .pull(options(damaged.url("/"), "test/1").withMaxAttempts(3)));

            assertTrue(e.getMessage().contains("layer " + mid.shortHex() + " failed verification 3 times"), e.getMessage());
            assertFalse(Files.exists(cache().layer(mid)), "a layer that failed verification is never kept");
            assertFalse(Files.exists(cache().part(mid)), "nor its bytes");
            assertEquals(base, ClientFixtures.sha256(cache().layer(base)), "the intact layer is kept");
            assertEquals(Optional.empty(), new RefStore(cache(), Console.silent()).read().image(mid.hex()));
        }
    }

    @Test
    void prefer_cached_uses_the_cached_image_with_the_registry_unreachable_and_says_a_newer_one_is_listed() throws Exception {
        Digest v1 = ClientFixtures.layer(publisher, mid, 1, 64, 11);
        Digest v2 = ClientFixtures.layer(publisher, mid, 1, 64, 12);
        ClientFixtures.upload(registry, publisher, v1, v2);
        ClientFixtures.publish(registry, "moving:1:amd64:cloud", "20261101_0000", v1, "moving/1");
        FaultyTcpProxy proxy = new FaultyTcpProxy(registry.uri("/"), 1, Faults.NONE);
        new Puller(Console.silent()).pull(options(proxy.url(), "moving/1"));
        ClientFixtures.publish(registry, "moving:1:amd64:cloud", "20261122_0000", v2);
        new Puller(Console.silent()).pull(options(proxy.url(), "test/1")); // refreshes the cached index, which now lists v2
        proxy.close(); // the registry is unreachable from here on

        ClientException offline = assertThrows(ClientException.class, () -> new Puller(Console.silent())
                .pull(options(proxy.url(), "moving/1").withMaxAttempts(2)));
        assertTrue(offline.getMessage().contains("use --prefer-cached"), offline.getMessage());

        ClientFixtures.Recording log = new ClientFixtures.Recording();
        Puller.Result cached = new Puller(log.console).pull(options(proxy.url(), "moving/1").withPreferCached(true));

        assertTrue(cached.offline());
        assertEquals(cache().layer(v1), cached.top());
        assertTrue(log.toString().contains("without asking the registry (--prefer-cached)"), log.toString());
        assertTrue(log.toString().contains("newer image " + v2.shortHex()), log.toString());
        ClientFixtures.Run cli = ClientFixtures.strata("pull", "moving/1", "--prefer-cached", "--cache", cache().root().toString());
        assertEquals(0, cli.exitCode(), cli.err());
        assertEquals(cache().layer(v1).toString(), cli.lastLine());
    }

    @Test
    void the_pull_command_prints_the_top_layer_last_and_qemu_opens_the_chain_from_it() {
        ClientFixtures.Run run = ClientFixtures.strata("pull", "test/1", "--registry", registry.url("/"),
                "--cache", cache().root().toString(), "--jobs", "2");

        assertEquals(0, run.exitCode(), run.err());
        Path pulled = Path.of(run.lastLine());
        assertEquals(cache().layer(top), pulled);
        String info = QemuImg.runOrFail(List.of("qemu-img", "info", "--backing-chain", "--output=json", pulled.toString()));
        for (Digest layer : List.of(base, mid, top)) assertTrue(info.contains(cache().layer(layer).toString()), info);
        QemuImg.check(pulled);
        assertTrue(QemuImg.compare(pulled, publisher.resolve(top.fileName())));
        assertTrue(run.err().contains("3 missing"), run.err());

        ClientFixtures.Run unknown = ClientFixtures.strata("pull", "test/none", "--registry", registry.url("/"),
                "--cache", cache().root().toString());
        assertEquals(2, unknown.exitCode());
        assertTrue(unknown.err().contains("no image 'test/none'") && unknown.err().contains("test/1"), unknown.err());
    }

    @Test
    void pull_flat_writes_one_standalone_qcow2_of_the_chain_from_the_cache_without_downloading_again() throws Exception {
        ClientFixtures.Run first = ClientFixtures.strata("pull", "test/1", "--registry", registry.url("/"),
                "--cache", cache().root().toString());
        assertEquals(0, first.exitCode(), first.err());
        Path out = work.resolve("out/debian.qcow2");
        ClientFixtures.Run flat = ClientFixtures.strata("pull", "test/1", "--registry", registry.url("/"),
                "--cache", cache().root().toString(), "--flat", out.toString());

        assertEquals(0, flat.exitCode(), flat.err());
        assertEquals(out.toAbsolutePath().toString(), flat.lastLine());
        assertTrue(flat.err().contains("every layer is already in the cache"), "no second download: " + flat.err());
        String info = QemuImg.info(out);
        assertFalse(info.contains("backing-filename"), "standalone: " + info);
        QemuImg.check(out);
        assertTrue(QemuImg.compare(out, publisher.resolve(top.fileName())), "the chain's guest content");
        try (var files = Files.list(out.getParent())) {
            assertEquals(List.of(out), files.toList(), "no temp file beside it");
        }
    }
}
