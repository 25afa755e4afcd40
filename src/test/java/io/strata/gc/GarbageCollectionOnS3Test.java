package io.strata.gc;

import io.strata.testing.S3TestBucket;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@link GarbageCollectionTest} with the layers in an S3 bucket (S3Proxy in CI). */
@ExtendWith(S3TestBucket.class)
class GarbageCollectionOnS3Test extends GarbageCollectionTest {}
