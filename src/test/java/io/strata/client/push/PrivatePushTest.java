package io.strata.client.push;

import io.strata.client.ClientFixtures;
import io.strata.config.AccessConfig;
import io.strata.config.ServerConfig;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code strata push} and {@code strata pull} with a {@code serve --private} registry: their reads carry the token too. */
class PrivatePushTest {
    @TempDir Path dir;

    @Test
    void push_to_a_private_registry_works_with_a_publisher_token() throws Exception {
        QemuImg.assumeAvailable();
        try (TestRegistry registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data"))
                .withAccess(AccessConfig.defaults().withPrivateMode(true)))) {
            Path publisher = Files.createDirectories(dir.resolve("publisher"));
            Path base = ClientFixtures.localLayer(publisher.resolve("base.qcow2"), null, 1, 0, 7);
            Path top = ClientFixtures.localLayer(publisher.resolve("top.qcow2"), Path.of("base.qcow2"), 1, 64, 8);
            String token = registry.token("push:*", "publish:private");

            ClientFixtures.Run push = ClientFixtures.strata("push", top.toString(), "--registry", registry.url("/"), "--token", token,
                    "--product", "private:1:amd64:cloud", "--version", "20261201_1000", "--alias", "private/1", "-q");

            assertEquals(0, push.exitCode(), push.err());
            assertTrue(registry.send(registry.authed("/index.json", token).build()).body().contains("private:1:amd64:cloud"));
            assertEquals(2, registry.layerFiles().size());

            Path cache = dir.resolve("cache");
            ClientFixtures.Run anonymous = ClientFixtures.strata("pull", "private/1", "--registry", registry.url("/"),
                    "--cache", cache.toString(), "-q");
            assertTrue(anonymous.exitCode() != 0, "a private registry refuses a pull without a token");
            String reader = registry.token("read");
            ClientFixtures.Run pull = ClientFixtures.strata("pull", "private/1", "--registry", registry.url("/"),
                    "--cache", cache.toString(), "--token", reader, "-q");
            assertEquals(0, pull.exitCode(), pull.err());
            assertTrue(Files.isRegularFile(Path.of(pull.lastLine())), pull.out());
            assertTrue(!pull.out().contains(reader) && !pull.err().contains(reader), "the token is never printed");
        }
    }
}
