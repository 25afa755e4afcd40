package io.strata.http;

import io.strata.testing.S3TestBucket;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@link QemuOverHttpTest} with the layers in an S3 bucket (S3Proxy in CI). */
@ExtendWith(S3TestBucket.class)
class QemuOverHttpOnS3Test extends QemuOverHttpTest {}
