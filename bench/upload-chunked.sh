#!/usr/bin/env bash
# Server-side ingest: a monolithic PUT of a 1 GiB qcow2 against the resumable path (POST, 64 MiB
# PATCHes on one keep-alive curl, PUT ?digest=) of the same bytes, alternated, with the server
# process's CPU seconds per upload and, with THREADS=1, CPU per thread group at the end of a round
# (JettyServerThre = request threads, strata-ingest = hasher + flusher, C = JIT compilers).
#
#   bench/upload-chunked.sh                         # ROUNDS=3, the jar of this tree
#   COMPARE_JAR=/tmp/old-strata.jar bench/upload-chunked.sh   # alternate rounds with that build
#
# Every round starts its own registry on a free port with a fresh data dir; rounds alternate which
# upload goes first. Before each upload one 64 KiB cluster of the image is rewritten (qemu-io) so no
# upload is deduplicated, and the image is split into the chunk files (for both modes alike). Work files go to
# $BENCH_DIR (default /tmp/strata-ingest-bench, ~3 GiB). Needs qemu-img, qemu-io, curl, python3.
set -euo pipefail
ROUNDS=${ROUNDS:-3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
JAR=${JAR:-$HERE/target/strata.jar}
B=${BENCH_DIR:-/tmp/strata-ingest-bench}
mkdir -p "$B"
if [ ! -f "$B/img.qcow2" ]; then
  qemu-img create -q -f qcow2 "$B/img.qcow2" 4G
  args=()
  for i in $(seq 0 15); do args+=(-c "write -P $((i+1)) $(( i*256 + RANDOM%128 ))M 64M"); done
  qemu-io "${args[@]}" "$B/img.qcow2" >/dev/null
fi
n=0
round() { # JAR LABEL
  local jar=$1 label=$2 d=$B/data-$2 port t spid url c0 c1 t0 t1 sum size code loc off s args
  rm -rf "$d"; mkdir -p "$d"
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  t=$(java -jar "$jar" token create --data "$d" --scope 'push:*' 2>/dev/null | tail -1)
  printf 'Authorization: Bearer %s\n' "$t" > "$d/auth.header"; chmod 600 "$d/auth.header"
  java -jar "$jar" serve --data "$d" --port "$port" > "$d/server.log" 2>&1 &
  spid=$!
  url=http://127.0.0.1:$port
  for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.2; done
  # Alternate which goes first, and make the chunk files before either upload: writing them takes
  # 1 GiB of fresh page cache, which on a VM is slow to touch, so only one mode would pay for it.
  local order="mono chunked"; [ $((n % 4)) = 2 ] && order="chunked mono"
  for mode in $order; do
    n=$((n+1))
    qemu-io -c "write -P $(( (n*7 + $$) % 250 + 1 )) 1M 64k" "$B/img.qcow2" >/dev/null
    sum=$(sha256sum "$B/img.qcow2" | cut -c1-64); size=$(stat -c %s "$B/img.qcow2")
    rm -rf "$B/chunks"; mkdir "$B/chunks"; split -b 64M -d -a 3 "$B/img.qcow2" "$B/chunks/c"
    sync; c0=$(awk '{print $14+$15}' /proc/$spid/stat); t0=$(date +%s.%N)
    if [ $mode = mono ]; then
      code=$(curl -s -o /dev/null -w '%{http_code}' -H @"$d/auth.header" -T "$B/img.qcow2" "$url/api/v1/layers/$sum")
    else
      loc=$(curl -s -D - -o /dev/null -X POST -H @"$d/auth.header" "$url/api/v1/uploads" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
      off=0; args=()
      for f in "$B"/chunks/c*; do
        s=$(stat -c %s "$f")
        [ ${#args[@]} -gt 0 ] && args+=(--next)
        args+=(-s -o /dev/null -f -X PATCH -H @"$d/auth.header" -H "Content-Range: bytes $off-$((off+s-1))/*" -T "$f" "$url$loc")
        off=$((off+s))
      done
      curl "${args[@]}"
      code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H @"$d/auth.header" "$url$loc?digest=sha256:$sum")
    fi
    t1=$(date +%s.%N); c1=$(awk '{print $14+$15}' /proc/$spid/stat)
    echo "$label $mode code=$code MB/s=$(echo "$size/($t1-$t0)/1000000" | bc -l | cut -c1-6) s=$(echo "$t1-$t0" | bc -l | cut -c1-5) server_cpu_s=$(echo "($c1-$c0)/100" | bc -l | cut -c1-5)"
  done
  if [ -n "${THREADS:-}" ]; then
    for task in /proc/$spid/task/*; do echo "$(cat "$task/comm") $(awk '{print ($14+$15)/100}' "$task/stat")"; done \
      | awk '{k=$1; sub(/[-#]?[0-9]+$/,"",k); c[k]+=$NF} END {for (k in c) if (c[k]>0.05) print "  cpu_s", k, c[k]}'
  fi
  kill $spid; wait $spid 2>/dev/null || true
  rm -rf "$d"
}
for r in $(seq "$ROUNDS"); do
  round "$JAR" this
  [ -n "${COMPARE_JAR:-}" ] && round "$COMPARE_JAR" compare
done
