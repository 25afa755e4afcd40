package io.strata.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The one jar's entry point: {@code java -jar strata.jar <command>}. */
@Command(name = "strata", mixinStandardHelpOptions = true, version = "strata 0.1.0",
        description = "A registry for layered qcow2 disk images.",
        subcommands = {ServeCommand.class, TokenCommand.class, PushCommand.class, PullCommand.class, CacheCommand.class,
                VerifyCommand.class, GcCommand.class, MigrateCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The command line with its error handling, for {@link #main} and for tests that run commands in-process. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Main());
        // Show a user's mistake as one line that says what to do, not a stack trace.
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (e instanceof IllegalArgumentException || e instanceof java.io.IOException) {
                commandLine.getErr().println("strata: " + e.getMessage());
                return 2;
            }
            throw e;
        });
        return cli;
    }

    @Override public void run() { new CommandLine(this).usage(System.out); }
}
