#!/usr/bin/env bash
# Full GET of one layer and 1000 random 64 KiB ranges of it (one keep-alive connection), with curl,
# over plain HTTP and over HTTPS of a server started with --tls-cert/--tls-key, and optionally
# over plain HTTP of a second server without TLS (the "before" to compare against). Rounds are
# interleaved so that drift on a shared machine hits every variant alike.
#
#   bench/https-get.sh http://127.0.0.1:PORT CERT.pem SHA256 [ROUNDS] [http://127.0.0.1:OTHER]
#
# Prints one line per run and the medians. Work files go to $BENCH_DIR (default /tmp/strata-https-bench).
set -euo pipefail
URL=${1:?usage: bench/https-get.sh http://127.0.0.1:PORT CERT.pem SHA256 [ROUNDS] [BASELINE_URL]}; URL=${URL%/}
CERT=${2:?certificate file}; DIGEST=${3:?layer sha256}; ROUNDS=${4:-5}; BASELINE=${5:-}; BASELINE=${BASELINE%/}
W=${BENCH_DIR:-/tmp/strata-https-bench}; mkdir -p "$W"
HTTPS=https${URL#http}
SIZE=$(curl -s -f -I "$URL/layers/$DIGEST.qcow2" | tr -d '\r' | awk 'tolower($1)=="content-length:"{print $2}')
ranges() { # NAME BASE: a curl config of 1000 range requests on one connection
  python3 - "$2/layers/$DIGEST.qcow2" "$SIZE" "$CERT" > "$W/ranges-$1.cfg" <<'PY'
import random, sys
url, size, cert = sys.argv[1], int(sys.argv[2]), sys.argv[3]
random.seed(7)
for i in range(1000):
    first = random.randrange(0, max(1, size - 65536))
    print(("next\n" if i else "") + f'url = "{url}"\nrange = {first}-{first + 65535}\noutput = /dev/null\ncacert = "{cert}"')
PY
}
variants=(http https); ranges http "$URL"; ranges https "$HTTPS"
if [ -n "$BASELINE" ]; then variants+=(baseline); ranges baseline "$BASELINE"; fi
base() { case $1 in http) echo "$URL";; https) echo "$HTTPS";; baseline) echo "$BASELINE";; esac; }
now() { date +%s.%N; }
for v in "${variants[@]}"; do curl -s -f --cacert "$CERT" -o /dev/null "$(base "$v")/layers/$DIGEST.qcow2"; done  # warm up
for r in $(seq 1 "$ROUNDS"); do
  for v in "${variants[@]}"; do
    echo "full-$v $(curl -s -f --cacert "$CERT" -o /dev/null -w '%{time_total}' "$(base "$v")/layers/$DIGEST.qcow2")"
    t0=$(now); curl -s -f -K "$W/ranges-$v.cfg"; t1=$(now); echo "ranges-$v $(echo "$t1 - $t0" | bc)"
  done
done > "$W/runs.txt"
cat "$W/runs.txt"
echo "medians over $ROUNDS round(s), layer of $SIZE bytes:"
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
for v in "${variants[@]}"; do
  m=$(awk -v k="full-$v" '$1==k{print $2}' "$W/runs.txt" | median)
  printf '  %-16s %6.3f s  %5.0f MB/s\n' "full-$v" "$m" "$(echo "$SIZE / $m / 1000000" | bc -l)"
  m=$(awk -v k="ranges-$v" '$1==k{print $2}' "$W/runs.txt" | median)
  printf '  %-16s %6.3f s  %5.0f requests/s\n' "ranges-$v" "$m" "$(echo "1000 / $m" | bc -l)"
done
