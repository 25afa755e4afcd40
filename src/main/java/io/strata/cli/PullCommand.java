package io.strata.cli;

import io.strata.client.Backoff;
import io.strata.client.Console;
import io.strata.client.pull.FreeSpace;
import io.strata.client.pull.Puller;
import io.strata.config.Units;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.util.Optional;
import java.util.concurrent.Callable;

/** {@code strata pull}: an image's chain into the local cache, ready for qemu. */
@Command(name = "pull", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Download an image into the local cache; print the path of its top layer as the last line.",
                "",
                "qemu opens the whole chain from that file: layers keep their registry names (<sha256>.qcow2) side by"
                        + " side in <cache>/layers, so no header is ever rewritten and every file stays verifiable.",
                "",
                "One conditional request for /index.json tells which layers are missing and how many bytes they hold;"
                        + " free space is checked before anything is downloaded. Missing layers download in parallel into"
                        + " <sha256>.qcow2.part; a dropped connection, a stall or a 5xx answer resumes with a range request"
                        + " from the bytes on disk, a partial download left by an interrupted pull is resumed the same way,"
                        + " and every layer's sha256 is verified before it is renamed into place (bytes that fail are"
                        + " deleted and fetched again). The pull is recorded in the cache's reference store (see 'strata"
                        + " cache list').",
                "",
                "Examples:",
                "  java -jar strata.jar pull debian/12 --registry http://localhost:8080",
                "  top=$(java -jar strata.jar pull debian/12 --quiet)   # STRATA_REGISTRY set",
                "  qemu-img create -f qcow2 -b \"$top\" -F qcow2 vm.qcow2",
                "  java -jar strata.jar pull debian/12 --flat debian-12.qcow2   # one standalone file too",
                ""})
final class PullCommand implements Callable<Integer> {
    @Parameters(paramLabel = "IMAGE", description = "An alias (debian/12), a fingerprint, or its first 8 or more hex digits.")
    String ref;

    @Option(names = "--registry", paramLabel = "URL", defaultValue = "${env:STRATA_REGISTRY}",
            description = "The registry, e.g. http://localhost:8080 (env STRATA_REGISTRY). Not needed with --prefer-cached"
                    + " when the image is cached.")
    String registry;

    @Option(names = "--token", paramLabel = "TOKEN", defaultValue = "${env:STRATA_TOKEN}",
            description = "A token for a private registry (serve --private; any scope reads). Prefer the environment variable"
                    + " STRATA_TOKEN, which keeps it out of the process list and shell history. It is never printed.")
    String token;

    @Mixin CacheDirOption cache;

    @Option(names = "--key", paramLabel = "FILE|KEY", defaultValue = "${env:STRATA_REGISTRY_KEY}",
            description = {"The registry's signing key, as its strata.pub file or that file's second line (env STRATA_REGISTRY_KEY).",
                    "The index must be signed with it; it replaces the key pinned for this registry. Without it the",
                    "pinned key is used, and on the first pull from a registry its /strata.pub is pinned (trust on first use)."})
    String key;

    @Option(names = "--jobs", paramLabel = "N", defaultValue = "4",
            description = "Connections at once (default: ${DEFAULT-VALUE}): missing layers download in parallel, and"
                    + " connections to spare fetch large layers (over 128 MiB) as parallel ranges. The pull starts with one"
                    + " connection and opens the others only if it mostly waits for the network (a slow or per-connection"
                    + " limited link); when the disk or CPU is the limit, more connections would only compete for it.")
    int jobs;

    @Option(names = "--max-attempts", paramLabel = "N", defaultValue = "5",
            description = {"Per layer: attempts in a row that bring no new bytes before giving up, and failed sha256"
                    + " verifications (default: ${DEFAULT-VALUE}). An attempt that made progress does not count, so a"
                    + " flaky link does not stop a long download that keeps moving. Waits between attempts grow"
                    + " exponentially. What was downloaded is kept: the same pull later resumes it."})
    int maxAttempts;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "30s",
            description = "Drop and resume a connection that delivers nothing for this long, e.g. 10s, 2m (default: ${DEFAULT-VALUE}).")
    String timeout;

    @Option(names = "--prefer-cached",
            description = "If the cache holds a complete image pulled before for IMAGE, use it without contacting the registry"
                    + " (which need not be reachable), even if the registry has a newer one; stderr says so.")
    boolean preferCached;

    @Option(names = {"-q", "--quiet"}, description = "No progress and no information on stderr; warnings and errors still show.")
    boolean quiet;

    @Option(names = "--flat", paramLabel = "OUT.qcow2",
            description = "Also write the whole chain flattened into one standalone qcow2 (qemu-img convert from the cache,"
                    + " no second download); needs qemu-img. The last line is then OUT's path.")
    java.nio.file.Path flat;

    @Spec CommandSpec spec;

    /** {@code --key}: a file's text, or the key itself when no such file exists. */
    private Optional<String> key() throws java.io.IOException {
        if (key == null || key.isBlank()) return Optional.empty();
        java.nio.file.Path file = java.nio.file.Path.of(key);
        if (java.nio.file.Files.isRegularFile(file)) return Optional.of(java.nio.file.Files.readString(file));
        return Optional.of(key);
    }

    @Override
    public Integer call() throws Exception {
        Puller.Options options = new Puller.Options(cache.layout(), Optional.ofNullable(registry).filter(r -> !r.isBlank()), ref, jobs,
                maxAttempts, preferCached, Backoff.DEFAULT, Units.parseDuration(timeout), FreeSpace.DISK,
                Puller.Options.DEFAULT_SPLIT_BYTES, Optional.ofNullable(token).filter(t -> !t.isBlank()), key());
        Puller.Result result = new Puller(Console.on(spec.commandLine().getErr(), quiet)).pull(options);
        if (flat != null) {
            io.strata.client.pull.FlatCopy.write(result.top(), flat);
            spec.commandLine().getOut().println(flat.toAbsolutePath());
            spec.commandLine().getOut().flush();
            return 0;
        }
        spec.commandLine().getOut().println(result.top());
        spec.commandLine().getOut().flush();
        return 0;
    }
}
