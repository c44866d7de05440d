#!/usr/bin/env bash
# Cross-compiles the native addon for win32-x64 with mingw-w64 into native/prebuilt/win32-x64/gptlab_native.node.
# N-API comes from node-api-headers: its headers, and an import library made from its def files (NAME NODE.EXE) with
# dlltool. The import is delay-loaded and redirected to the host executable (native/src/win_delay_load_hook.cc, as
# node-gyp does for MSVC), so the addon also loads in Electron (VS Code's Code.exe), which exports N-API itself.
#   scripts/cross/build-win32.sh            needs: apt-get install -y g++-mingw-w64-x86-64-posix; npm registry access
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need x86_64-w64-mingw32-g++-posix g++-mingw-w64-x86-64-posix
need x86_64-w64-mingw32-dlltool binutils-mingw-w64-x86-64
PKG="$(fetch_npm node-api-headers "$HEADERS_VERSION")"
OUT="$ROOT/native/prebuilt/win32-x64"
BUILD="$CACHE/build-win32"
mkdir -p "$OUT" "$BUILD"
start=$(date +%s)
cat "$PKG/def/js_native_api.def" <(grep -v -E '^(NAME|EXPORTS)' "$PKG/def/node_api.def") > "$BUILD/node_api.def"
x86_64-w64-mingw32-dlltool -d "$BUILD/node_api.def" -D node.exe -y "$BUILD/libnode_delay.a"
files=(); for f in "${SOURCES_COMMON[@]}" "${SOURCES_X86[@]}" win_delay_load_hook.cc; do files+=("$SRC/$f"); done
x86_64-w64-mingw32-g++-posix "${CXXFLAGS_COMMON[@]}" -shared -I"$PKG/include" "${files[@]}" \
  -static -static-libgcc -static-libstdc++ "$BUILD/libnode_delay.a" -Wl,-s -o "$OUT/gptlab_native.node"
echo "built $OUT/gptlab_native.node ($(( $(stat -c %s "$OUT/gptlab_native.node") / 1024 )) KB) in $(( $(date +%s) - start )) s"
