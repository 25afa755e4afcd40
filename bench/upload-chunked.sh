#!/usr/bin/env bash
# Server-side ingest: a monolithic PUT of a 1 GiB qcow2 against the resumable path (POST, then 17
# PATCHes of 64 MiB and the PUT ?digest= on one keep-alive curl) of the same bytes, on one warmed
# server, alternated; medians and the chunked/monolithic ratio twice: by the wall time of the whole
# flow, and by the time on the wire (curl's time_total of each request added up, which leaves out
# the two curl processes' start and exit against the monolithic upload's one), the server process's CPU seconds per upload and, with
# THREADS=1, CPU per thread group at the end (JettyServerThre = request threads, strata-ingest =
# hasher, strata-disk = direct writes, C = JIT compilers).
#
#   bench/upload-chunked.sh                      # ROUNDS=5 pairs, the jar of this tree
#   JAR=/tmp/old-strata.jar bench/upload-chunked.sh
#   SERVER_JAVA_OPTS=-XX:+PrintCompilation KEEP=1 bench/upload-chunked.sh   # JVM flags for the server only; keep its log
#
# One server (free port, fresh data dir, the per-address write-rate guard raised out of the way of
# the warm-up flows) serves every upload. Before the timed rounds it is warmed
# (below), so both paths run compiled code (a fresh JVM left the chunked path's per-request code
# interpreted: 2.6% of its samples against 0.35%). Before each upload one 64 KiB
# cluster of the image is rewritten (qemu-io) so no upload is deduplicated, and the image is split
# into the chunk files for both modes alike (writing 1 GiB of fresh page cache is slow on a VM, so
# only one mode must not pay for it). The last line gives what one PATCH costs the server apart from
# its bytes: the same POST + 17 PATCH + PUT flow with 4 KiB chunks, per PATCH. Work files go to
# $BENCH_DIR (default /tmp/strata-ingest-bench): ~3 GiB, plus 1 GiB per upload the registry keeps
# (2 x WARM_UPLOADS + 2 x ROUNDS of them; the defaults: ~23 GiB). Needs qemu-img, qemu-io, curl, python3.
set -euo pipefail
ROUNDS=${ROUNDS:-5}
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
d=$B/data; rm -rf "$d"; mkdir -p "$d"
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
t=$(java -jar "$JAR" token create --data "$d" --scope 'push:*' 2>/dev/null | tail -1)
printf 'Authorization: Bearer %s\n' "$t" > "$d/auth.header"; chmod 600 "$d/auth.header"
java -Xmx64m ${SERVER_JAVA_OPTS:-} -jar "$JAR" serve --data "$d" --port "$port" --write-rate 100000 --write-burst 100000 > "$d/server.log" 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null; wait $spid 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$d"' EXIT
url=http://127.0.0.1:$port
for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.2; done

n=0
chunked() { # DIR SUM SIZES -> one line per request: "<HTTP code> <seconds on the wire>" (POST, the PATCHes, the PUT)
  # The client's side is kept to what a real one does: the POST, then every PATCH and the PUT on one
  # keep-alive connection (one curl). The chunk sizes are read before the clock starts, the Location
  # comes from curl itself, and the answers are checked after the clock stops, so that no shell helper
  # process runs inside the timed flow (17 `stat`s and a mktemp/tr/awk/rm around the POST cost it
  # tens of ms, which the monolithic upload never paid).
  local dir=$1 sum=$2 sizes=($3) loc off=0 s i=0 f args=()
  loc=$(curl -s -o /dev/null -w '%{http_code} %{time_total} %header{location}' -X POST -H @"$d/auth.header" "$url/api/v1/uploads")
  echo "${loc% *}"; loc=${loc##* }
  for f in "$dir"/c*; do
    s=${sizes[$i]}; i=$((i+1))
    args+=(-s -o /dev/null -w '%{http_code} %{time_total}\n' -X PATCH -H @"$d/auth.header" -H "Content-Range: bytes $off-$((off+s-1))/*" -T "$f" "$url$loc" --next)
    off=$((off+s))
  done
  args+=(-s -o /dev/null -w '%{http_code} %{time_total}\n' -X PUT -H @"$d/auth.header" "$url$loc?digest=sha256:$sum")
  curl "${args[@]}"
}
flow_result() { # the lines of chunked -> "<final HTTP code> <seconds on the wire>"; complains about any other answer
  local codes
  codes=$(echo "$1" | sed '$d' | awk '{print $1}' | sort -u | tr '\n' ' ')
  [ "$codes" = "202 " ] || echo "the POST and PATCHes answered: $(echo "$1" | sed '$d' | awk '{print $1}' | sort | uniq -c | tr -s ' \n' ' ')" >&2
  echo "$(echo "$1" | tail -1 | cut -d' ' -f1) $(echo "$1" | awk '{t+=$2} END {printf "%.4f", t}')"
}
upload() { # MODE [timed] -> prints a result line when timed
  local mode=$1 sum size c0 c1 t0 t1 answer code wire
  n=$((n+1))
  qemu-io -c "write -P $(( (n*7 + $$) % 250 + 1 )) 1M 64k" "$B/img.qcow2" >/dev/null
  sum=$(sha256sum "$B/img.qcow2" | cut -c1-64); size=$(stat -c %s "$B/img.qcow2")
  rm -rf "$B/chunks"; mkdir "$B/chunks"; split -b 64M -d -a 3 "$B/img.qcow2" "$B/chunks/c"
  local sizes; sizes=$(stat -c %s "$B/chunks"/c* | tr '\n' ' ')
  sync; sleep 1; c0=$(awk '{print $14+$15}' /proc/$spid/stat); t0=$(date +%s.%N)
  if [ "$mode" = mono ]; then
    answer=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -H @"$d/auth.header" -T "$B/img.qcow2" "$url/api/v1/layers/$sum")
  else
    answer=$(chunked "$B/chunks" "$sum" "$sizes")
  fi
  t1=$(date +%s.%N); c1=$(awk '{print $14+$15}' /proc/$spid/stat)
  [ "$mode" = mono ] || answer=$(flow_result "$answer")
  code=${answer% *}; wire=${answer#* }
  [ "$code" = 201 ] || { echo "$mode upload answered $code (see $d/server.log)" >&2; exit 1; }
  [ -n "${2:-}" ] || return 0
  echo "$mode s=$(echo "$t1-$t0" | bc -l | cut -c1-5) MB/s=$(echo "$size/($t1-$t0)/1000000" | bc -l | cut -c1-6) server_cpu_s=$(echo "($c1-$c0)/100" | bc -l | cut -c1-5) wire_s=$wire wire_MB/s=$(echo "$size/$wire/1000000" | bc -l | cut -c1-6)"
}
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

# Warm-up, untimed: WARM_UPLOADS (default 5) uploads of each kind, alternated, then WARM_FLOWS (default 20) times the resumable flow
# with 4 KiB chunks. A chunk is a request, and 17 of them per GiB leave the per-request code (routing,
# the row reads, the checkpoint) being compiled for hundreds of requests: after two uploads, perf
# still put 12-16% of a chunked upload's samples in the JIT compiler threads (1.5% for a
# monolithic one). The JIT is not done after 20 flows either: after 30 (~570 requests) perf put
# 40% of a server's samples in the C2 compiler thread and a 4 KiB PATCH cost 5.4 ms of server CPU;
# after 700, 0.6 ms. But WARM_FLOWS=300 and 1000 gave the same chunked/monolithic ratio as 20,
# within the noise of identical runs (README "upload ingest"), so the default stays short. What
# does settle the JIT is the real uploads: per-thread CPU over ten alternated pairs on one server
# (23:30Z, after one pair) put the compiler threads at 80-310 ms of each of the first five chunked
# uploads and 40-80 ms of the next five (a monolithic one: 10-90 ms), and the chunked flow took
# 1.18-1.44x the monolithic one's wall time in the first five pairs and 0.89-1.20x in the last
# five. A registry in service has taken more than five uploads; WARM_UPLOADS=1 measures one that has not.
mkdir -p "$B/tiny"; rm -f "$B/tiny"/c*; head -c $((17*4096)) "$B/img.qcow2" | split -b 4096 -d -a 3 - "$B/tiny/c"
tiny() { chunked "$B/tiny" 0000000000000000000000000000000000000000000000000000000000000000 "$(printf '4096 %.0s' $(seq 17))" >/dev/null || true; }
for _ in $(seq "${WARM_UPLOADS:-5}"); do upload mono; upload chunked; done
for _ in $(seq "${WARM_FLOWS:-20}"); do tiny; done
out=$B/results.txt; : > "$out"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="mono chunked"; else order="chunked mono"; fi
  for mode in $order; do upload "$mode" timed >> "$out"; tail -1 "$out"; done   # no pipe: n must count in this shell
done
mono=$(awk '$1=="mono"{sub("MB/s=","",$3); print $3}' "$out" | median)
chunk=$(awk '$1=="chunked"{sub("MB/s=","",$3); print $3}' "$out" | median)
echo "median of $ROUNDS, wall time of the whole flow: monolithic $mono MB/s, chunked $chunk MB/s, chunked/monolithic $(echo "$chunk/$mono" | bc -l | cut -c1-5)"
mono=$(awk '$1=="mono"{sub("wire_MB/s=","",$6); print $6}' "$out" | median)
chunk=$(awk '$1=="chunked"{sub("wire_MB/s=","",$6); print $6}' "$out" | median)
echo "median of $ROUNDS, time on the wire (curl's time_total of each request, added up): monolithic $mono MB/s, chunked $chunk MB/s, chunked/monolithic $(echo "$chunk/$mono" | bc -l | cut -c1-5)"

# What a PATCH costs apart from its bytes: the same flow with 17 chunks of 4 KiB (not a valid layer: the PUT is refused).
c0=$(awk '{print $14+$15}' /proc/$spid/stat); t0=$(date +%s.%N)
for _ in 1 2 3 4 5; do tiny; done
t1=$(date +%s.%N); c1=$(awk '{print $14+$15}' /proc/$spid/stat)
echo "POST, then 17 PATCHes of 4 KiB + PUT on one keep-alive curl (5 flows): $(echo "($t1-$t0)*1000/5" | bc -l | cut -c1-6) ms a flow, $(echo "($t1-$t0)*1000/95" | bc -l | cut -c1-5) ms per request, server CPU $(echo "($c1-$c0)*10/95" | bc -l | cut -c1-5) ms per request"
if [ -n "${THREADS:-}" ]; then
  for task in /proc/$spid/task/*; do echo "$(cat "$task/comm") $(awk '{print ($14+$15)/100}' "$task/stat")"; done \
    | awk '{k=$1; sub(/[-#]?[0-9]+$/,"",k); c[k]+=$NF} END {for (k in c) if (c[k]>0.05) print "  cpu_s", k, c[k]}'
fi
