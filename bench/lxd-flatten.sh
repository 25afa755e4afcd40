#!/usr/bin/env bash
# Time and bytes to make the LXD items of the ~1 GiB three-layer chain of bench/pull-push.sh
# (600 + 300 + 124 MiB of random data): a fresh server on a free loopback port, one push, then the
# time until /index.json says the image's LXD items are ready. For comparison, the same
# qemu-img convert of the local files (no HTTP).
#
#   bench/lxd-flatten.sh
#
# Work files go to $BENCH_DIR (default /tmp/strata-lxd-bench, ~4 GiB).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd); JAR=$HERE/target/strata.jar
[ -f "$JAR" ] || (cd "$HERE" && mvn -q -DskipTests package)
W=${BENCH_DIR:-/tmp/strata-lxd-bench}; rm -rf "$W"; mkdir -p "$W/chain"
cd "$W/chain"
layer() { # NAME BACKING MiB SEED
  if [ -z "$2" ]; then qemu-img create -q -f qcow2 "$1" 2G; else qemu-img create -q -f qcow2 -b "$2" -F qcow2 "$1"; fi
  head -c $(($3 << 20)) /dev/urandom > noise.bin
  qemu-io -f qcow2 -c "write -q -s noise.bin $(($4 << 20)) $(($3 << 20))" "$1" > /dev/null; rm -f noise.bin
}
layer base.qcow2 "" 600 0; layer mid.qcow2 base.qcow2 300 600; layer top.qcow2 mid.qcow2 124 900
now() { date +%s.%N; }

java -Xmx256m -jar "$JAR" serve --data "$W/data" --port 0 > "$W/server.log" 2>&1 & server=$!
trap 'kill $server 2>/dev/null || true' EXIT
until grep -q 'strata listening on' "$W/server.log"; do sleep 0.2; done
REGISTRY=$(grep -o 'http://127.0.0.1:[0-9]*' "$W/server.log" | head -1)
export STRATA_TOKEN=$(java -jar "$JAR" token create --data "$W/data" --scope push --scope publish 2>/dev/null | grep '^strata_')
fp=$(java -jar "$JAR" push top.qcow2 --registry "$REGISTRY" --product bench:1:amd64:lxd \
      --version "$(date -u +%Y%m%d_%H%M)" --alias bench/lxd --quiet | tail -1)
t0=$(now)
until curl -s "$REGISTRY/index.json" | python3 -c "import json,sys; sys.exit(0 if json.load(sys.stdin)['images']['$fp'].get('lxd',{}).get('state')=='ready' else 1)"; do sleep 0.5; done
t1=$(now)
chain=$(stat -c %s base.qcow2 mid.qcow2 top.qcow2 | paste -sd+ | bc)
disk=$(curl -s "$REGISTRY/index.json" | python3 -c "import json,sys; print(json.load(sys.stdin)['images']['$fp']['lxd']['disk']['size'])")
echo "LXD items ready $(echo "$t1 - $t0" | bc) s after publish: chain $chain bytes -> flattened disk $disk bytes"
grep 'flattened' "$W/server.log" | sed 's/^/  server: /'
t0=$(now); qemu-img convert -f qcow2 -O qcow2 -c -o compression_type=zlib top.qcow2 "$W/local-flat.qcow2"; t1=$(now)
echo "local qemu-img convert -c of the same files: $(echo "$t1 - $t0" | bc) s, $(stat -c %s "$W/local-flat.qcow2") bytes"
