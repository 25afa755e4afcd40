#!/usr/bin/env bash
# Push and pull a ~1 GiB three-layer chain (600 + 300 + 124 MiB of random data) against a running
# registry on loopback, and fetch the same files with curl one after another for comparison.
#
#   STRATA_TOKEN=<push,publish token> bench/pull-push.sh http://127.0.0.1:8080 [ROUNDS]
#
# Work files go to $BENCH_DIR (default /tmp/strata-pull-bench, ~3 GiB). Prints one line per run
# and the medians. curl is measured bare, and with the sha256 check and fsync a pull also does.
set -euo pipefail
REGISTRY=${1:?usage: STRATA_TOKEN=... bench/pull-push.sh http://127.0.0.1:PORT [ROUNDS]}; REGISTRY=${REGISTRY%/}
ROUNDS=${2:-3}
: "${STRATA_TOKEN:?set STRATA_TOKEN to a token with the push and publish scopes}"
HERE=$(cd "$(dirname "$0")/.." && pwd); JAR=$HERE/target/strata.jar
[ -f "$JAR" ] || (cd "$HERE" && mvn -q -DskipTests package)
W=${BENCH_DIR:-/tmp/strata-pull-bench}; rm -rf "$W"; mkdir -p "$W/chain"
cd "$W/chain"
layer() { # NAME BACKING MiB SEED
  if [ -z "$2" ]; then qemu-img create -q -f qcow2 "$1" 2G; else qemu-img create -q -f qcow2 -b "$2" -F qcow2 "$1"; fi
  head -c $(($3 << 20)) /dev/urandom > noise.bin
  qemu-io -f qcow2 -c "write -q -s noise.bin $(($4 << 20)) $(($3 << 20))" "$1" > /dev/null; rm -f noise.bin
}
layer base.qcow2 "" 600 0; layer mid.qcow2 base.qcow2 300 600; layer top.qcow2 mid.qcow2 124 900
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

t0=$(now); fp=$(java -jar "$JAR" push top.qcow2 --registry "$REGISTRY" --product bench:1:amd64:pull \
      --version "$(date -u +%Y%m%d_%H%M)" --alias bench/pull --quiet | tail -1); t1=$(now)
push=$(echo "$t1 - $t0" | bc); bytes=$(stat -c %s base.qcow2 mid.qcow2 top.qcow2 | paste -sd+ | bc)
echo "push: $bytes bytes in ${push}s ($(echo "$bytes / $push / 1000000" | bc) MB/s), fingerprint $fp"
chain=$(curl -s "$REGISTRY/api/v1/images/$fp" | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["chain"]))')

for r in $(seq 1 "$ROUNDS"); do
  for jobs in 1 4; do
    rm -rf "$W/cache"; sync; t0=$(now)
    java -jar "$JAR" pull bench/pull --registry "$REGISTRY" --cache "$W/cache" --jobs $jobs --quiet > /dev/null
    t1=$(now); echo "pull-jobs$jobs $(echo "$t1 - $t0" | bc)"
  done
  rm -rf "$W/curl"; mkdir -p "$W/curl"; sync; t0=$(now)
  for d in $chain; do curl -s -f -o "$W/curl/$d.qcow2" "$REGISTRY/layers/$d.qcow2"; done
  t1=$(now); echo "curl-sequential $(echo "$t1 - $t0" | bc)"
  (cd "$W/curl" && for d in $chain; do echo "$d  $d.qcow2"; done | sha256sum -c --quiet && sync "$W"/curl/*.qcow2)
  t2=$(now); echo "curl-sequential+sha256+sync $(echo "$t2 - $t0" | bc)"
done > "$W/runs.txt"
cat "$W/runs.txt"
echo "medians over $ROUNDS round(s), $bytes bytes:"
for k in pull-jobs1 pull-jobs4 curl-sequential curl-sequential+sha256+sync; do
  m=$(awk -v k="$k" '$1==k{print $2}' "$W/runs.txt" | median); printf '  %-28s %6.2f s  %5.0f MB/s\n' "$k" "$m" "$(echo "$bytes / $m / 1000000" | bc -l)"
done
qemu-img compare "$W/cache/layers/$fp.qcow2" "$W/chain/top.qcow2"
