package io.strata.auth;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** DESIGN §11: the scope grammar and the one matcher behind every permission and the subset rule. */
class ScopeTest {
    @ParameterizedTest(name = "{0} on {1} {2} -> {3}")
    @CsvSource({
            "admin,                       publish, debian:12:amd64:cloud, true",
            "admin,                       delete,  debian:12:amd64:cloud, true",
            "publish:*,                   publish, debian:12:amd64:cloud, true",
            "publish,                     publish, debian:12:amd64:cloud, true",
            "publish:debian,              publish, debian:12:amd64:cloud, true",
            "publish:debian:*,            publish, debian:13:arm64:minimal, true",
            "publish:debian:12,           publish, debian:13:amd64:cloud, false",
            "publish:debian:*:amd64,      publish, debian:12:amd64:cloud, true",
            "publish:debian:*:amd64,      publish, debian:12:arm64:cloud, false",
            "publish:*:*:*:cloud,         publish, ubuntu:24.04:amd64:cloud, true",
            "publish:*:*:*:cloud,         publish, ubuntu:24.04:amd64:minimal, false",
            "publish:debian:12:amd64:cloud, publish, debian:12:amd64:cloud, true",
            "publish:debian,              publish, debianx:12:amd64:cloud, false",
            "publish:debian,              delete,  debian:12:amd64:cloud, false",
            "delete:debian,               delete,  debian:12:amd64:cloud, true",
            "delete:debian,               publish, debian:12:amd64:cloud, false",
            "push:*,                      publish, debian:12:amd64:cloud, false",
            "read,                        publish, debian:12:amd64:cloud, false",
    })
    void a_scope_grants_an_action_on_the_products_its_pattern_matches(String held, String action, String product, boolean allowed) {
        Scope needed = Scope.on(Scope.Action.valueOf(action.toUpperCase()), product);
        assertEquals(allowed, Scope.parse(held).covers(needed));
    }

    @ParameterizedTest
    @CsvSource({
            "publish,               publish:*:*:*:*",
            "push,                  push:*:*:*:*",
            "publish:debian,        publish:debian:*:*:*",
            "delete:debian:12,      delete:debian:12:*:*",
            "' read ',              read",
            "admin,                 admin",
    })
    void trailing_segments_default_to_any_and_the_canonical_text_writes_them_out(String text, String canonical) {
        assertEquals(canonical, Scope.parse(text).id());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "root", "publish:", "publish:debian::amd64", "publish:a:b:c:d:e", "read:debian", "admin:*",
            "publish:deb*", "publish:debian/12", "PUBLISH:debian"})
    void a_malformed_scope_is_refused_with_a_message_that_shows_the_syntax(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Scope.parse(text));
        assertTrue(e.getMessage().contains("push|publish|delete:<os>:<release>:<arch>:<variant>"), e.getMessage());
    }

    @ParameterizedTest(name = "{0} may make {1}: {2}")
    @CsvSource({
            "publish:debian:*,  publish:debian:12,  true",
            "publish:debian:*,  publish:debian:*,   true",
            "publish:debian:12, publish:debian:*,   false",
            "publish:debian:*,  publish:*,          false",
            "publish:debian:*,  delete:debian:*,    false",
            "publish:debian:*,  read,               true",
            "publish:debian:*,  admin,              false",
            "read,              push:*,             false",
            "admin,             admin,              true",
            "admin,             delete:*,           true",
    })
    void a_token_may_only_hand_on_a_subset_of_its_scopes(String held, String requested, boolean allowed) {
        assertEquals(allowed, Scope.parse(held).covers(Scope.parse(requested)));
    }

    @Test
    void every_scope_includes_read() {
        for (String held : new String[]{"push:*", "publish:debian", "delete:x:y:z:w", "read", "admin"}) {
            assertTrue(Scope.parse(held).covers(Scope.READ), held);
        }
    }
}
