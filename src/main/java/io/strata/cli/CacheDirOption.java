package io.strata.cli;

import io.strata.client.cache.CacheLayout;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code --cache}, shared by pull and the cache commands. */
final class CacheDirOption {
    @Option(names = "--cache", paramLabel = "DIR", defaultValue = "${env:STRATA_CACHE:-${sys:user.home}/.cache/strata}",
            description = "Client cache: downloaded layers, partial downloads, the reference store"
                    + " (env STRATA_CACHE; default: ${DEFAULT-VALUE}).")
    Path dir;

    CacheLayout layout() { return new CacheLayout(dir); }
}
