#!/usr/bin/env bash
# Rebuilds samples/layers/: a real three-layer qcow2 chain (base <- mid <- top) made the way a
# publisher makes one with qemu-img, then rewritten to Strata's backing-name convention
# (DESIGN.md §1): each child's backing_file becomes "<parent-sha256>.qcow2", format qcow2.
#
#   samples/make-samples.sh        needs qemu-img and qemu-io (Debian: qemu-utils)
#
# The layers are small (a few hundred KiB) so they can live in git. Their sha256s change whenever
# they are rebuilt, so images.json is rewritten too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# 1. A local chain with local names, as a publisher builds it.
qemu-img create -q -f qcow2 base.qcow2 1G
qemu-io -f qcow2 -c "write -q -P 0x42 0 256k" -c "write -q -P 0x43 512M 64k" base.qcow2
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2
qemu-io -f qcow2 -c "write -q -P 0x4d 64k 128k" mid.qcow2
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2
qemu-io -f qcow2 -c "write -q -P 0x54 1M 128k" -c "write -q -z 0 64k" top.qcow2
qemu-img check -q base.qcow2 && qemu-img check -q mid.qcow2 && qemu-img check -q top.qcow2

# 2. Canonical names, base first: a child's id covers its parent's id, so the order matters.
sha() { sha256sum "$1" | cut -d' ' -f1; }
base=$(sha base.qcow2)
qemu-img rebase -u -F qcow2 -b "$base.qcow2" mid.qcow2
mid=$(sha mid.qcow2)
qemu-img rebase -u -F qcow2 -b "$mid.qcow2" top.qcow2
top=$(sha top.qcow2)
mv base.qcow2 "$base.qcow2"; mv mid.qcow2 "$mid.qcow2"; mv top.qcow2 "$top.qcow2"

# 3. The chain opens locally with no rewriting, exactly as it will from the registry.
qemu-img info --backing-chain "$top.qcow2" | grep -c '^image:' | grep -qx 3

rm -rf "$here/layers"; mkdir -p "$here/layers"
cp "$base.qcow2" "$mid.qcow2" "$top.qcow2" "$here/layers/"
cat > "$here/images.json" <<JSON
[
  {"os": "strata-demo", "release": "1", "arch": "amd64", "variant": "minimal", "version": "20261122_0000",
   "layer": "$mid", "aliases": ["strata-demo/1/minimal"],
   "release_title": "Strata demo 1 (minimal)",
   "description": "Two-layer sample image: a base and one child layer, made by samples/make-samples.sh.",
   "properties": {"made_by": "samples/make-samples.sh"}},
  {"os": "strata-demo", "release": "1", "arch": "amd64", "variant": "full", "version": "20261122_0000",
   "layer": "$top", "aliases": ["strata-demo/1", "strata-demo/latest"],
   "release_title": "Strata demo 1",
   "description": "Three-layer sample image sharing its two lower layers with the minimal variant.",
   "properties": {"made_by": "samples/make-samples.sh"}}
]
JSON
echo "base $base"; echo "mid  $mid"; echo "top  $top"
ls -l "$here/layers"
