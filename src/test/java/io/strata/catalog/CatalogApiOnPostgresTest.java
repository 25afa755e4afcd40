package io.strata.catalog;

import io.strata.testing.OnPostgres;
import org.junit.jupiter.api.extension.ExtendWith;

/** Every behaviour of {@link CatalogApiTest}, with the metadata in PostgreSQL. */
@ExtendWith(OnPostgres.class)
class CatalogApiOnPostgresTest extends CatalogApiTest {
}
