package io.strata.cli;

import io.strata.client.cache.CacheInventory;
import io.strata.client.cache.CachedImage;
import io.strata.client.Console;
import io.strata.client.Human;
import io.strata.config.Units;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;

/** {@code strata cache list|prune}: the client cache that pull fills. */
@Command(name = "cache", mixinStandardHelpOptions = true,
        description = "Show or prune the client cache that 'strata pull' fills.",
        subcommands = {CacheCommand.ListCache.class, CacheCommand.Prune.class})
final class CacheCommand implements Runnable {
    private static final DateTimeFormatter WHEN = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm").withZone(ZoneOffset.UTC);

    @Spec CommandSpec spec;

    @Override public void run() { spec.commandLine().usage(spec.commandLine().getOut()); }

    @Command(name = "list", mixinStandardHelpOptions = true,
            description = {"List the cached images (newest use first) and what the layer files add up to.",
                    "Entries whose layers went missing are dropped first, with a message."})
    static final class ListCache implements Callable<Integer> {
        @Mixin CacheDirOption cache;

        @Spec CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            CacheInventory.Listing listing = new CacheInventory(cache.layout(), Console.on(spec.commandLine().getErr(), false)).list();
            List<CachedImage> images = listing.images().stream()
                    .sorted((a, b) -> b.lastUsedAt().compareTo(a.lastUsedAt())).toList();
            out.printf("%-12s  %-28s  %-13s  %-20s  %6s  %9s  %-16s  %s%n", "FINGERPRINT", "PRODUCT", "VERSION", "ALIASES", "LAYERS",
                    "SIZE", "LAST USED (UTC)", "REGISTRY");
            for (CachedImage image : images) {
                out.printf("%-12s  %-28s  %-13s  %-20s  %6d  %9s  %-16s  %s%n", image.fingerprint().substring(0, 12), image.product(),
                        image.version(), image.aliases().isEmpty() ? "-" : String.join(",", image.aliases()), image.chain().size(),
                        Human.bytes(image.downloadSize()), WHEN.format(image.lastUsedAt()), image.registry());
            }
            Set<String> needed = new HashSet<>();
            images.forEach(image -> needed.addAll(image.chain()));
            long layers = listing.files().stream().filter(f -> !f.partial()).count();
            long partial = listing.files().stream().filter(CacheInventory.CachedFile::partial).count();
            long partialBytes = listing.files().stream().filter(CacheInventory.CachedFile::partial).mapToLong(CacheInventory.CachedFile::size).sum();
            long unused = listing.files().stream().filter(f -> !f.partial() && !needed.contains(f.digest().hex())).count();
            long sum = images.stream().mapToLong(CachedImage::downloadSize).sum();
            long layerBytes = listing.totalBytes() - partialBytes;
            out.printf("%d image%s; %d layer file%s, %s on disk%s; %d partial download%s (%s); %d layer%s no cached image needs%n",
                    images.size(), images.size() == 1 ? "" : "s", layers, layers == 1 ? "" : "s", Human.bytes(layerBytes),
                    sum > layerBytes ? " (shared layers save " + Human.bytes(sum - layerBytes) + ")" : "",
                    partial, partial == 1 ? "" : "s", Human.bytes(partialBytes), unused, unused == 1 ? "" : "s");
            out.println("cache: " + cache.layout().root());
            out.flush();
            return 0;
        }
    }

    @Command(name = "prune", mixinStandardHelpOptions = true,
            description = {"Evict from the cache, least recently used first. Never removes a layer a kept image needs,"
                    + " a layer that backs another layer staying in the cache, or a layer a running pull holds.",
                    "Without options: remove layers no cached image needs (partial downloads are kept for resuming)."})
    static final class Prune implements Callable<Integer> {
        @Mixin CacheDirOption cache;

        @Option(names = "--max-size", paramLabel = "SIZE",
                description = "Shrink the cache to at most SIZE (e.g. 20G), dropping the least recently used images and"
                        + " their layers (and partial downloads) until it fits.")
        String maxSize;

        @Option(names = "--max-age", paramLabel = "DURATION",
                description = "Drop images not used for DURATION (e.g. 30d, 12h) with the layers only they need, and partial"
                        + " downloads untouched for as long.")
        String maxAge;

        @Option(names = {"-q", "--quiet"}, description = "Print only the summary line.")
        boolean quiet;

        @Spec CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            CacheInventory.Pruned pruned = new CacheInventory(cache.layout(), Console.on(spec.commandLine().getErr(), quiet)).prune(
                    Optional.ofNullable(maxSize).map(Units::parseSize), Optional.ofNullable(maxAge).map(Units::parseDuration),
                    Instant.now().truncatedTo(ChronoUnit.MILLIS));
            if (!quiet) {
                for (CachedImage image : pruned.droppedImages()) {
                    out.println("dropped image " + image.fingerprint().substring(0, 12) + "  " + image.product() + " " + image.version()
                            + (image.aliases().isEmpty() ? "" : "  (" + String.join(", ", image.aliases()) + ")"));
                }
                for (CacheInventory.CachedFile file : pruned.removed()) {
                    out.println("removed " + file.path().getFileName() + "  " + Human.bytes(file.size()));
                }
            }
            out.println("pruned " + pruned.removed().size() + " file" + (pruned.removed().size() == 1 ? "" : "s") + " ("
                    + Human.bytes(pruned.removedBytes()) + ") and " + pruned.droppedImages().size() + " image"
                    + (pruned.droppedImages().size() == 1 ? "" : "s") + "; the cache now holds " + Human.bytes(pruned.bytesAfter())
                    + (pruned.keptLocked().isEmpty() ? "" : "; kept " + pruned.keptLocked().size() + " in use by a running pull"));
            out.flush();
            return 0;
        }
    }
}
