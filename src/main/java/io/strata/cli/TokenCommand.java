package io.strata.cli;

import io.strata.StrataServer;
import io.strata.audit.AuditLog;
import io.strata.auth.Scope;
import io.strata.auth.Token;
import io.strata.auth.TokenService;
import io.strata.config.ServerConfig;
import io.strata.config.Units;
import io.strata.http.Services;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.Callable;

/**
 * {@code strata token create|list|revoke|expire}: tokens, managed on the data directory. This is
 * the operator's local command: it may make any token (the API's subset rule is for tokens making
 * tokens). Every change is written to the audit log with address {@code local}.
 */
@Command(name = "token", mixinStandardHelpOptions = true,
        description = {"Manage tokens. A token is strata_pat_<random>_<checksum>, printed once; only its sha256 is stored.",
                "Scopes: admin; read; push|publish|delete:<os>:<release>:<arch>:<variant> with * for any segment",
                "(trailing segments default to *: publish:debian = publish:debian:*:*:*)."},
        subcommands = {TokenCommand.Create.class, TokenCommand.ListTokens.class, TokenCommand.Revoke.class, TokenCommand.Expire.class})
final class TokenCommand implements Runnable {
    @Override public void run() { new picocli.CommandLine(this).usage(System.out); }

    @Command(name = "create", mixinStandardHelpOptions = true, sortOptions = false,
            description = {"Create a token and print it as the last line of stdout (it is shown only once).",
                    "Examples:",
                    "  strata token create --scope 'push:*,publish:debian:*' --name ci-debian",
                    "  strata token create --scope read --name mirror --expires 365d",
                    "  strata token create --scope admin --name ops --expires never"})
    static final class Create implements Callable<Integer> {
        @Mixin DataDirOption data;
        @Mixin DbOption db;

        @Option(names = "--scope", required = true, split = ",", paramLabel = "SCOPE",
                description = {"admin, read, or push|publish|delete:<os>:<release>:<arch>:<variant> (segments a name or *);",
                        "repeat or separate with commas. push = push:*, publish = publish:*."})
        List<String> scopes;

        @Option(names = "--name", paramLabel = "NAME", defaultValue = "cli", description = "A label to recognise the token by (default: ${DEFAULT-VALUE}).")
        String name;

        @Option(names = "--expires", paramLabel = "DURATION", defaultValue = "90d",
                description = "Valid for this long: 30d, 12h, at most 365d; 'never' only with --scope admin (default: ${DEFAULT-VALUE}).")
        String expires;

        @Option(names = "--quota", paramLabel = "SIZE",
                description = "Bytes this token may have uploaded that no published image uses yet, e.g. 200G (default: no quota).")
        String quota;

        @Override
        public Integer call() throws Exception {
            List<Scope> parsed = new ArrayList<>();
            try {
                for (String text : scopes) parsed.add(Scope.parse(text));
            } catch (IllegalArgumentException e) {
                System.err.println("strata token create: " + e.getMessage());
                return 2;
            }
            OptionalLong quotaBytes = OptionalLong.empty();
            if (quota != null) {
                try {
                    quotaBytes = OptionalLong.of(Units.parseSize(quota));
                } catch (IllegalArgumentException e) {
                    System.err.println("strata token create: --quota: " + e.getMessage());
                    return 2;
                }
            }
            Services services = StrataServer.openServices(ServerConfig.defaults(data.dataDir).withDb(db.config()));
            TokenService tokens = services.tokens();
            Optional<Instant> expiresAt;
            TokenService.Issued issued;
            try {
                expiresAt = tokens.expiry(expires, parsed);
                issued = tokens.create(name, parsed, expiresAt, quotaBytes);
            } catch (IllegalArgumentException e) {
                System.err.println("strata token create: " + e.getMessage());
                return 2;
            }
            Token token = issued.token();
            local(services, "token.create", "token " + token.id() + " (" + token.name() + ") " + token.scopeText());
            if (expiresAt.isEmpty()) {
                System.err.println("warning: token " + token.id() + " never expires; revoke it when it is no longer needed ('strata token revoke "
                        + token.id() + "')");
            }
            System.err.println("token " + token.id() + " (" + token.name() + ", scopes: " + token.scopeText() + ", expires: "
                    + expiresAt.map(Instant::toString).orElse("never")
                    + (quotaBytes.isPresent() ? ", quota: " + quotaBytes.getAsLong() + " bytes" : "")
                    + ") created; store it now, it is not shown again:");
            System.out.println(issued.secret());
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
            description = "List every token with its scopes, dates, last use and address (never secrets).")
    static final class ListTokens implements Callable<Integer> {
        @Mixin DataDirOption data;
        @Mixin DbOption db;

        @Override
        public Integer call() throws Exception {
            TokenService tokens = StrataServer.openServices(ServerConfig.defaults(data.dataDir).withDb(db.config())).tokens();
            String format = "%-5s %-16s %-36s %-18s %-18s %-34s %s%n";
            System.out.printf(format, "ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "LAST USED", "REVOKED");
            for (Token token : tokens.list()) {
                String lastUsed = token.lastUsedAt().map(at -> minutes(at) + " from " + token.lastUsedFrom().orElse("?")).orElse("never");
                System.out.printf(format, token.id(), token.name(), token.scopeText(), minutes(token.createdAt()),
                        token.expiresAt().map(TokenCommand::minutes).orElse("never"), lastUsed,
                        token.revokedAt().map(TokenCommand::minutes).orElse("-"));
            }
            return 0;
        }
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true,
            description = "Revoke a token by its id (see 'token list'); a running server refuses it within 5 seconds.")
    static final class Revoke implements Callable<Integer> {
        @Mixin DataDirOption data;
        @Mixin DbOption db;

        @Parameters(paramLabel = "ID", description = "The token's id.")
        long id;

        @Override
        public Integer call() throws Exception {
            Services services = StrataServer.openServices(ServerConfig.defaults(data.dataDir).withDb(db.config()));
            if (!services.tokens().revoke(id)) {
                System.err.println("no active token with id " + id + "; see 'strata token list'");
                return 1;
            }
            local(services, "token.revoke", "token " + id);
            System.err.println("token " + id + " revoked");
            return 0;
        }
    }

    @Command(name = "expire", mixinStandardHelpOptions = true,
            description = {"Set when a token expires, counted from now (also for tokens made before expiry existed).",
                    "Example: strata token expire 3 30d"})
    static final class Expire implements Callable<Integer> {
        @Mixin DataDirOption data;
        @Mixin DbOption db;

        @Parameters(index = "0", paramLabel = "ID", description = "The token's id (see 'token list').")
        long id;

        @Parameters(index = "1", paramLabel = "DURATION", description = "From now: 30d, 12h, at most 365d; 'never' only for an admin token.")
        String duration;

        @Override
        public Integer call() throws Exception {
            Services services = StrataServer.openServices(ServerConfig.defaults(data.dataDir).withDb(db.config()));
            TokenService tokens = services.tokens();
            Optional<Token> token = tokens.find(id);
            if (token.isEmpty()) {
                System.err.println("no token with id " + id + "; see 'strata token list'");
                return 1;
            }
            Optional<Instant> at;
            try {
                at = tokens.expiry(duration, token.get().scopes());
            } catch (IllegalArgumentException e) {
                System.err.println("strata token expire: " + e.getMessage());
                return 2;
            }
            tokens.expire(id, at);
            local(services, "token.expire", "token " + id + " at " + at.map(Instant::toString).orElse("never"));
            System.err.println("token " + id + " (" + token.get().name() + ") now expires " + at.map(Instant::toString).orElse("never"));
            return 0;
        }
    }

    private static void local(Services services, String action, String target) {
        services.audit().record(new AuditLog.Event(Optional.empty(), "local", action, target, "ok", 0, null));
    }

    private static String minutes(Instant at) { return at.toString().substring(0, Math.min(16, at.toString().length())) + "Z"; }
}
