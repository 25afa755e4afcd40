#!/usr/bin/env bash
# What the request meters and the access log cost the hottest request: HEAD of a layer, 64 keep-alive
# connections (ab -k -c 64 -i; -n 100000000 so that -t, not ab's default 50,000 requests, ends a round).
# Per round: requests/s, the server's CPU time per request (the JVM's utime+stime from /proc, every
# thread included), the access-log writer thread's write(2) calls per second; at the end the HEADs ab
# sent against the count /metrics shows (ab leaves up to 64 in flight per run, which the server still
# answers and counts) and the access-log lines dropped.
#
#   bench/head-telemetry.sh JAR LABEL [serve options]
#   bench/head-telemetry.sh target/strata.jar log-off --access-log off
#   bench/head-telemetry.sh target/strata.jar log-file --access-log /tmp/access.log
#   bench/head-telemetry.sh /tmp/old-strata.jar before              # a jar from before /metrics
#
# ROUNDS (default 3) rounds of ROUND_SECONDS (default 10) after a 5 s warm-up, on a fresh data dir and a free
# port; the server runs with -Xmx64m as in ../shared/bench. Needs qemu-img, qemu-io, ab, curl, python3.
set -euo pipefail
JAR=$1; LABEL=$2; shift 2
ROUNDS=${ROUNDS:-3}; SECONDS_PER_ROUND=${ROUND_SECONDS:-10}
W=$(mktemp -d /tmp/strata-head-bench.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
qemu-img create -q -f qcow2 "$W/layer.qcow2" 64M
qemu-io -f qcow2 -c 'write -P 7 0 1M' "$W/layer.qcow2" >/dev/null
hex=$(sha256sum "$W/layer.qcow2" | cut -d' ' -f1)
token=$(java -jar "$JAR" token create --data "$W/data" --scope 'push:*' 2>/dev/null | tail -1)
java -Xmx64m -jar "$JAR" serve --data "$W/data" --port "$port" "$@" > "$W/server.log" 2> "$W/server.err" & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$W"' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.5; done
printf 'Authorization: Bearer %s\n' "$token" > "$W/auth"; chmod 600 "$W/auth"
curl -sf -X PUT -T "$W/layer.qcow2" -H "@$W/auth" -o /dev/null "http://127.0.0.1:$port/api/v1/layers/$hex"
url=http://127.0.0.1:$port/layers/$hex.qcow2
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
writes() { for t in /proc/$pid/task/*; do [ "$(cat "$t/comm")" = strata-access-l ] && awk '/syscw/{print $2}' "$t/io"; done; true; }
sent=$(ab -q -k -c 64 -t 5 -n 100000000 -i "$url" 2>/dev/null | awk '/Complete requests/{print $3}')
for round in $(seq 1 "$ROUNDS"); do
  c0=$(cpu); w0=$(writes)
  out=$(ab -q -k -c 64 -t "$SECONDS_PER_ROUND" -n 100000000 -i "$url" 2>/dev/null)
  c1=$(cpu); w1=$(writes)
  rps=$(awk '/Requests per second/{print $4}' <<<"$out"); n=$(awk '/Complete requests/{print $3}' <<<"$out"); sent=$((sent + n))
  us=$(python3 -c "print(round(($c1 - $c0) * 1e6 / $(getconf CLK_TCK) / $n, 2))")
  extra=""; [ -n "$w0" ] && extra=", access-log write(2)/s $(( (w1 - w0) / SECONDS_PER_ROUND ))"
  echo "$LABEL round $round: $rps req/s, server CPU $us us/request$extra, load $(cut -d' ' -f1 /proc/loadavg)"
done
sleep 1
metrics=$(curl -s "http://127.0.0.1:$port/metrics" || true)
if grep -q '^strata_http_requests_total' <<<"$metrics"; then
  counted=$(awk '/^strata_http_requests_total\{method="HEAD",route="\/layers\/\{file\}",status="200"\}/{printf "%d", $2}' <<<"$metrics")
  dropped=$(awk '/^strata_access_log_dropped_total/{printf "%d", $2}' <<<"$metrics")
  echo "$LABEL: ab sent $sent HEADs, /metrics counts $counted, access-log lines dropped: ${dropped:-none (log off)}"
fi
