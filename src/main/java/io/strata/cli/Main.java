package io.strata.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The one jar's entry point: {@code java -jar strata.jar <command>}. */
@Command(name = "strata", mixinStandardHelpOptions = true, version = "strata 0.1.0",
        description = "A registry for layered qcow2 disk images.",
        subcommands = {CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    public static void main(String[] args) {
        System.exit(new CommandLine(new Main()).execute(args));
    }

    @Override public void run() { new CommandLine(this).usage(System.out); }
}
