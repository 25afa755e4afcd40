#!/usr/bin/env bash
# Renders the index documents for a synthetic catalog (default 10,000 images over 50,000 layers,
# chains up to depth 8 sharing bases) and prints median render times and document sizes.
#   bench/index-render.sh [IMAGES] [LAYERS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -q -DskipTests test-compile
cp=$(mvn -q dependency:build-classpath -Dmdep.outputFile=/dev/stdout)
exec java -Xmx512m -cp "target/classes:target/test-classes:$cp" io.strata.bench.IndexBenchmark "$@"
