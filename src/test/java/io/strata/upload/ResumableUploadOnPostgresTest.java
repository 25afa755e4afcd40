package io.strata.upload;

import io.strata.testing.OnPostgres;
import org.junit.jupiter.api.extension.ExtendWith;

/** Every behaviour of {@link ResumableUploadTest}, with the metadata in PostgreSQL. */
@ExtendWith(OnPostgres.class)
class ResumableUploadOnPostgresTest extends ResumableUploadTest {
}
