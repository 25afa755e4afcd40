package io.strata.cli;

import io.strata.StrataServer;
import io.strata.auth.Scope;
import io.strata.auth.Token;
import io.strata.auth.TokenService;
import io.strata.config.ServerConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/** {@code strata token create|list|revoke}: bearer tokens for the publishing API, managed on the data directory. */
@Command(name = "token", mixinStandardHelpOptions = true,
        description = "Manage bearer tokens for the publishing API. Only a hash of each token is stored.",
        subcommands = {TokenCommand.Create.class, TokenCommand.ListTokens.class, TokenCommand.Revoke.class})
final class TokenCommand implements Runnable {
    @Override public void run() { new picocli.CommandLine(this).usage(System.out); }

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = {"Create a token and print it as the last line (it is shown only once).",
                    "Scopes: push (upload layers), publish (images and aliases), admin (everything)."})
    static final class Create implements Callable<Integer> {
        @Mixin DataDirOption data;
        @Mixin DbOption db;

        @Option(names = "--scope", required = true, split = ",", paramLabel = "SCOPE",
                description = "push, publish or admin; repeat or separate with commas.")
        List<String> scopes;

        @Option(names = "--name", paramLabel = "NAME", defaultValue = "cli", description = "A label to recognise the token by (default: ${DEFAULT-VALUE}).")
        String name;

        @Override
        public Integer call() throws Exception {
            Set<Scope> parsed = EnumSet.noneOf(Scope.class);
            for (String text : scopes) {
                parsed.add(Scope.parse(text.strip()).orElseThrow(() ->
                        new IllegalArgumentException("unknown scope '" + text + "': use push, publish or admin")));
            }
            TokenService tokens = StrataServer.openServices(ServerConfig.defaults(data.dataDir).withDb(db.config())).tokens();
            TokenService.Issued issued = tokens.create(name, parsed);
            System.err.println("token " + issued.token().id() + " (" + name + ", scopes: "
                    + parsed.stream().map(Scope::id).collect(Collectors.joining(",")) + ") created; store it now, it is not shown again:");
            System.out.println(issued.secret());
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List active tokens (never their secrets).")
    static final class ListTokens implements Callable<Integer> {
        @Mixin DataDirOption data;
        @Mixin DbOption db;

        @Override
        public Integer call() throws Exception {
            TokenService tokens = StrataServer.openServices(ServerConfig.defaults(data.dataDir).withDb(db.config())).tokens();
            System.out.printf("%-6s %-20s %-22s %s%n", "ID", "NAME", "SCOPES", "CREATED");
            for (Token token : tokens.list()) {
                System.out.printf("%-6d %-20s %-22s %s%n", token.id(), token.name(),
                        token.scopes().stream().map(Scope::id).collect(Collectors.joining(",")), token.createdAt());
            }
            return 0;
        }
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true, description = "Revoke a token by its id (see 'token list').")
    static final class Revoke implements Callable<Integer> {
        @Mixin DataDirOption data;
        @Mixin DbOption db;

        @Parameters(paramLabel = "ID", description = "The token's id.")
        long id;

        @Override
        public Integer call() throws Exception {
            TokenService tokens = StrataServer.openServices(ServerConfig.defaults(data.dataDir).withDb(db.config())).tokens();
            if (!tokens.revoke(id)) {
                System.err.println("no active token with id " + id + "; see 'strata token list'");
                return 1;
            }
            System.err.println("token " + id + " revoked");
            return 0;
        }
    }
}
