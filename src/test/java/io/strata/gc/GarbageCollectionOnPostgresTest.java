package io.strata.gc;

import io.strata.testing.OnPostgres;
import org.junit.jupiter.api.extension.ExtendWith;

/** Every behaviour of {@link GarbageCollectionTest}, with the metadata in PostgreSQL. */
@ExtendWith(OnPostgres.class)
class GarbageCollectionOnPostgresTest extends GarbageCollectionTest {
}
