package io.strata.db;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strata.config.ServerConfig;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A data directory written before Flyway (src/test/resources/legacy-data-v3, made by the registry of
 * commit 4e0a40e) upgrades in place: its images, layers and tokens are all still there.
 */
class LegacyUpgradeTest {
    @TempDir Path dir;

    private static final Path FIXTURE = Path.of("src/test/resources/legacy-data-v3");

    @Test
    void a_data_directory_made_before_flyway_keeps_its_images_and_tokens() throws Exception {
        Path data = legacyDataDir();
        try (TestRegistry registry = TestRegistry.start(ServerConfig.defaults(data))) {
            HttpResponse<String> index = registry.send(registry.request("/index.json").build());
            assertEquals(200, index.statusCode());
            JsonNode images = new ObjectMapper().readTree(index.body()).get("images");
            assertEquals(2, images.size(), index.body());

            // The token made by the old registry still authorises a publish-scoped request.
            String oldToken = Files.readString(FIXTURE.resolve("token.txt")).strip();
            HttpResponse<String> denied = registry.send(registry.request("/api/v1/aliases/legacy/x")
                    .header("Authorization", "Bearer not-a-token")
                    .PUT(HttpRequest.BodyPublishers.ofString("{\"product\":\"nope:1:amd64:x\"}")).build());
            assertEquals(401, denied.statusCode());
            HttpResponse<String> allowed = registry.send(registry.request("/api/v1/aliases/legacy/x")
                    .header("Authorization", "Bearer " + oldToken)
                    .PUT(HttpRequest.BodyPublishers.ofString("{\"product\":\"nope:1:amd64:x\"}")).build());
            assertTrue(allowed.statusCode() != 401 && allowed.statusCode() != 403, allowed.body());
            // Its old scopes read as the new wildcards, and it has no expiry until an admin sets one.
            var legacy = registry.server().services().tokens().list().get(0);
            assertEquals("publish:*:*:*:*,push:*:*:*:*", legacy.scopeText());
            assertTrue(legacy.expiresAt().isEmpty());
        }
        // Opening it again runs nothing twice: the history has the baseline once.
        Database again = Database.open(data.resolve("strata.db"));
        List<String> history = again.jdbi().withHandle(h -> h.createQuery(
                "SELECT type || ':' || version FROM flyway_schema_history ORDER BY installed_rank").mapTo(String.class).list());
        assertEquals("BASELINE:3", history.get(0));
        assertEquals(history.size(), history.stream().distinct().count());
    }

    @Test
    void a_new_data_directory_runs_every_migration_from_the_first() throws Exception {
        Database database = Database.open(dir.resolve("strata.db"));
        List<String> versions = database.jdbi().withHandle(h -> h.createQuery(
                "SELECT version FROM flyway_schema_history WHERE success = 1 ORDER BY installed_rank").mapTo(String.class).list());
        assertEquals("1", versions.get(0));
        assertEquals(versions.size(), versions.stream().distinct().count());
    }

    private Path legacyDataDir() throws IOException {
        Path data = dir.resolve("data");
        Files.createDirectories(data);
        Files.copy(FIXTURE.resolve("strata.db"), data.resolve("strata.db"));
        try (Stream<Path> layers = Files.list(Path.of("samples/layers"))) {
            for (Path layer : layers.toList()) {
                String name = layer.getFileName().toString();
                Path target = data.resolve("layers").resolve(name.substring(0, 2)).resolve(name);
                Files.createDirectories(target.getParent());
                Files.copy(layer, target);
            }
        }
        return data;
    }
}
