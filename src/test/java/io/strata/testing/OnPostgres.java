package io.strata.testing;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Runs a test class's registries on PostgreSQL: {@code @ExtendWith(OnPostgres.class)} on a subclass
 * of an API test makes every {@link TestRegistry#start} in it use a fresh PostgreSQL database.
 * Extensions run before the class's own {@code @BeforeAll}, so static setups are covered too.
 */
public final class OnPostgres implements BeforeAllCallback, AfterAllCallback {
    @Override
    public void beforeAll(ExtensionContext context) {
        Postgres.adminUrl(); // skip (or fail under CI) before starting anything
        TestRegistry.backend = TestRegistry.Backend.POSTGRES;
    }

    @Override
    public void afterAll(ExtensionContext context) {
        TestRegistry.backend = TestRegistry.Backend.SQLITE;
    }
}
