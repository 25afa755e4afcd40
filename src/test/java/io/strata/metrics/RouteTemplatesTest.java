package io.strata.metrics;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A request's route label is the template of the route that answers it, never its path. */
class RouteTemplatesTest {
    private static final RouteTemplates ROUTES = RouteTemplates.of(List.of(
            new RouteTemplates.Route("GET", "/index.json"),
            new RouteTemplates.Route("GET", "/layers/{file}"),
            new RouteTemplates.Route("HEAD", "/layers/{file}"),
            new RouteTemplates.Route("GET", "/"),
            new RouteTemplates.Route("POST", "/api/v1/uploads"),
            new RouteTemplates.Route("PATCH", "/api/v1/uploads/{id}"),
            new RouteTemplates.Route("GET", "/api/v1/images/<ref>"),
            new RouteTemplates.Route("DELETE", "/api/v1/images/{fingerprint}"),
            new RouteTemplates.Route("PUT", "/api/v1/aliases/<alias>")));

    @ParameterizedTest(name = "{0} {1} -> {2}")
    @CsvSource({
            "GET, /index.json, /index.json",
            "HEAD, /index.json, /index.json",
            "GET, /layers/0123abcd.qcow2, /layers/{file}",
            "HEAD, /layers/0123abcd.qcow2, /layers/{file}",
            "GET, /layers/, other",
            "GET, /layers/a/b, other",
            "GET, /, /",
            "GET, /index.json/, other",
            "POST, /api/v1/uploads, /api/v1/uploads",
            "PATCH, /api/v1/uploads/9f2c, /api/v1/uploads/{id}",
            "PATCH, /api/v1/uploads/9f2c/, /api/v1/uploads/{id}",
            "PATCH, /api/v1/uploads/9f2c/more, other",
            "GET, /api/v1/images/debian/12/cloud, /api/v1/images/<ref>",
            "GET, /api/v1/images/abc, /api/v1/images/<ref>",
            "DELETE, /api/v1/images/abc, /api/v1/images/{fingerprint}",
            "DELETE, /api/v1/images/debian/12, /api/v1/images/<ref>",
            "PUT, /api/v1/aliases/debian/12, /api/v1/aliases/<alias>",
            "PUT, /api/v1/aliases/, other",
            "BREW, /index.json, /index.json",
            "GET, /api/v1/imagesx/abc, other",
            "GET, '', other",
            "GET, nope, other"})
    void a_path_takes_the_template_of_its_route(String method, String path, String label) {
        assertEquals(label, ROUTES.label(ROUTES.match(RouteTemplates.method(method), path)));
    }
}
