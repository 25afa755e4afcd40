package io.strata.metrics;

import io.strata.config.AccessConfig;
import io.strata.config.ServerConfig;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.DoubleSupplier;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** {@code GET /metrics} (DESIGN §12): Prometheus text, every request counted by route template, the registry's gauges. */
class MetricsTest {
    private static final String REQUESTS = "strata_http_requests_total";

    @TempDir Path dir;
    TestRegistry registry;

    @AfterEach
    void stop() {
        if (registry != null) registry.close();
    }

    private TestRegistry start(ServerConfig config) throws IOException {
        registry = TestRegistry.start(config);
        return registry;
    }

    private TestRegistry start() throws IOException { return start(ServerConfig.defaults(dir.resolve("data"))); }

    private Scrape scrape() {
        HttpResponse<String> response = registry.send(registry.request("/metrics").build());
        assertEquals(200, response.statusCode(), response.body());
        return Scrape.parse(response.body());
    }

    /**
     * Jetty counts a request once its response is complete, which can be a moment after the client
     * has read it: waits until the value reaches {@code expected}, then checks it went no further.
     */
    private void assertReaches(double expected, DoubleSupplier value, String what) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        double seen = value.getAsDouble();
        while (seen < expected && System.nanoTime() < deadline) {
            Thread.sleep(10);
            seen = value.getAsDouble();
        }
        assertEquals(expected, seen, what);
        Thread.sleep(50);
        assertEquals(expected, value.getAsDouble(), what + " (a moment later)");
    }

    @Test
    void metrics_answers_in_the_prometheus_text_format_with_the_registry_and_jvm_meters() throws Exception {
        start();
        assertEquals(200, registry.send(registry.request("/healthz").build()).statusCode());
        assertReaches(1, () -> scrape().value(REQUESTS, "method", "GET", "route", "/healthz", "status", "200"), "GET /healthz");
        HttpResponse<String> response = registry.send(registry.request("/metrics").build());
        assertEquals(200, response.statusCode());
        assertEquals("text/plain; version=0.0.4; charset=utf-8", response.headers().firstValue("Content-Type").orElse(""));
        Scrape scrape = Scrape.parse(response.body());
        for (String name : List.of("strata_layers_stored", "strata_layers_stored_bytes", "strata_images", "strata_catalog_generation",
                "strata_uploads_open", "jvm_memory_used_bytes", "jvm_gc_memory_allocated_bytes_total", "jvm_threads_live_threads",
                "process_cpu_usage", "process_cpu_seconds_total", "process_uptime_seconds", "process_files_open_files")) {
            assertFalse(scrape.named(name).isEmpty(), name + " missing from:\n" + response.body());
        }
        assertTrue(response.body().contains("# TYPE strata_http_request_duration_seconds histogram"), response.body());
        assertEquals(200, registry.send(registry.request("/metrics").method("HEAD", HttpRequest.BodyPublishers.noBody()).build()).statusCode());
    }

    @Test
    void a_head_of_a_layer_raises_its_series_by_exactly_one_and_a_get_counts_the_bytes_sent() throws Exception {
        start();
        LayerFactory layers = new LayerFactory(dir);
        Digest layer = layers.base();
        layers.uploadTo(registry, layer);
        String[] head = {"method", "HEAD", "route", "/layers/{file}", "status", "200"};
        double before = scrape().value(REQUESTS, head);

        HttpResponse<String> answer = registry.send(registry.request("/layers/" + layer.fileName())
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(200, answer.statusCode());
        assertReaches(before + 1, () -> scrape().value(REQUESTS, head), "HEAD /layers/{file} 200");

        assertEquals(200, registry.sendBytes(registry.request("/layers/" + layer.fileName()).build()).statusCode());
        String[] get = {"method", "GET", "route", "/layers/{file}", "status", "200"};
        assertReaches(layers.size(layer), () -> scrape().value("strata_http_response_bytes_total", get), "bytes sent by GET");
        assertEquals(1, scrape().value("strata_http_request_duration_seconds_count", get));
    }

    @Test
    void an_upload_raises_the_request_bytes_by_its_size_and_the_layer_gauges() throws Exception {
        start();
        LayerFactory layers = new LayerFactory(dir);
        Digest layer = layers.base();
        assertEquals(0, scrape().value("strata_layers_stored"));
        assertEquals(201, registry.putLayer(layers.bytes(layer)).statusCode());

        String[] put = {"method", "PUT", "route", "/api/v1/layers/{digest}", "status", "201"};
        assertReaches(layers.size(layer), () -> scrape().value("strata_http_request_bytes_total", put), "bytes received by the PUT");
        Scrape after = scrape();
        assertEquals(1, after.value(REQUESTS, put));
        assertEquals(1, after.value("strata_layers_stored"));
        assertEquals(layers.size(layer), after.value("strata_layers_stored_bytes"));
    }

    @Test
    void upload_sessions_images_and_the_catalog_generation_are_gauges() throws Exception {
        start();
        LayerFactory layers = new LayerFactory(dir);
        Digest layer = layers.base();
        layers.uploadTo(registry, layer);
        double generation = scrape().value("strata_catalog_generation");

        HttpResponse<String> session = registry.send(registry.authed("/api/v1/uploads", registry.pushToken)
                .POST(HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(202, session.statusCode(), session.body());
        String body = "{\"os\":\"debian\",\"release\":\"12\",\"arch\":\"amd64\",\"variant\":\"cloud\",\"version\":\"20261201_1000\",\"layer\":\""
                + layer.hex() + "\",\"aliases\":[\"debian/12\"]}";
        assertEquals(201, registry.send(registry.authed("/api/v1/images", registry.publishToken)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build()).statusCode());

        Scrape after = scrape();
        assertEquals(1, after.value("strata_uploads_open"));
        assertEquals(1, after.value("strata_images"));
        assertTrue(after.value("strata_catalog_generation") > generation, "the publish bumps the generation");
        assertEquals(1, after.value(REQUESTS, "method", "POST", "route", "/api/v1/uploads", "status", "202"));
    }

    /** Paths that differ in every round: other layers, upload ids, images, and paths no route has. */
    private static List<String> distinctPaths(int round) {
        String hex = String.format("%064x", round);
        return List.of("/layers/" + hex + ".qcow2", "/layers/x" + round, "/api/v1/layers/" + hex, "/api/v1/uploads/u" + round,
                "/api/v1/images/debian/" + round + "/cloud", "/api/v1/images/x" + round, "/nope" + round, "/nope/" + round,
                "/a/b/c/" + round, "/index.json/" + round, "/layers/" + round + "/b", "/api/v1/uploads/u" + round + "/extra");
    }

    @Test
    void the_route_label_is_the_template_so_distinct_paths_make_no_new_series() throws Exception {
        start();
        for (String path : distinctPaths(0)) registry.send(registry.request(path).build());
        Thread.sleep(100);
        Set<String> series = seriesOf(scrape());
        for (int round = 1; round <= 3; round++) {
            for (String path : distinctPaths(round)) registry.send(registry.request(path).build());
        }
        Thread.sleep(100);
        Scrape later = scrape();
        assertEquals(series, seriesOf(later), "the same series, only higher counts");

        Set<String> routes = later.named(REQUESTS).stream().map(s -> s.labels().get("route")).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(new TreeSet<>(List.of("/layers/{file}", "/api/v1/layers/{digest}", "/api/v1/uploads/{id}", "/api/v1/images/<ref>",
                "/metrics", "other")), routes, "routes seen");
        for (Scrape.Sample sample : later.samples()) {
            String route = sample.labels().getOrDefault("route", "");
            assertFalse(route.contains("000") || route.contains("nope") || route.contains("u1"), "a raw path as a label: " + sample);
        }
        assertReaches(4 * 6, () -> scrape().value(REQUESTS, "method", "GET", "route", "other", "status", "404"), "paths of no route");
    }

    private static Set<String> seriesOf(Scrape scrape) {
        return scrape.samples().stream().filter(s -> s.name().startsWith("strata_http_") && !s.labels().getOrDefault("route", "").equals("/metrics"))
                .map(s -> s.name() + s.labels()).collect(Collectors.toCollection(TreeSet::new));
    }

    @Test
    void the_output_passes_promtool_check_metrics() throws Exception {
        String promtool = promtool();
        start();
        LayerFactory layers = new LayerFactory(dir);
        Digest layer = layers.base();
        layers.uploadTo(registry, layer);
        registry.send(registry.request("/layers/" + layer.fileName()).build());
        registry.send(registry.request("/nope").build());
        registry.send(registry.request("/index.json").build());
        Path text = dir.resolve("metrics.txt");
        Files.writeString(text, scrape().text());

        Process check = new ProcessBuilder(promtool, "check", "metrics").redirectInput(text.toFile()).redirectErrorStream(true).start();
        String output = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, check.waitFor(), "promtool check metrics:\n" + output);
    }

    /** promtool (Debian package prometheus), or the test is skipped; on CI (CI=true) it must be there. */
    private static String promtool() {
        String path = System.getenv("PATH");
        if (path != null) {
            for (String directory : path.split(File.pathSeparator)) {
                Path candidate = Path.of(directory, "promtool");
                if (Files.isExecutable(candidate)) return candidate.toString();
            }
        }
        String missing = "promtool not on PATH (apt-get install prometheus)";
        if ("true".equals(System.getenv("CI"))) fail(missing + "; CI=true, so the promtool check may not be skipped");
        Assumptions.abort(missing);
        return null;
    }

    @Test
    void on_a_private_registry_metrics_needs_a_token_of_any_scope() throws IOException {
        start(ServerConfig.defaults(dir.resolve("data")).withAccess(AccessConfig.defaults().withPrivateMode(true)));
        HttpResponse<String> refused = registry.send(registry.request("/metrics").build());
        assertEquals(401, refused.statusCode());
        assertFalse(refused.body().contains("strata_"), refused.body());
        assertEquals(401, registry.send(registry.authed("/metrics", "strata_pat_not-a-token").build()).statusCode());

        HttpResponse<String> allowed = registry.send(registry.authed("/metrics", registry.token("read")).build());
        assertEquals(200, allowed.statusCode());
        assertTrue(allowed.body().contains(REQUESTS), allowed.body());
    }

    @Test
    void on_a_public_registry_metrics_needs_no_token() throws IOException {
        start();
        assertEquals(200, registry.send(registry.request("/metrics").build()).statusCode());
    }
}
