#!/usr/bin/env bash
# The Quick start demo: an embedded relay, four players talking in one room, then two in a video
# room; events printed, bob's audio and a few of his pictures written to files.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo run --release --example demo
