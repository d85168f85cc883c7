#!/usr/bin/env bash
# Runs the libFuzzer targets in fuzz/ (cargo fuzz, AddressSanitizer) for a while each:
#
#     scripts/fuzz.sh                 # every target, 60 s each (what scripts/test.sh runs)
#     scripts/fuzz.sh 3600            # the long run: an hour each
#     scripts/fuzz.sh 600 c_abi       # some targets only
#     FUZZ_RUNS=10000000 scripts/fuzz.sh 7200 media_datagram   # stop at 10 million inputs
#
# Each target starts from the committed seed corpus (fuzz/corpus/<target>/, written by
# `cargo run --bin seed_corpus` in fuzz/ from real encoder output) plus what earlier runs on
# this machine found (fuzz/target/corpus/<target>/, not committed). A crash, a hang (over 10 s
# for one input), a leak or an ASan report fails the run and leaves the input in
# fuzz/artifacts/<target>/; reproduce it with
#     RUSTC_BOOTSTRAP=1 cargo fuzz run -O <target> fuzz/artifacts/<target>/<file>   (in fuzz/)
# and keep it: copy it into fuzz/corpus/<target>/ once fixed, so every later run replays it.
#
# cargo fuzz needs a nightly compiler for -Zsanitizer; this machine has only the stable
# toolchain (and can fetch no other), so RUSTC_BOOTSTRAP=1 lets stable rustc take the flag. Its
# AddressSanitizer runtime ships with the stable toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
CARGO_FUZZ_VERSION=0.13.2

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

cd fuzz
export RUSTC_BOOTSTRAP=1
cargo fmt --check
cargo fuzz build -O
if [[ ${#TARGETS[@]} -eq 0 ]]; then
    mapfile -t TARGETS < <(cargo fuzz list)
fi

passed=0
failed=0
for target in "${TARGETS[@]}"; do
    [[ "$target" == seed_corpus ]] && continue
    found="target/corpus/$target"
    mkdir -p "$found" "corpus/$target" "artifacts/$target"
    log="target/fuzz-$target.log"
    printf '\n-- %s: %s s%s\n' "$target" "$SECONDS_EACH" "${FUZZ_RUNS:+ or $FUZZ_RUNS inputs}"
    limits=(-max_total_time="$SECONDS_EACH")
    [[ -n "${FUZZ_RUNS:-}" ]] && limits+=(-runs="$FUZZ_RUNS")
    if cargo fuzz run -O "$target" "$found" "corpus/$target" -- \
        "${limits[@]}" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        >"$log" 2>&1; then
        # libFuzzer's final stats: how many inputs ran, how fast, how much it covered.
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1)
        echo "ok: $target: $runs inputs ($speed/s), $cov, no crash"
        passed=$((passed + 1))
    else
        grep -E 'ERROR|panicked|SUMMARY|Test unit written' "$log" | head -n 20 || tail -n 30 "$log"
        echo "FAIL: $target (full log: fuzz/$log)"
        failed=$((failed + 1))
    fi
done
echo
echo "fuzz: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
