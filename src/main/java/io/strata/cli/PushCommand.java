package io.strata.cli;

import io.strata.client.Backoff;
import io.strata.client.Console;
import io.strata.client.push.Pusher;
import io.strata.config.Units;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * {@code strata push}: a local qcow2 chain to the registry, published as an image. No standard
 * {@code --version} option here: {@code --version} is the image's version serial.
 */
@Command(name = "push", sortOptions = false,
        description = {"Upload a local qcow2 chain and publish it as an image; print its fingerprint as the last line.",
                "",
                "The chain is followed from TOP as qemu follows it (relative backing names from each file's directory,"
                        + " absolute paths as they are). Each layer is uploaded with its header canonicalised in the upload"
                        + " stream: the backing name becomes <parent-sha256>.qcow2 with backing format qcow2, exactly what"
                        + " 'qemu-img rebase -u -F qcow2 -b <parent-sha256>.qcow2' would write, in the first cluster only."
                        + " Your files are only read, never changed.",
                "",
                "Layers the registry already has are skipped; the others are uploaded base first in chunks, resuming"
                        + " from the registry's offset after a failure. Pushing the same chain again uploads nothing.",
                "",
                "Example:",
                "  export STRATA_TOKEN=...   # strata token create --scope push,publish",
                "  java -jar strata.jar push top.qcow2 --registry http://localhost:8080 \\",
                "      --product debian:12:amd64:cloud --version 20261122_1000 --alias debian/12",
                ""})
final class PushCommand implements Callable<Integer> {
    @Parameters(paramLabel = "TOP", description = "The top qcow2 file of the chain (its backing files are found from it).")
    Path top;

    @Option(names = "--registry", paramLabel = "URL", required = true, defaultValue = "${env:STRATA_REGISTRY}",
            description = "The registry, e.g. http://localhost:8080 (env STRATA_REGISTRY).")
    String registry;

    @Option(names = "--token", paramLabel = "TOKEN", defaultValue = "${env:STRATA_TOKEN}",
            description = "Bearer token with scopes push and publish. Prefer the environment variable STRATA_TOKEN, which"
                    + " keeps it out of the process list and shell history. It is never printed.")
    String token;

    @Option(names = "--product", paramLabel = "OS:RELEASE:ARCH:VARIANT", required = true,
            description = "The product, e.g. debian:12:amd64:cloud.")
    String product;

    @Option(names = "--version", paramLabel = "SERIAL", required = true,
            description = "The version serial, YYYYMMDD_HHMM, e.g. 20261122_1000.")
    String version;

    @Option(names = "--alias", paramLabel = "ALIAS", description = "An alias to point at the product (repeatable), e.g. debian/12.")
    List<String> aliases = new ArrayList<>();

    @Option(names = "--title", paramLabel = "TEXT", description = "Release title (default on the registry: 'OS RELEASE').")
    String title;

    @Option(names = "--description", paramLabel = "TEXT", description = "A description of the image.")
    String description;

    @Option(names = "--chunk-size", paramLabel = "SIZE", defaultValue = "64M",
            description = "Bytes per upload request; a dropped connection costs at most one chunk (default: ${DEFAULT-VALUE}).")
    String chunkSize;

    @Option(names = "--max-attempts", paramLabel = "N", defaultValue = "5",
            description = "Per layer: attempts in a row that move the upload no further before giving up (default: ${DEFAULT-VALUE}).")
    int maxAttempts;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "30s",
            description = "Drop and retry a request when nothing moves for this long, e.g. 10s, 2m (default: ${DEFAULT-VALUE}).")
    String timeout;

    @Option(names = {"-q", "--quiet"}, description = "No progress and no information on stderr; warnings and errors still show.")
    boolean quiet;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    boolean help;

    @Spec CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Pusher.Options options = new Pusher.Options(top, registry, token, product, version, aliases, Optional.ofNullable(title),
                Optional.ofNullable(description), maxAttempts, Backoff.DEFAULT, Units.parseDuration(timeout),
                Units.parseSize(chunkSize));
        Pusher.Result result = new Pusher(Console.on(spec.commandLine().getErr(), quiet)).push(options);
        spec.commandLine().getOut().println(result.fingerprint());
        spec.commandLine().getOut().flush();
        return 0;
    }
}
