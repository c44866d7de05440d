# Shared by scripts/cross/*.sh: the project root, the npm cache of cross-platform Node builds and headers, and
# fetch_npm (npm pack into the cache, never into the project's node_modules).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${GPTLAB_CROSS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gptlab-cross}"
NODE_VERSION="${GPTLAB_CROSS_NODE:-20.20.2}"
HEADERS_VERSION="${GPTLAB_NODE_API_HEADERS:-1.9.0}"
SRC="$ROOT/native/src"
# The addon's sources for a non-x86 target or any target: the AVX TUs only exist on x86-64.
SOURCES_COMMON=(addon.cc runtime.cc gpt.cc gpt_napi.cc gemm_generic.cc)
SOURCES_X86=(gemm_avx2.cc gemm_avx512.cc)
CXXFLAGS_COMMON=(-O3 -std=gnu++17 -ffp-contract=fast -fno-math-errno -DNAPI_VERSION=8 -fvisibility=hidden)

# fetch_npm NAME VERSION -> prints the unpacked package folder (CACHE/NAME-VERSION/package; a scope's @ and / become
# part of the folder name)
fetch_npm() {
  local name="$1" version="$2" dir="$CACHE/${1//[@\/]/_}-$2"
  if [ ! -d "$dir/package" ]; then
    mkdir -p "$dir"
    # npm pack names the tarball without the scope's @ and with - for /; there is only that one tarball in the folder.
    (cd "$dir" && npm pack "$name@$version" --silent >/dev/null && tar xzf ./*.tgz && rm -f ./*.tgz)
  fi
  echo "$dir/package"
}

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "missing $1: apt-get install -y $2" >&2; exit 3; }
}
