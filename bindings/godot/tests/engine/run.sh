#!/usr/bin/env bash
# The binding inside a real Godot 4 engine (headless, Dummy audio driver):
#
#     bash bindings/godot/tests/engine/run.sh path/to/libvoipchat_godot.so
#
# 1. lays out a throwaway copy of demo/ with the library, voipchat.gdextension and this
#    folder's test scene, under bindings/godot/target/engine-test/;
# 2. opens it in the headless editor, which registers the GDExtension as it does for a user
#    opening the project, and fails on any extension or script error;
# 3. starts voipchat-server on a free loopback port and runs voip_test.tscn against it: two
#    VoipChat nodes join, talk and leave, a forged join fails with -1002 (see voip_test.gd);
# 4. runs the demo's main scene for a few hundred frames, failing on any script error;
# 5. shows the test bites: the same run with the entry symbol in the .gdextension renamed must
#    fail.
#
# Godot comes from scripts/install-godot.sh (Debian unstable's godot in a debootstrap root, run
# through chroot), or from GODOT=/path/to/godot4 when set.
set -euo pipefail

LIB=${1:?usage: run.sh path/to/libvoipchat_godot.so}
LIB=$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BINDING=$(cd "$HERE/../.." && pwd)
ROOT=$(cd "$BINDING/../.." && pwd)
WORK="$BINDING/target/engine-test"

say() { printf '%s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# Godot: a native Godot 4 binary given in GODOT, else the engine in the Debian unstable root.
if [[ -n "${GODOT:-}" ]]; then
    GODOT_CMD=("$GODOT")
else
    RUN_GODOT=$(bash "$BINDING/scripts/install-godot.sh")
    GODOT_CMD=("$RUN_GODOT" --share "$WORK")
fi
mkdir -p "$WORK"
say "engine: $("${GODOT_CMD[@]}" --headless --version 2>/dev/null | tail -n 1)"

# Lines that mean the engine hit an error (loading the extension or a script, running one),
# whatever the exit code.
ENGINE_ERRORS='^(ERROR|SCRIPT ERROR|USER ERROR):|Parse Error|Failed to load|Cannot get class'

# make_project DIR ENTRY_SYMBOL: the demo, the library and the test scene, in DIR.
make_project() {
    local dir=$1 entry=$2
    rm -rf "$dir"
    mkdir -p "$dir"
    cp -r "$BINDING/demo/." "$dir/"
    rm -rf "$dir/.godot" "$dir/addons/voipchat/bin"
    mkdir -p "$dir/addons/voipchat/bin/linux-x86_64/debug" "$dir/tests/engine"
    cp "$LIB" "$dir/addons/voipchat/bin/linux-x86_64/debug/"
    sed "s/^entry_symbol = .*/entry_symbol = \"$entry\"/" "$BINDING/voipchat.gdextension" \
        >"$dir/addons/voipchat/voipchat.gdextension"
    cp "$HERE/voip_test.gd" "$HERE/voip_test.tscn" "$dir/tests/engine/"
}

# import DIR: opens the project in the headless editor, which scans it, finds the extension,
# loads it and registers it in .godot/extension_list.cfg; fails on engine errors.
# Not `--import`: Godot 4.6.3 crashes (signal 11, "Index p_index = 1 is out of bounds") when
# it quits within about a second of loading an extension it has just found, with any
# godot-rust extension (a minimal one too, API 4.2 or 4.6), so the editor runs 600 frames
# (about 6 s here; it needs about 100) and then quits.
import() {
    local out code=0
    out=$(timeout 300 "${GODOT_CMD[@]}" --headless --editor --quit-after 600 --path "$1" 2>&1) || code=$?
    printf '%s\n' "$out" | sed 's/^/  | /'
    [[ $code -eq 0 ]] || { echo "the editor exited with $code"; return 1; }
    [[ -f "$1/.godot/extension_list.cfg" ]] || { echo "the editor registered no extension"; return 1; }
    if grep -Eq "$ENGINE_ERRORS" <<<"$out"; then echo "the editor reported errors"; return 1; fi
}

# relay: voipchat-server on a free loopback port; sets SERVER and CERT.
APP_ID=wxgodot
APP_SECRET=godot-engine-test-secret
RELAY_PID=""
RELAY_OUT=$(mktemp)
trap '[[ -n "$RELAY_PID" ]] && kill "$RELAY_PID" 2>/dev/null; rm -f "$RELAY_OUT"' EXIT
start_relay() {
    (cd "$ROOT" && cargo build --quiet --bin voipchat-server)
    "$ROOT/target/debug/voipchat-server" --listen 127.0.0.1:0 --app "$APP_ID:$APP_SECRET" \
        --log-level warn >"$RELAY_OUT" &
    RELAY_PID=$!
    for _ in $(seq 100); do
        [[ $(wc -l <"$RELAY_OUT") -ge 2 ]] && break
        sleep 0.1
    done
    SERVER=$(sed -n 's/^listening //p' "$RELAY_OUT")
    CERT=$(sed -n 's/^cert-sha256 //p' "$RELAY_OUT")
    [[ -n "$SERVER" && -n "$CERT" ]] || fail "voipchat-server did not start"
    say "relay: $SERVER"
}

# run_test DIR: the GDScript test scene; prints its checks; fails unless every check passed.
run_test() {
    local out code=0
    out=$(timeout 120 "${GODOT_CMD[@]}" --headless --audio-driver Dummy --path "$1" res://tests/engine/voip_test.tscn \
        -- --server="$SERVER" --cert="$CERT" --app-id="$APP_ID" --app-secret="$APP_SECRET" 2>&1) || code=$?
    printf '%s\n' "$out" | sed 's/^/  | /'
    [[ $code -eq 0 ]] || { echo "godot exited with $code"; return 1; }
    grep -Eq '^godot: [1-9][0-9]* passed, 0 failed$' <<<"$out" || { echo "no passing summary line"; return 1; }
    if grep -Eq "$ENGINE_ERRORS" <<<"$out"; then echo "the engine reported errors"; return 1; fi
}

started=$(date +%s)
say "== import the project (editor, headless)"
make_project "$WORK/project" gdext_rust_init
import "$WORK/project" || fail "Godot could not import the project with the extension"

say "== the GDScript test scene against voipchat-server"
start_relay
run_test "$WORK/project" || fail "the real-engine test failed"

say "== the demo's main scene runs"
code=0
out=$(timeout 120 "${GODOT_CMD[@]}" --headless --audio-driver Dummy --path "$WORK/project" --quit-after 300 2>&1) || code=$?
printf '%s\n' "$out" | sed 's/^/  | /'
[[ $code -eq 0 ]] || fail "the demo's main scene exited with $code"
if grep -Eq "$ENGINE_ERRORS" <<<"$out"; then fail "the demo's main scene reported errors"; fi

say "== the test bites: a .gdextension naming the wrong entry symbol must fail"
make_project "$WORK/broken" gdext_rust_init_renamed
BROKEN_LOG="$WORK/broken.log"
if import "$WORK/broken" >"$BROKEN_LOG" 2>&1 && run_test "$WORK/broken" >>"$BROKEN_LOG" 2>&1; then
    fail "the run passed with a broken extension (log: $BROKEN_LOG)"
fi
say "ok: a broken extension fails the run: $(grep -m1 -E '(ERROR|FAIL):' "$BROKEN_LOG" | sed 's/^  | //')"

say "real-engine test passed in $(( $(date +%s) - started )) s"
