package io.strata.bench;

import io.strata.catalog.CatalogService;
import io.strata.db.Database;
import io.strata.index.IndexRenderer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * How long the index documents take to render for a large catalog: 10,000 images over 50,000
 * layers, chains up to depth 8 sharing bases. A benchmark, not a test: run it with
 * {@code bench/index-render.sh}. Rows are inserted straight into a real SQLite file (layer bytes
 * do not matter to rendering); rendering goes through the real snapshot + renderer.
 */
public final class IndexBenchmark {
    public static void main(String[] args) throws Exception {
        int images = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        int layerCount = args.length > 1 ? Integer.parseInt(args[1]) : 50_000;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 15;
        Path dir = Files.createTempDirectory("strata-index-bench");
        Database database = Database.open(dir.resolve("strata.db"));
        Random random = new Random(42);
        String[] layers = new String[layerCount];
        int[] depth = new int[layerCount];
        String[] parents = new String[layerCount];
        long start = System.nanoTime();
        database.jdbi().useTransaction(handle -> {
            var insertLayer = handle.prepareBatch("INSERT INTO layers (digest, size, virtual_size, parent, qcow2_version, created_at) "
                    + "VALUES (?, ?, ?, ?, 3, '2026-11-22T10:00:00Z')");
            // 500 bases; every other layer is a child of an earlier one with depth < 8, so chains share bases.
            for (int i = 0; i < layerCount; i++) {
                layers[i] = hex(random);
                if (i >= 500) {
                    int parent;
                    do { parent = random.nextInt(i); } while (depth[parent] >= 7);
                    parents[i] = layers[parent];
                    depth[i] = depth[parent] + 1;
                }
                insertLayer.add(layers[i], 1_000_000L + random.nextInt(500_000_000), 10_737_418_240L, parents[i]);
            }
            insertLayer.execute();
        });
        java.util.Map<String, Integer> indexOf = new java.util.HashMap<>();
        for (int i = 0; i < layerCount; i++) indexOf.put(layers[i], i);
        String[] arches = {"amd64", "arm64", "riscv64", "s390x"};
        database.jdbi().useTransaction(handle -> {
            var insertImage = handle.prepareBatch("INSERT INTO images (fingerprint, product, os, release, arch, variant, version, "
                    + "release_title, description, properties, chain, download_size, virtual_size, created_at) "
                    + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '2026-11-22T10:00:00Z')");
            var insertAlias = handle.prepareBatch("INSERT OR IGNORE INTO aliases (name, product, updated_at) VALUES (?, ?, '2026-11-22T10:00:00Z')");
            // The top layers are the last 10,000 layers: distinct fingerprints, varied depth.
            for (int n = 0; n < images; n++) {
                int top = layerCount - images + n;
                List<String> chain = new ArrayList<>();
                for (String d = layers[top]; d != null; d = parents[indexOf.get(d)]) chain.add(0, d);
                String os = "os" + (n % 50), release = Integer.toString(n % 20), arch = arches[n % 4], variant = "v" + (n % 5);
                String product = os + ":" + release + ":" + arch + ":" + variant;
                String version = String.format("2026%02d%02d_%02d%02d", 1 + n / 2500 % 12, 1 + n % 28, n % 24, n % 60);
                insertImage.add(layers[top], product, os, release, arch, variant, version, os + " " + release,
                        "Synthetic image " + n + " for the index benchmark.", "{\"n\":\"" + n + "\"}", String.join(" ", chain),
                        chain.size() * 250_000_000L, 10_737_418_240L);
                insertAlias.add(os + "/" + release + "/" + variant + "/" + arch, product);
            }
            insertImage.execute();
            insertAlias.execute();
        });
        System.out.printf("seeded %d images over %d layers in %d ms (%s)%n", images, layerCount, (System.nanoTime() - start) / 1_000_000, dir);

        // Loading the catalog into memory happens once, at server start.
        long l0 = System.nanoTime();
        CatalogService catalog = new CatalogService(database, Clock.systemUTC());
        System.out.printf("catalog loaded into memory at startup in %d ms%n", (System.nanoTime() - l0) / 1_000_000);

        // What a catalog change costs: a new snapshot (as a publish builds it) and /index.json rendered from it.
        long[] change = new long[rounds], render = new long[rounds], other = new long[rounds], gzip = new long[rounds];
        byte[] index = null, products = null, gzipped = null;
        for (int r = 0; r < rounds; r++) {
            long t0 = System.nanoTime();
            catalog.changed();
            long t1 = System.nanoTime();
            CatalogService.Snapshot s = catalog.snapshot();
            index = IndexRenderer.strataIndex(s);
            long t2 = System.nanoTime();
            products = IndexRenderer.streamsImages(s);
            IndexRenderer.streamsIndex(s);
            long t3 = System.nanoTime();
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            try (java.util.zip.GZIPOutputStream gz = new java.util.zip.GZIPOutputStream(out, 1 << 16)) { gz.write(index); }
            gzipped = out.toByteArray();
            long t4 = System.nanoTime();
            change[r] = t1 - t0;
            render[r] = t2 - t1;
            other[r] = t3 - t2;
            gzip[r] = t4 - t3;
        }
        System.out.printf("rounds=%d (first %d are JIT warm-up, excluded)%n", rounds, Math.min(5, rounds - 1));
        System.out.printf("median ms: render /index.json %.1f (min %.1f, max %.1f); simplestreams documents %.1f; gzip of /index.json (once, on first gzip request) %.1f%n",
                median(render, rounds), min(render, rounds), max(render, rounds), median(other, rounds), median(gzip, rounds));
        System.out.printf("median ms: full reload from SQLite (startup, or after recovery/gc) %.1f%n", median(change, rounds));
        System.out.printf("/index.json: %d bytes raw, %d gzipped; /streams/v1/images.json: %d bytes raw%n", index.length, gzipped.length, products.length);
        // A real publish (SQLite transaction with fsync, alias bookkeeping, snapshot rebuild) then the render it triggers.
        int publishes = 10;
        long[] publish = new long[publishes], publishRender = new long[publishes];
        for (int n = 0; n < publishes; n++) {
            long t0 = System.nanoTime();
            catalog.publish(new io.strata.catalog.PublishRequest("bench", "1", "amd64", "v", String.format("20261122_10%02d", n),
                    layers[1000 + n], java.util.List.of("bench/latest"), null, null, java.util.Map.of()));
            long t1 = System.nanoTime();
            IndexRenderer.strataIndex(catalog.snapshot());
            long t2 = System.nanoTime();
            publish[n] = t1 - t0;
            publishRender[n] = t2 - t1;
        }
        System.out.printf("median ms over %d publishes into the 10,000-image catalog: publish %.1f, then render /index.json %.1f%n",
                publishes, median(publish, publishes), median(publishRender, publishes));
        System.out.printf("jvm: %s, max heap %d MiB, %d cpus%n", System.getProperty("java.vm.version"),
                Runtime.getRuntime().maxMemory() >> 20, Runtime.getRuntime().availableProcessors());
    }
    private static long[] measured(long[] values, int rounds) {
        int skip = Math.min(5, rounds - 1);
        long[] out = Arrays.copyOfRange(values, skip, rounds);
        Arrays.sort(out);
        return out;
    }

    private static double median(long[] values, int rounds) { long[] m = measured(values, rounds); return m[m.length / 2] / 1e6; }

    private static double min(long[] values, int rounds) { return measured(values, rounds)[0] / 1e6; }

    private static double max(long[] values, int rounds) { long[] m = measured(values, rounds); return m[m.length - 1] / 1e6; }

    private static String hex(Random random) {
        byte[] bytes = new byte[32];
        random.nextBytes(bytes);
        return java.util.HexFormat.of().formatHex(bytes);
    }
}
