#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses of the pure C++ parsers.
#
#   npm run fuzz                      # every harness, FUZZ_SECONDS each
#   FUZZ_SECONDS=300 npm run fuzz
#   FUZZ_TARGETS=blob npm run fuzz    # a subset (space-separated: blob lease)
#
# Each harness is built with clang++ -fsanitize=fuzzer,address,undefined
# from the parser sources only (no OpenSSL, no N-API) into native/fuzz/out/
# and run for FUZZ_SECONDS (default 30) with -max_total_time. New inputs go
# to native/fuzz/out/corpus/<name>/ (the committed seeds stay untouched);
# a crash leaves its input in native/fuzz/out/artifacts/ and makes this
# script exit non-zero.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
FUZZ_TARGETS="${FUZZ_TARGETS:-blob lease}"
OUT="native/fuzz/out"

if ! [[ "$FUZZ_SECONDS" =~ ^[0-9]+$ ]] || [ "$FUZZ_SECONDS" -lt 1 ]; then
  echo "run.sh: FUZZ_SECONDS must be a positive integer (got '$FUZZ_SECONDS')" >&2
  exit 2
fi

# Sources of each harness besides its own file: parsers only.
sources_for() {
  case "$1" in
    blob) echo "native/blob.cc" ;;
    lease) echo "native/lease_message.cc native/blob.cc" ;;
    *) echo "run.sh: unknown fuzz target '$1' (known: blob lease)" >&2; return 1 ;;
  esac
}

find_clang() {
  local c
  for c in clang++ clang++-19 clang++-16 clang++-14; do
    if command -v "$c" >/dev/null 2>&1; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

# True if $1 can link a libFuzzer binary (clang alone lacks the runtime:
# on Debian 12 libclang_rt.fuzzer comes from libclang-rt-14-dev).
can_fuzz() {
  local probe
  probe="$(mktemp -d)"
  printf '#include <cstdint>\n#include <cstddef>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' \
    >"$probe/probe.cc"
  if "$1" -fsanitize=fuzzer,address,undefined -std=c++20 "$probe/probe.cc" -o "$probe/probe" >/dev/null 2>&1; then
    rm -rf "$probe"
    return 0
  fi
  rm -rf "$probe"
  return 1
}

CXX_FUZZ="$(find_clang || true)"
if [ -z "$CXX_FUZZ" ] || ! can_fuzz "$CXX_FUZZ"; then
  if [ "$(id -u)" = "0" ] && [ "${CI:-}" = "true" ] && command -v apt-get >/dev/null 2>&1; then
    echo "run.sh: installing clang and the libFuzzer runtime (CI, root)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
    CXX_FUZZ="$(find_clang || true)"
  fi
  if [ -z "$CXX_FUZZ" ] || ! can_fuzz "$CXX_FUZZ"; then
    cat >&2 <<'MSG'
run.sh: clang with libFuzzer is required and was not found.
  Debian 12 / Ubuntu:  sudo apt-get install clang libclang-rt-14-dev
  (libclang-rt-14-dev provides libclang_rt.fuzzer-x86_64.a; with another
  clang version install the matching libclang-rt-<N>-dev)
MSG
    exit 1
  fi
fi
echo "run.sh: using $("$CXX_FUZZ" --version | head -n 1)"

mkdir -p "$OUT/artifacts"

build() {
  local name="$1" srcs
  srcs="$(sources_for "$name")"
  echo "== build fuzz_$name"
  # shellcheck disable=SC2086  # srcs is a list of paths without spaces
  "$CXX_FUZZ" -g -O1 -std=c++20 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    -I native "native/fuzz/fuzz_$name.cc" $srcs -o "$OUT/fuzz_$name"
}

run() {
  local name="$1"
  local log="$OUT/fuzz_$name.log" rc=0
  mkdir -p "$OUT/corpus/$name"
  echo "== run fuzz_$name for ${FUZZ_SECONDS}s"
  # The first corpus directory receives new inputs; the seeds are read only.
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$OUT/fuzz_$name" -max_total_time="$FUZZ_SECONDS" -max_len=512 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$name-" \
    "$OUT/corpus/$name" "native/fuzz/corpus/$name" >"$log" 2>&1 || rc=$?
  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added)' "$log" || true
  if [ "$rc" -ne 0 ]; then
    echo "run.sh: fuzz_$name FAILED (exit $rc); last lines of $log:" >&2
    tail -n 40 "$log" >&2
    return "$rc"
  fi
  echo "fuzz_$name: no crash in ${FUZZ_SECONDS}s"
}

status=0
for t in $FUZZ_TARGETS; do
  sources_for "$t" >/dev/null
  build "$t"
done
for t in $FUZZ_TARGETS; do
  run "$t" || status=1
done
if [ "$status" -ne 0 ]; then
  echo "run.sh: at least one harness crashed; reproduce with $OUT/fuzz_<name> $OUT/artifacts/<file>" >&2
fi
exit "$status"
