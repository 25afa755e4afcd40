package io.strata.upload;

import io.strata.testing.S3TestBucket;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@link LayerUploadTest} with the layers in an S3 bucket (S3Proxy in CI). */
@ExtendWith(S3TestBucket.class)
class LayerUploadOnS3Test extends LayerUploadTest {}
