#!/usr/bin/env bash
# Installs code-server (VS Code served to a browser; its extension host is plain Node 20) from the npm registry,
# offline apart from npm, into a cache folder keyed by version. See /work/shared/notes/vscode-e2e-offline.md.
#
#   scripts/e2e/install-code-server.sh            # prints the install directory on its last stdout line
#
# Env: GPTLAB_E2E_CACHE (default ~/.cache/gpt-lab-e2e), CODE_SERVER_VERSION (default 4.100.3).
# Needs (Debian): build-essential python3 pkg-config libkrb5-dev ripgrep   (and chromium to drive it).
# A plain `npm install code-server` fails offline: @vscode/ripgrep downloads from GitHub, node-pty runs `npx node-gyp`,
# argon2's prebuilt download fails, kerberos needs libkrb5-dev. So it is installed in stages with scripts off, then
# rebuilt from source. A marker file is written only after every stage succeeded; without it the folder is redone.
set -euo pipefail

VERSION="${CODE_SERVER_VERSION:-4.100.3}"
CACHE="${GPTLAB_E2E_CACHE:-$HOME/.cache/gpt-lab-e2e}"
DEST="$CACHE/code-server-$VERSION"
MARKER="$DEST/.installed"
ENTRY="$DEST/node_modules/code-server/out/node/entry.js"

log() { printf '[install-code-server] %s\n' "$*" >&2; }

if [[ -f "$MARKER" && -f "$ENTRY" ]]; then
  log "cached: $DEST ($(cat "$MARKER"))"
  echo "$DEST"
  exit 0
fi

for tool in node npm rg make g++ python3; do
  command -v "$tool" >/dev/null || { log "missing '$tool' (apt-get install -y build-essential python3 ripgrep)"; exit 1; }
done
if ! [[ -f /usr/include/krb5.h || -f /usr/include/gssapi/gssapi.h ]]; then
  log "missing Kerberos headers (apt-get install -y libkrb5-dev)"; exit 1
fi

# node-gyp (argon2, kerberos, spdlog, node-pty, native-watchdog) needs Node's headers; it downloads them from
# nodejs.org unless nodedir names a local copy. The Debian/nodesource `nodejs` package ships them in /usr/include/node.
if [[ -z "${npm_config_nodedir:-}" && -z "$(npm config get nodedir 2>/dev/null | grep -v '^undefined$' || true)" ]]; then
  NODE_PREFIX="$(dirname "$(dirname "$(command -v node)")")"
  if [[ -f "$NODE_PREFIX/include/node/common.gypi" ]]; then
    export npm_config_nodedir="$NODE_PREFIX"
  else
    log "note: no Node headers in $NODE_PREFIX/include/node; node-gyp will try to download them from nodejs.org"
  fi
fi

START=$SECONDS
stage() { log "$(printf '%4ds' $((SECONDS - START))) $*"; }

log "installing code-server $VERSION into $DEST (first run only; a few minutes)"
rm -rf "$DEST"
mkdir -p "$DEST"
cd "$DEST"
echo '{"name":"gpt-lab-e2e-code-server","private":true}' > package.json

export npm_config_yes=true          # node-pty's install runs `npx node-gyp`; npm's default yes=false cancels it
export npm_config_unsafe_perm=true  # root in CI containers
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
NPM_QUIET=(--no-audit --no-fund --loglevel=error)

stage "npm install --ignore-scripts code-server@$VERSION"
npm install "${NPM_QUIET[@]}" --ignore-scripts "code-server@$VERSION"

stage "npm rebuild argon2 (compiles from source)"
npm rebuild "${NPM_QUIET[@]}" argon2

VS="$DEST/node_modules/code-server/lib/vscode"
cd "$VS"
stage "lib/vscode: npm install --omit=dev --ignore-scripts"
npm install "${NPM_QUIET[@]}" --omit=dev --ignore-scripts

stage "lib/vscode: ripgrep from the system ($(command -v rg))"
mkdir -p node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg

stage "lib/vscode: npm rebuild (kerberos, spdlog, node-pty, native-watchdog; ~2 min)"
npm rebuild "${NPM_QUIET[@]}"

ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sfn code-linux.sh code-server)
(cd bin/helpers && ln -sfn browser-linux.sh browser.sh)

stage "lib/vscode/extensions: npm install --omit=dev"
(cd extensions && npm install "${NPM_QUIET[@]}" --omit=dev)

stage "smoke test: code-server --version"
# (its own XDG dirs: `code-server --version` writes a default config.yaml)
SMOKE="$(mktemp -d)"
XDG_CONFIG_HOME="$SMOKE" XDG_DATA_HOME="$SMOKE" node "$ENTRY" --version >&2
rm -rf "$SMOKE"

echo "code-server $VERSION installed $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - START))s" > "$MARKER"
stage "done"
echo "$DEST"
