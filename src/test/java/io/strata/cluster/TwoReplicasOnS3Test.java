package io.strata.cluster;

import io.strata.testing.S3TestBucket;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@link TwoReplicasContract} with both replicas keeping their layers in one S3 bucket (S3Proxy in CI) and their metadata in PostgreSQL. */
@ExtendWith(S3TestBucket.class)
class TwoReplicasOnS3Test extends TwoReplicasContract {}
