package io.strata.metrics;

import io.strata.testing.OnPostgres;
import org.junit.jupiter.api.extension.ExtendWith;

/** Every behaviour of {@link MetricsTest}, with the metadata in PostgreSQL (the gauges' count queries run there). */
@ExtendWith(OnPostgres.class)
class MetricsOnPostgresTest extends MetricsTest {
}
