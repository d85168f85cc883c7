#!/usr/bin/env bash
# The Godot binding's test command. Run it from the repository root:
#
#     bash bindings/godot/test.sh
#
# 1. builds the GDExtension library (bindings/godot is a crate and workspace of its own, so
#    the root crate's build never compiles godot-rust);
# 2. checks that the library exports gdext_rust_init, the entry symbol voipchat.gdextension
#    names;
# 3. rustfmt, clippy, and the Rust tests of the node's engine-free logic (unit tests, and two
#    players joining an in-process relay, talking and leaving: tests/two_players.rs);
# 4. loads the extension in a real Godot 4.6 engine, headless (tests/engine/run.sh: Godot from
#    Debian unstable in a debootstrap root that scripts/install-godot.sh makes once): the editor
#    imports the demo project, a GDScript test scene joins two VoipChat nodes to a running
#    voipchat-server and checks signals, errors and audio, the demo's scene runs, and a
#    broken .gdextension is shown to fail;
# 5. checks the .gdextension file, the demo project, scene and GDScript, and the GDScript in
#    the READMEs against Godot 4.2, the oldest engine the extension supports, with
#    tools/check_godot_files.py (against 4.2's extension_api.json) and gdtoolkit's GDScript
#    parser, each shown to reject deliberately broken copies.
#
# Set GODOT_TEST_SKIP_CLIPPY=1 to skip clippy (its first run checks all of godot-rust again), and
# GODOT=/path/to/godot4 to run the engine test in that Godot instead of the Debian unstable one.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/bindings/godot"
cd "$HERE"

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

step "build dependencies (scripts/install-deps.sh installs only what is missing)"
bash "$ROOT/scripts/install-deps.sh"

step "build the extension (cargo build in bindings/godot)"
cargo build
LIB="$HERE/target/debug/libvoipchat_godot.so"
[[ -f "$LIB" ]] || fail "no library at $LIB"

step "the library exports gdext_rust_init"
ENTRY=$(sed -n 's/^entry_symbol *= *"\(.*\)"/\1/p' voipchat.gdextension)
[[ "$ENTRY" == gdext_rust_init ]] || fail "voipchat.gdextension names entry symbol '$ENTRY'"
if command -v nm >/dev/null; then
    EXPORTS=$(nm -D --defined-only "$LIB")
else
    EXPORTS=$(objdump -T "$LIB")
fi
grep -Eq "[[:space:]]T[[:space:]]+${ENTRY}\$|[[:space:]]${ENTRY}\$" <<<"$EXPORTS" \
    || fail "$LIB does not export $ENTRY"
echo "ok: $(basename "$LIB") exports $ENTRY"

step "rustfmt"
cargo fmt --check

if [[ "${GODOT_TEST_SKIP_CLIPPY:-0}" != 1 ]]; then
    step "clippy"
    cargo clippy --all-targets -- -D warnings
fi

step "Rust tests of the node's logic (cargo test in bindings/godot)"
cargo test

step "the demo gets the library and the same .gdextension"
DEMO_BIN="$HERE/demo/addons/voipchat/bin/linux-x86_64/debug"
mkdir -p "$DEMO_BIN"
cp "$LIB" "$DEMO_BIN/"
cmp voipchat.gdextension demo/addons/voipchat/voipchat.gdextension \
    || fail "demo/addons/voipchat/voipchat.gdextension differs from voipchat.gdextension"
echo "ok: demo/addons/voipchat/ holds voipchat.gdextension and the debug library"

step "the extension in a real Godot 4 engine, headless (tests/engine/run.sh)"
bash tests/engine/run.sh "$LIB"

step "Godot 4 files: tools/check_godot_files.py"
# Only the host's packages: cargo build fetched those and no others, and --offline
# would fail on a crate that only Windows or Android needs.
HOST=$(rustc -vV | sed -n 's/^host: //p')
API=$(cargo metadata --format-version 1 --offline --filter-platform "$HOST" | python3 -c '
import json, os, sys
meta = json.load(sys.stdin)
api = next(p for p in meta["packages"] if p["name"] == "gdextension-api")
print(os.path.join(os.path.dirname(api["manifest_path"]), "src", "4.2", "extension_api.json"))')
[[ -f "$API" ]] || fail "Godot's extension_api.json not found at $API"
python3 tools/check_godot_files.py --api "$API" .
python3 tools/check_godot_files.py --api "$API" --self-test .

step "GDScript: gdtoolkit's Godot 4 parser and linter"
if ! command -v gdparse >/dev/null || ! gdparse --version 2>/dev/null | grep -q ' 4\.'; then
    python3 -m pip install --quiet --disable-pip-version-check 'gdtoolkit>=4.5,<5' \
        || fail "cannot install gdtoolkit from PyPI"
fi
SNIPPETS=$(mktemp -d)
trap 'rm -rf "$SNIPPETS"' EXIT
python3 - "$SNIPPETS" README.md demo/README.md <<'PY'
import pathlib, re, sys
out = pathlib.Path(sys.argv[1])
for source in sys.argv[2:]:
    text = pathlib.Path(source).read_text()
    for n, m in enumerate(re.finditer(r"^```gdscript[^\n]*\n(.*?)^```", text, re.S | re.M)):
        name = source.replace("/", "_").replace(".md", "") + f"_{n}.gd"
        (out / name).write_text(m.group(1))
PY
mapfile -t SCRIPTS < <(find demo tests/engine -name '*.gd' -not -path '*/.godot/*'; find "$SNIPPETS" -name '*.gd')
gdparse "${SCRIPTS[@]}" >/dev/null
echo "ok: gdparse read ${#SCRIPTS[@]} GDScript files (the demo's, the engine test's, the READMEs')"
gdlint "${SCRIPTS[@]}"
# And it bites: a copy with a broken declaration must be rejected.
sed 's/^func _ready() -> void:/func _ready( -> void:/' demo/main.gd >"$SNIPPETS/broken.gd"
if gdparse "$SNIPPETS/broken.gd" >/dev/null 2>&1; then
    fail "gdparse accepted a broken script"
fi
echo "ok: gdparse rejects a broken copy of main.gd"

printf '\nbindings/godot: all checks passed\n'
