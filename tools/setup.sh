#!/usr/bin/env bash
# setup.sh: install the build + test dependencies (Debian 12, as root) and
# build strata. Idempotent: apt only runs when a package is missing.
#
#   bash tools/setup.sh          # deps + ./build (RelWithDebInfo)
#   bash tools/setup.sh --asan   # ... + ./build-asan (ASan/UBSan, unit tests only)
#   STRATA_JOBS=N                # parallel build jobs (default 2)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${STRATA_JOBS:-2}
ASAN=0
for a in "$@"; do
  case "$a" in
    --asan) ASAN=1 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

say() { printf '==> %s\n' "$*"; }

PACKAGES=(
  build-essential cmake pkg-config git
  libfuse3-dev fuse3 librocksdb-dev libzstd-dev libxxhash-dev libssl-dev
  libcurl4-openssl-dev libpq-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libmicrohttpd-dev curl
  libgtest-dev libgmock-dev libbenchmark-dev libpugixml-dev
  postgresql-15 postgresql-contrib clang-format clang
  jq procps util-linux iproute2 kmod perl ca-certificates openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  say "installing: ${missing[*]}"
  if [[ $(id -u) != 0 ]]; then
    echo "setup.sh: missing packages (${missing[*]}); run as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # The postgresql-15 package may create and start a default cluster on port
  # 5432; we leave it alone and never use that port.
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "all packages present"
fi

# s3rver (tests/s3rver): the local S3 server of the s3:// tests, and the MCP
# SDK of tests/integration/mcp.sh (tests/mcp). Debian's nodejs + npm (node
# 18) are enough; a node already on PATH is used as it is.
if ! command -v node >/dev/null; then
  if [[ $(id -u) != 0 ]]; then
    echo "setup.sh: node is missing (for tests/s3rver and tests/mcp); run as root" >&2
    exit 1
  fi
  say "installing: nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends nodejs npm || {
    apt-get update -q
    apt-get install -y -q --no-install-recommends nodejs npm
  }
fi
command -v npm >/dev/null || { echo "setup.sh: node is installed but npm is not" >&2; exit 1; }
S3RVER=$REPO/tests/s3rver
# Reinstalled (and re-patched) whenever the lock file or the patch changes.
s3rver_stamp=$(cat "$S3RVER/package-lock.json" "$S3RVER/patch-s3rver.js" | sha256sum | cut -d' ' -f1)
if [[ $(cat "$S3RVER/node_modules/.strata-stamp" 2>/dev/null) != "$s3rver_stamp" ]]; then
  say "npm ci in tests/s3rver"
  (cd "$S3RVER" && npm ci --no-audit --no-fund --loglevel=error)
  node "$S3RVER/patch-s3rver.js"
  echo "$s3rver_stamp" >"$S3RVER/node_modules/.strata-stamp"
else
  say "s3rver present"
fi
# tests/mcp: the official MCP TypeScript SDK, the client of
# tests/integration/mcp.sh (which runs the same npm ci when the lock changed).
MCP_TESTS=$REPO/tests/mcp
mcp_stamp=$(sha256sum <"$MCP_TESTS/package-lock.json" | cut -d' ' -f1)
if [[ $(cat "$MCP_TESTS/node_modules/.strata-stamp" 2>/dev/null) != "$mcp_stamp" ]]; then
  say "npm ci in tests/mcp"
  (cd "$MCP_TESTS" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$mcp_stamp" >"$MCP_TESTS/node_modules/.strata-stamp"
else
  say "MCP SDK present"
fi

# FUSE: the kernel module / device node.
if [[ ! -e /dev/fuse ]]; then
  modprobe fuse 2>/dev/null || true
fi
if [[ ! -e /dev/fuse && $(id -u) == 0 ]]; then
  mknod -m 0666 /dev/fuse c 10 229 2>/dev/null || true
fi
if [[ -e /dev/fuse ]]; then
  say "/dev/fuse present"
else
  echo "setup.sh: WARNING: /dev/fuse is missing (modprobe fuse failed); mounts will not work" >&2
fi

# configure_build DIR TARGET CMAKE_ARGS...: configure DIR, then build TARGET.
configure_build() {
  local dir=$1 target=$2
  shift 2
  say "configure $dir $*"
  cmake -S "$REPO" -B "$REPO/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  say "build $dir, target $target (-j$JOBS)"
  cmake --build "$REPO/$dir" -j "$JOBS" --target "$target"
}

configure_build build all -DSTRATA_SANITIZE=OFF -DSTRATA_INTEGRATION=ON
if ((ASAN)); then
  # Only the unit tests run under the sanitizers.
  configure_build build-asan unit_tests -DSTRATA_SANITIZE=ON -DSTRATA_INTEGRATION=OFF
fi
say "done"
