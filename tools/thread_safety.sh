#!/usr/bin/env bash
# thread_safety.sh: clang's thread-safety analysis (-Wthread-safety, see
# common/thread_annotations.h) over every source file of the tree, as a
# syntax-only pass with the flags of an existing build's
# compile_commands.json. Fails on the first warning.
#
#   bash tools/thread_safety.sh [BUILD_DIR]   # default: ./build
#   STRATA_JOBS=N                             # parallel clang runs (default 2)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$REPO/build}
JOBS=${STRATA_JOBS:-2}
DB=$BUILD/compile_commands.json
CLANG=${CLANGXX:-clang++}
# Only the thread-safety analysis (-beta checks the ACQUIRED_BEFORE/AFTER lock
# orders too): the build's other warnings (-Wall -Wextra -Werror) are GCC's
# business, and clang's differ.
FLAGS=(-fsyntax-only -Wthread-safety -Wthread-safety-beta -Werror=thread-safety -Werror=thread-safety-beta)

command -v "$CLANG" >/dev/null || { echo "thread_safety.sh: $CLANG not found (apt install clang)" >&2; exit 1; }
command -v jq >/dev/null || { echo "thread_safety.sh: jq not found" >&2; exit 1; }
[[ -f $DB ]] || { echo "thread_safety.sh: no $DB (configure the build first)" >&2; exit 1; }

# The check must be able to fail: a lock-free read of a guarded member warns.
probe=$(mktemp --suffix=.cc)
trap 'rm -f "$probe"' EXIT
cat >"$probe" <<'CC'
#include "common/mutex.h"
struct Probe {
  strata::Mutex mu;
  int n GUARDED_BY(mu) = 0;
  int Read() { return n; }
};
int main() { return Probe().Read(); }
CC
if "$CLANG" -std=c++20 -I"$REPO" "${FLAGS[@]}" "$probe" 2>/dev/null; then
  echo "thread_safety.sh: $CLANG does not report a known violation; the check is not working" >&2
  exit 1
fi

# One line per translation unit: "directory<TAB>command". The compiler (and
# a launcher such as ccache before it), -o OUT and -c are dropped.
check_one() {
  local dir=${1%%$'\t'*} cmd=${1#*$'\t'}
  eval "set -- $cmd"
  shift
  [[ ${1:-} == */c++ || ${1:-} == */g++ || ${1:-} == c++ || ${1:-} == g++ ]] && shift
  local args=() skip=0
  for a in "$@"; do
    if ((skip)); then skip=0; continue; fi
    case "$a" in
      -o) skip=1 ;;
      -c | -Werror | -Wall | -Wextra) ;;
      *) args+=("$a") ;;
    esac
  done
  (cd "$dir" && "$CLANG" "${args[@]}" "${FLAGS[@]}")
}
export -f check_one
export CLANG
export FLAGS_STR="${FLAGS[*]}"

mapfile -t UNITS < <(jq -r '.[] | select(.file | test("\\.cc$")) | "\(.directory)\t\(.command)"' "$DB")
echo "thread_safety.sh: ${#UNITS[@]} translation units, $CLANG, -j$JOBS"
if ! printf '%s\0' "${UNITS[@]}" |
  xargs -0 -P "$JOBS" -I{} bash -c 'FLAGS=($FLAGS_STR); check_one "$1"' _ {}; then
  echo "thread_safety.sh: thread-safety errors above" >&2
  exit 1
fi
echo "thread_safety.sh: no thread-safety warnings"
