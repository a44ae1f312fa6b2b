#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it (Debian 12, root, 2 cores).
#   1. setup.sh --asan (deps, ./build and ./build-asan)
#   2. clang-format --dry-run --Werror on every tracked .cc/.h
#   3. clang -Wthread-safety over the tree (tools/thread_safety.sh)
#   4. unit tests under ASan/UBSan (build-asan, ctest -L unit)
#   5. unit + integration tests (build, ctest)
# Exits non-zero on the first failing step.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
JOBS=${STRATA_JOBS:-2}
START=$(date +%s)
step() { printf '\n==== [%4ds] %s\n' $(($(date +%s) - START)) "$*"; }

step "setup + build (RelWithDebInfo and ASan)"
bash tools/setup.sh --asan

step "clang-format --dry-run --Werror"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t SOURCES < <(git ls-files '*.cc' '*.h')
else
  mapfile -t SOURCES < <(find . -path ./build -prune -o -path ./build-asan -prune -o \
    -path ./.git -prune -o \( -name '*.cc' -o -name '*.h' \) -print)
fi
if ((${#SOURCES[@]})); then
  clang-format --dry-run --Werror "${SOURCES[@]}"
  echo "${#SOURCES[@]} files formatted correctly"
else
  echo "no sources to check"
fi

step "clang -Wthread-safety (tools/thread_safety.sh)"
bash tools/thread_safety.sh build

step "unit tests under ASan/UBSan (build-asan)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir build-asan --output-on-failure -L unit -j "$JOBS" --no-tests=error

step "unit + integration tests (build)"
unset ASAN_OPTIONS UBSAN_OPTIONS
ctest --test-dir build --output-on-failure -j "$JOBS" --no-tests=error

step "all tests passed"
