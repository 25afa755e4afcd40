package io.strata.upload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.strata.config.ServerConfig;
import io.strata.layer.Digest;
import io.strata.testing.HostileCorpus;
import io.strata.testing.HostileCorpus.HostileFile;
import io.strata.testing.TestRegistry;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every file of the committed hostile corpus, uploaded through HTTP to a real registry: each is
 * refused with 400 QCOW2_INVALID naming its check, and nothing of it is stored. Needs no qemu:
 * the files are committed.
 */
class HostileCorpusUploadTest {
    @TempDir static Path dir;
    private static TestRegistry registry;
    private static TestRegistry encryptionRegistry;

    @BeforeAll
    static void start() throws IOException {
        registry = TestRegistry.start(dir.resolve("data"));
        encryptionRegistry = TestRegistry.start(ServerConfig.defaults(dir.resolve("encrypted")).withAllowEncryption(true));
    }

    @AfterAll
    static void stop() {
        if (registry != null) registry.close();
        if (encryptionRegistry != null) encryptionRegistry.close();
    }

    static List<HostileFile> files() { return HostileCorpus.files(); }

    @ParameterizedTest(name = "[{index}] refuses {0}")
    @MethodSource("files")
    void refuses_each_hostile_file_naming_its_check_and_stores_nothing(HostileFile hostile) throws IOException {
        TestRegistry target = hostile.allowEncryption() ? encryptionRegistry : registry;
        List<Path> before = target.layerFiles();

        HttpResponse<String> response = target.putLayer(hostile.bytes());

        assertEquals(400, response.statusCode(), response.body());
        assertTrue(response.body().contains("\"code\":\"QCOW2_INVALID\""), response.body());
        assertTrue(response.body().contains("\"check\":\"" + hostile.expected().id() + "\""), response.body());
        Digest digest = TestRegistry.sha256(hostile.bytes());
        assertEquals(before, target.layerFiles(), "no new layer file");
        assertEquals(List.of(), target.uploadFiles(), "no temp file left");
        assertEquals(404, target.send(target.request("/layers/" + digest.fileName()).build()).statusCode(), "not served");
        assertTrue(target.server().services().layers().find(digest).isEmpty(), "no row");
    }
}
