#!/usr/bin/env bash
# The test command (README, CI): formatting, lints, the generated header, the Rust tests,
# the C ABI test (plain and under valgrind), a short run of every fuzz target, the Unity and
# Godot bindings, and the C example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "build (regenerates include/voipchat.h)"
cargo build --all-targets
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    if ! git diff --exit-code -- include/voipchat.h; then
        echo "include/voipchat.h is stale: build, then commit the regenerated header." >&2
        exit 1
    fi
fi

step "cargo clippy"
cargo clippy --all-targets -- -D warnings

step "Rust tests"
cargo test

step "cpal device path against a PulseAudio null sink"
bash tests/audio_device.sh

step "C ABI test (plain, then valgrind)"
bash tests/c/run.sh

step "fuzz targets, 60 s each (scripts/fuzz.sh: cargo fuzz, AddressSanitizer)"
bash scripts/fuzz.sh 60

step "Unity binding (P/Invoke check, Mono test against the built library)"
bash bindings/unity/test.sh

step "Godot binding (build, exported entry symbol, unit tests, Godot file checks)"
bash bindings/godot/test.sh

step "C example"
mkdir -p target/c
cc -std=c11 -Wall -Wextra -Werror -I include examples/c/join_room.c \
    -L target/debug -lvoipchat -Wl,-rpath,"$PWD/target/debug" -o target/c/join_room
target/c/join_room --seconds 0.5

step "all checks passed"
