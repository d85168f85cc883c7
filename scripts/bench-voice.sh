#!/usr/bin/env bash
# The voice benchmarks of BENCHMARKS.md, start to finish: mouth-to-ear latency, CPU per
# speaker and per client, bits on the wire, and PESQ under packet loss against plain Opus.
#
#   scripts/bench-voice.sh [OUT_DIR]      (default target/bench-voice)
#
# Installs what is missing (apt: espeak-ng, sox; pip: pesq, numpy, scipy; and the build's own
# packages through install-deps.sh), then runs, one after the other so they do not compete for
# the CPU: cargo bench --bench voice_latency, voice_cpu, voice_quality, and the PESQ scoring.
# Every bench's full output is kept in OUT_DIR/*.txt; the summary tables are printed at the end.
# Takes about 25 minutes. Extra arguments for each bench can be given in LATENCY_ARGS,
# CPU_ARGS and QUALITY_ARGS (e.g. QUALITY_ARGS="--seeds 2 --realtime-reps 0").
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bench-voice}"
mkdir -p "$out"

step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
scripts/install-deps.sh espeak-ng sox
python=${PYTHON:-python3}
if ! "$python" -c "import pesq, numpy, scipy" 2>/dev/null; then
    echo "installing the Python packages: pesq numpy scipy"
    "$python" -m pip install --quiet numpy scipy
    "$python" -m pip install --quiet pesq
fi

step "speech: espeak-ng, Harvard sentences, 48 kHz"
"$python" scripts/pesq_score.py prepare --out "$out"

step "build"
cargo bench --bench voice_latency --bench voice_cpu --bench voice_quality --no-run

step "cargo bench --bench voice_latency -- ${LATENCY_ARGS:-}"
# shellcheck disable=SC2086
cargo bench --bench voice_latency -- ${LATENCY_ARGS:-} | tee "$out/latency.txt"

step "cargo bench --bench voice_cpu -- --speech $out/reference.wav ${CPU_ARGS:-}"
# shellcheck disable=SC2086
cargo bench --bench voice_cpu -- --speech "$out/reference.wav" ${CPU_ARGS:-} | tee "$out/cpu.txt"

step "cargo bench --bench voice_quality -- --speech $out/reference.wav --out $out ${QUALITY_ARGS:-}"
# shellcheck disable=SC2086
cargo bench --bench voice_quality -- --speech "$out/reference.wav" --out "$out" ${QUALITY_ARGS:-} | tee "$out/quality.txt"

step "PESQ-WB scoring"
"$python" scripts/pesq_score.py score --dir "$out" | tee "$out/pesq.txt"

step "summary (full output in $out/*.txt)"
# Each bench ends with its tables: print from the first summary heading on.
sed -n '/^Real time, per config and phase/,$p' "$out/latency.txt"
echo
sed -n '/^Summary/,$p' "$out/cpu.txt"
echo
sed -n '/^PESQ-WB/,$p' "$out/pesq.txt"
