#!/usr/bin/env bash
# Build the agent as one release binary with the Swift runtime linked in (it then needs only
# libcurl4, libarchive13 and libsystemd0 at run time), strip it, and print its size.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.build/agent}
swift build -c release --product balctl-heartbeat --static-swift-stdlib
mkdir -p "$out"
cp .build/release/balctl-heartbeat "$out/balctl-heartbeat"
strip "$out/balctl-heartbeat"
ls -l "$out/balctl-heartbeat"
echo "shared libraries:"; ldd "$out/balctl-heartbeat" | awk '{print "  " $1}'
