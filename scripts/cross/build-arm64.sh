#!/usr/bin/env bash
# Cross-compiles the native addon for linux-arm64 (NEON through the portable-vector kernels) into
# native/prebuilt/linux-arm64/gptlab_native.node, against node-api-headers (no Node headers of the target needed).
#   scripts/cross/build-arm64.sh            needs: apt-get install -y g++-aarch64-linux-gnu; npm registry access
# libstdc++/libgcc are linked statically, so the addon needs only glibc on the target.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need aarch64-linux-gnu-g++ g++-aarch64-linux-gnu
HEADERS="$(fetch_npm node-api-headers "$HEADERS_VERSION")/include"
OUT="$ROOT/native/prebuilt/linux-arm64"
mkdir -p "$OUT"
start=$(date +%s)
files=(); for f in "${SOURCES_COMMON[@]}"; do files+=("$SRC/$f"); done
aarch64-linux-gnu-g++ "${CXXFLAGS_COMMON[@]}" -march=armv8-a -fPIC -shared -pthread -I"$HEADERS" "${files[@]}" \
  -static-libstdc++ -static-libgcc -Wl,--as-needed -Wl,-s -o "$OUT/gptlab_native.node"
echo "built $OUT/gptlab_native.node ($(( $(stat -c %s "$OUT/gptlab_native.node") / 1024 )) KB) in $(( $(date +%s) - start )) s"
