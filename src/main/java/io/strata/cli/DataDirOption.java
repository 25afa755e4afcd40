package io.strata.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/** {@code --data}, shared by every command that works on a registry's data directory. */
final class DataDirOption {
    @Option(names = "--data", paramLabel = "DIR", defaultValue = "${env:STRATA_DATA:-./data}",
            description = "Data directory with strata.db and layers/ (env STRATA_DATA; default: ${DEFAULT-VALUE}).")
    Path dataDir;
}
