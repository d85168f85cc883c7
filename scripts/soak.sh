#!/usr/bin/env bash
# The soak (issue 17, docs/robustness.md): a 10-member room in real time, the relay in its own
# process, 1 % clock drift between members; MINUTES of it (60 by default). Not in CI: it needs
# the machine to itself for the whole run (no builds, tests or other benches beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec cargo bench --bench soak -- --minutes "${MINUTES:-60}" --members "${MEMBERS:-10}" \
    --drift-pct "${DRIFT_PCT:-1.0}"
