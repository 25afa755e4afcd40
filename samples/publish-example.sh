#!/usr/bin/env bash
# Publishing by hand with qemu-img and curl, step by step: what `strata push` automates.
#
#   REGISTRY=http://127.0.0.1:8080 STRATA_TOKEN=<token with push,publish> samples/publish-example.sh
#
# 1. builds a two-layer chain the usual way (local names), 2. rewrites each child's backing name
# to Strata's convention (<parent-sha256>.qcow2), 3. uploads the base in one request and the
# child with the resumable API in two chunks, 4. publishes the image with aliases, 5. reads it back.
# The token reaches curl through a private header file, never the command line.
set -euo pipefail
REGISTRY=${REGISTRY:-http://127.0.0.1:8080}
: "${STRATA_TOKEN:?set STRATA_TOKEN to a token with the push and publish scopes (strata token create --scope push,publish)}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
auth=$work/auth.header; (umask 077; printf 'Authorization: Bearer %s\n' "$STRATA_TOKEN" > "$auth")
cd "$work"

# 1. A local chain, as a publisher makes it.
qemu-img create -q -f qcow2 base.qcow2 256M
qemu-io -f qcow2 -c "write -q -P 0x61 0 1M" base.qcow2
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 app.qcow2
qemu-io -f qcow2 -c "write -q -P 0x62 1M 1M" app.qcow2

# 2. Canonical backing names, base first (a child's id covers its parent's).
base=$(sha256sum base.qcow2 | cut -d' ' -f1)
qemu-img rebase -u -F qcow2 -b "$base.qcow2" app.qcow2
app=$(sha256sum app.qcow2 | cut -d' ' -f1)
echo "base layer $base"; echo "app layer  $app"

# 3a. The base in one request: 201 when new, 200 when the registry already has it.
curl -sS -f -o /dev/null -w 'PUT base -> %{http_code}\n' -H @"$auth" -T base.qcow2 "$REGISTRY/api/v1/layers/$base"

# 3b. The child with the resumable API: start, two chunks, ask the offset, finish with the digest.
location=$(curl -sS -f -D - -o /dev/null -X POST -H @"$auth" "$REGISTRY/api/v1/uploads" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
size=$(stat -c %s app.qcow2); half=$((size / 2))
head -c "$half" app.qcow2 > part1; tail -c +$((half + 1)) app.qcow2 > part2
curl -sS -f -o /dev/null -w 'PATCH 1 -> %{http_code}\n' -X PATCH -H @"$auth" -H "Content-Range: bytes 0-$((half - 1))/*" --data-binary @part1 "$REGISTRY$location"
offset=$(curl -sS -f -D - -o /dev/null -H @"$auth" "$REGISTRY$location" | tr -d '\r' | awk 'tolower($1)=="upload-offset:"{print $2}')
echo "the registry holds $offset bytes of $size"
curl -sS -f -o /dev/null -w 'PATCH 2 -> %{http_code}\n' -X PATCH -H @"$auth" -H "Content-Range: bytes $offset-$((size - 1))/*" --data-binary @part2 "$REGISTRY$location"
curl -sS -f -o /dev/null -w 'PUT ?digest -> %{http_code}\n' -X PUT -H @"$auth" "$REGISTRY$location?digest=sha256:$app"

# 4. Publish the image: product example:1:amd64:app, version serial now, two aliases.
version=$(date -u +%Y%m%d_%H%M)
curl -sS -f -o /dev/null -w 'POST image -> %{http_code}\n' -H @"$auth" -H 'Content-Type: application/json' --data @- "$REGISTRY/api/v1/images" <<JSON
{"os": "example", "release": "1", "arch": "amd64", "variant": "app", "version": "$version", "layer": "$app",
 "aliases": ["example/1", "example/latest"], "release_title": "Example 1",
 "description": "Published by samples/publish-example.sh", "properties": {"source": "publish-example"}}
JSON

# 5. Read it back: the image by alias, its chain straight from the registry with qemu-img.
curl -sS -f "$REGISTRY/api/v1/images/example/latest"; echo
qemu-img info --backing-chain "$REGISTRY/layers/$app.qcow2" | grep -E '^(image|backing file):'
