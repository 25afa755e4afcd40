#!/usr/bin/env bash
# Starts (or stops) the outside services the tests use, on free loopback ports, never Docker:
#   a throw-away PostgreSQL cluster (Debian's postgresql, initdb as the postgres user) and
#   S3Proxy (Maven Central org.gaul:s3proxy, filesystem backend) as the S3-compatible store.
#
#   eval "$(bash .ci/services.sh start)"   # prints the exports below; also kept in $DIR/env
#   bash .ci/services.sh stop              # stops both and removes their data
#
# Exports: STRATA_TEST_PG_URL (a JDBC URL of an empty database, user postgres, no password),
# STRATA_TEST_S3_ENDPOINT (http://127.0.0.1:PORT, path-style), AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_REGION. Tests make their own bucket (and database schema) names.
set -euo pipefail
DIR=${STRATA_SERVICES_DIR:-/tmp/strata-services}
S3PROXY_VERSION=2.6.0

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

start() {
  stop >/dev/null 2>&1 || true
  mkdir -p "$DIR"; chmod 755 "$DIR"   # the postgres user must reach its cluster inside
  # PostgreSQL: a cluster of its own, trust auth on loopback only.
  local bin; bin=$(pg_bin)
  [ -n "$bin" ] || { echo "postgresql is not installed (apt-get install postgresql)" >&2; exit 1; }
  local pgport; pgport=$(free_port)
  mkdir -p "$DIR/pg"; chown postgres: "$DIR/pg"; chmod 700 "$DIR/pg"
  su postgres -s /bin/sh -c "'$bin/initdb' -D '$DIR/pg/data' -A trust -U postgres -E UTF8 >'$DIR/pg/initdb.log' 2>&1"
  su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$DIR/pg/data' -l '$DIR/pg/server.log' -w -t 60 \
      -o \"-p $pgport -k '$DIR/pg' -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off\" start >/dev/null"
  su postgres -s /bin/sh -c "'$bin/createdb' -h 127.0.0.1 -p $pgport strata_test"

  # S3Proxy, its jar from Maven Central through Maven's own cache.
  local jar="$HOME/.m2/repository/org/gaul/s3proxy/$S3PROXY_VERSION/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar"
  if [ ! -f "$jar" ]; then
    mvn -q -B dependency:get -Dartifact=org.gaul:s3proxy:$S3PROXY_VERSION:jar:jar-with-dependencies >/dev/null
  fi
  local s3port; s3port=$(free_port)
  mkdir -p "$DIR/s3/data"
  cat >"$DIR/s3/s3proxy.conf" <<CONF
s3proxy.endpoint=http://127.0.0.1:$s3port
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=strata-test
s3proxy.credential=strata-test-secret
jclouds.provider=filesystem
jclouds.filesystem.basedir=$DIR/s3/data
CONF
  nohup java -Xmx256m -jar "$jar" --properties "$DIR/s3/s3proxy.conf" >"$DIR/s3/server.log" 2>&1 &
  echo $! >"$DIR/s3/pid"
  for _ in $(seq 1 120); do
    curl -s -o /dev/null "http://127.0.0.1:$s3port/" && break
    sleep 0.5
  done
  curl -s -o /dev/null "http://127.0.0.1:$s3port/" || { echo "S3Proxy did not start; see $DIR/s3/server.log" >&2; exit 1; }

  cat >"$DIR/env" <<ENV
export STRATA_TEST_PG_URL='jdbc:postgresql://127.0.0.1:$pgport/strata_test?user=postgres'
export STRATA_TEST_S3_ENDPOINT='http://127.0.0.1:$s3port'
export AWS_ACCESS_KEY_ID='strata-test'
export AWS_SECRET_ACCESS_KEY='strata-test-secret'
export AWS_REGION='us-east-1'
ENV
  cat "$DIR/env"
}

stop() {
  local bin; bin=$(pg_bin)
  if [ -d "$DIR/pg/data" ] && [ -n "$bin" ]; then
    su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$DIR/pg/data' -m immediate -w stop" >/dev/null 2>&1 || true
  fi
  if [ -f "$DIR/s3/pid" ]; then
    kill "$(cat "$DIR/s3/pid")" 2>/dev/null || true
    sleep 1
    kill -9 "$(cat "$DIR/s3/pid")" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
