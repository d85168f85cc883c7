#!/usr/bin/env bash
# The live path under loss (issue 18), start to finish: for each speech material, a real-time
# call through the relay with the listener's leg losing 0 / 5 / 10 / 20 % both ways, next to
# plain libopus + FEC at the same loss, scored with PESQ-WB.
#
#   scripts/bench-live.sh [OUT_DIR]      (default target/bench-live)
#
# Materials (scripts/pesq_score.py prepare --material): espeak (formant synthesis), flite
# (concatenated from recordings of real speakers), alsa (natural recordings shipped by
# alsa-utils). Installs what is missing (apt: espeak-ng, flite, sox, alsa-utils; pip: pesq,
# numpy, scipy). Real time: about 2 minutes of speech per loss rate and seed and method, so
# the defaults (4 rates, 2 seeds, with the processing-off diagnostic) take about 35 minutes.
# MATERIALS, LOSSES and SEEDS override the defaults; extra bench arguments in LIVE_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bench-live}"
materials="${MATERIALS:-espeak flite alsa}"
losses="${LOSSES:-0,5,10,20}"
seeds="${SEEDS:-2}"
mkdir -p "$out"

step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
scripts/install-deps.sh espeak-ng flite sox alsa-utils
python=${PYTHON:-python3}
if ! "$python" -c "import pesq, numpy, scipy" 2>/dev/null; then
    echo "installing the Python packages: pesq numpy scipy"
    "$python" -m pip install --quiet numpy scipy
    "$python" -m pip install --quiet pesq
fi

step "build"
cargo bench --bench voice_live --no-run

for material in $materials; do
    dir="$out/$material"
    step "$material: speech"
    "$python" scripts/pesq_score.py prepare --out "$dir" --material "$material"
    step "$material: cargo bench --bench voice_live -- --speech $dir/reference.wav --out $dir --losses $losses --seeds $seeds ${LIVE_ARGS:-}"
    # shellcheck disable=SC2086
    cargo bench --bench voice_live -- --speech "$dir/reference.wav" --out "$dir" \
        --losses "$losses" --seeds "$seeds" ${LIVE_ARGS:-} | tee "$dir/live.txt"
    step "$material: PESQ-WB scoring"
    "$python" scripts/pesq_score.py score --dir "$dir" | tee "$dir/pesq.txt"
done

step "summary (full output in $out/*/)"
for material in $materials; do
    echo
    echo "## $material"
    grep -v '^  ' "$out/$material/pesq.txt" | grep -E '^\||^Live|^  |loss:' | grep -v ' n/a |$' || true
done
