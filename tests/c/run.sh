#!/usr/bin/env bash
# Builds libvoipchat (debug), builds the C ABI test against include/voipchat.h and
# target/debug/libvoipchat.so, and runs it twice: plainly, then under valgrind (memcheck).
#
#   bash tests/c/run.sh            # from the repository root
#
# Environment:
#   VALGRIND_TIMEOUT_SCALE  multiplies the test's deadlines under valgrind (default 20)
#   SKIP_VALGRIND=1         plain run only
#
# Under valgrind only definite leaks and memory errors (invalid reads/writes, uninitialised
# values, bad frees) fail the run; "possibly lost" and "still reachable" blocks from Rust's
# thread-locals and runtimes are reported in the log but do not count as errors.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
build=tests/c/build
mkdir -p "$build"

echo "== cargo build"
cargo build

echo "== cc tests/c/test_abi.c"
cc -std=c11 -Wall -Wextra -Werror -g -O0 -I include \
    tests/c/test_abi.c -o "$build/test_abi" \
    -L target/debug -lvoipchat -lpthread -lm -Wl,-rpath,"$root/target/debug"
# The test must use the shared library (cdylib), found through the rpath.
# (ldd's whole output first: `ldd | grep -q` fails under pipefail when grep stops reading early.)
linked=$(ldd "$build/test_abi")
if ! grep -q "$root/target/debug/libvoipchat.so" <<<"$linked"; then
    echo "test_abi is not linked against $root/target/debug/libvoipchat.so:" >&2
    echo "$linked" >&2
    exit 1
fi

elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

echo "== plain run"
start=$(date +%s.%N)
plain=0
"$build/test_abi" || plain=$?
echo "== plain run: exit status $plain, $(elapsed "$start") s"

vg=0
if [[ "${SKIP_VALGRIND:-0}" != 1 ]]; then
    command -v valgrind >/dev/null || (apt-get update && apt-get install -y valgrind)
    supp=()
    if [[ -f tests/c/valgrind.supp ]]; then
        supp=(--suppressions=tests/c/valgrind.supp)
    fi
    log="$build/valgrind.log"
    echo "== valgrind run (log: $log)"
    start=$(date +%s.%N)
    VOIP_TEST_TIMEOUT_SCALE="${VALGRIND_TIMEOUT_SCALE:-20}" \
        valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
        --show-leak-kinds=definite --track-origins=yes --num-callers=40 \
        "${supp[@]}" --log-file="$log" "$build/test_abi" || vg=$?
    grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable" "$log" || true
    echo "== valgrind run: exit status $vg, $(elapsed "$start") s"
    if ! grep -q "ERROR SUMMARY: 0 errors" "$log"; then
        echo "valgrind found errors; see $log" >&2
        if [[ $vg -eq 0 ]]; then vg=1; fi
    fi
fi

if [[ $plain -ne 0 || $vg -ne 0 ]]; then
    echo "FAILED (plain: $plain, valgrind: $vg)" >&2
    exit 1
fi
echo "OK (plain and valgrind)"
