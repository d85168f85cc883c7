#!/usr/bin/env bash
# The Quick start demo: an embedded relay and four players joining one room, events printed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo run --release --example demo
