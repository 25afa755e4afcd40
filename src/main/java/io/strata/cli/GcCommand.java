package io.strata.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.client.Human;
import io.strata.config.Units;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Callable;

/** {@code strata gc}: asks a running registry to remove layers nothing needs. */
@Command(name = "gc", mixinStandardHelpOptions = true,
        description = {"Remove layers that no image's chain, no upload in flight and no open upload session needs, "
                + "and that are older than --min-age (a push uploads layers before it publishes them). "
                + "Runs inside the server, so it never races a push. Needs an admin token (--token or STRATA_TOKEN)."})
final class GcCommand implements Callable<Integer> {
    @Option(names = "--registry", required = true, paramLabel = "URL", defaultValue = "${env:STRATA_REGISTRY}",
            description = "The registry, e.g. http://127.0.0.1:8080 (env STRATA_REGISTRY).")
    String registry;

    @Option(names = "--token", paramLabel = "TOKEN", defaultValue = "${env:STRATA_TOKEN}",
            description = "An admin token (env STRATA_TOKEN, which keeps it off the command line).")
    String token;

    @Option(names = "--min-age", paramLabel = "DURATION", defaultValue = "1h",
            description = "Keep layers younger than this, e.g. 30m, 1h, 7d (default: ${DEFAULT-VALUE}).")
    String minAge;

    @Option(names = "--dry-run", description = "Report what would be removed; remove nothing.")
    boolean dryRun;

    @Override
    public Integer call() throws Exception {
        if (token == null || token.isBlank()) throw new IllegalArgumentException("gc needs an admin token: set STRATA_TOKEN or pass --token");
        Duration age = Units.parseDuration(minAge);
        String base = registry.endsWith("/") ? registry.substring(0, registry.length() - 1) : registry;
        URI uri = URI.create(base + "/api/v1/gc?dry_run=" + dryRun + "&min_age=" + URLEncoder.encode(age.toSeconds() + "s", StandardCharsets.UTF_8));
        HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(uri)
                .header("Authorization", "Bearer " + token).POST(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
        JsonNode body = new ObjectMapper().readTree(response.body());
        if (response.statusCode() != 200) {
            System.err.println("strata gc: " + response.statusCode() + " " + body.at("/errors/0/message").asText(response.body()));
            return 1;
        }
        if (!body.get("deferred").isNull()) {
            System.err.println("nothing removed: " + body.get("deferred").asText());
            return 0;
        }
        for (JsonNode digest : body.get("removed")) System.out.println((dryRun ? "would remove " : "removed ") + digest.asText());
        JsonNode lxd = body.path("removed_lxd");
        for (JsonNode digest : lxd) System.out.println((dryRun ? "would remove LXD item " : "removed LXD item ") + digest.asText());
        String items = lxd.size() > 0 ? " and " + lxd.size() + " LXD item file(s)" : "";
        System.err.printf("%s %d layer(s)%s, %s; kept %d%n", dryRun ? "would remove" : "removed", body.get("removed").size(),
                items, Human.bytes(body.get("bytes_freed").asLong()), body.get("kept").asInt());
        return 0;
    }
}
