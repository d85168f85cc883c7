#!/usr/bin/env bash
# The Unity binding's test command, from the repository root:
#
#   bash bindings/unity/test.sh
#
# 1. Installs what is missing: the build's system packages (scripts/install-deps.sh), Mono's C#
#    compiler and runtime (Debian's mono-mcs, mono-runtime).
# 2. cargo build (debug): target/debug/libvoipchat.so, and voipchat-server (its `sign` is the
#    reference backend signer the test joins with).
# 3. The P/Invoke declarations against include/voipchat.h (Tests~/check_pinvoke.py), the C
#    compiler's struct layout for the C# test to compare, and proof that the check fails on
#    drift: mutated copies of the header (an added function, field, struct, #define, a changed
#    type, an array field's length) and of the C# (a bool without MarshalAs, a callback without
#    MonoPInvokeCallback).
# 4. The package: every asset has its .meta, package.json and the .asmdef are sound, and
#    Tools~/build-plugins.sh places the Linux library with its platform .meta.
# 5. Compiles with mcs: the Unity-independent core (Runtime/Core) on its own; Runtime/ and the
#    sample against UnityEngine stand-ins, as Editor, Android and iOS; the test program.
# 6. Runs the test program under mono against the fresh library and a relay it embeds.
#
# Ends with "N passed, M failed" and exits non-zero on any failure.
# VOIPCHAT_TEST_TIMEOUT_SCALE stretches the C# test's timeouts (a loaded machine).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
pkg=bindings/unity
out=target/unity-mono
mkdir -p "$out"

passed=0
failed=0
step() { printf '\n==> %s\n' "$*"; }
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
    echo
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}
# check WHAT COMMAND...: one test.
check() {
    local what="$1"
    shift
    if "$@"; then
        pass "$what"
    else
        fail "$what"
    fi
}
# A step the rest depends on: on failure, report and stop.
must() {
    local what="$1"
    shift
    if "$@"; then
        pass "$what"
    else
        fail "$what"
        finish
    fi
}

step "dependencies"
if [ -x scripts/install-deps.sh ]; then
    scripts/install-deps.sh
fi
if ! command -v mcs >/dev/null 2>&1 || ! command -v mono >/dev/null 2>&1; then
    echo "installing: mono-mcs mono-runtime"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq mono-mcs mono-runtime
fi
for tool in python3 cc mcs mono cargo; do
    command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; fail "dependencies: $tool"; finish; }
done
mono --version | head -n 1

step "cargo build (debug)"
must "cargo build: target/debug/libvoipchat.so and voipchat-server" \
    bash -c 'cargo build --lib --bins && test -f target/debug/libvoipchat.so && test -x target/debug/voipchat-server'

step "P/Invoke declarations vs include/voipchat.h"
checker="$pkg/Tests~/check_pinvoke.py"
must "Native.cs matches the header; native callbacks are static and [MonoPInvokeCallback]" \
    python3 "$checker" --header include/voipchat.h --csharp "$pkg/Runtime/Core/Native.cs" \
    --sources "$pkg/Runtime" --emit-layout-c "$out/layout.c"
must "the C compiler's struct layout (for the C# test to compare)" \
    bash -c "cc -std=c11 -Wall -Werror -I include '$out/layout.c' -o '$out/layout' && '$out/layout' > '$out/layout.txt'"

step "the consistency check fails on drift"
mutants=$(mktemp -d)
trap 'rm -rf "$mutants"' EXIT
mkdir -p "$mutants/src"
# expect_mismatch NAME PATTERN HEADER CSHARP SOURCES
expect_mismatch() {
    local name="$1" pattern="$2" header="$3" csharp="$4" sources="$5" output rc=0
    output=$(python3 "$checker" --header "$header" --csharp "$csharp" --sources "$sources" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ] && grep -q -- "$pattern" <<<"$output"; then
        pass "check fails on $name: $(grep -m1 -- "$pattern" <<<"$output")"
    else
        fail "check did not catch $name (exit $rc): $output"
    fi
}
mutate_header() { # mutate_header NAME PYTHON_REPLACEMENT_OLD PYTHON_REPLACEMENT_NEW
    python3 - "$mutants/$1.h" "$2" "$3" <<'EOF'
import sys
path, old, new = sys.argv[1:4]
text = open("include/voipchat.h", encoding="utf-8").read()
assert old in text, "mutation anchor not found: " + old
open(path, "w", encoding="utf-8").write(text.replace(old, new, 1))
EOF
}
native="$pkg/Runtime/Core/Native.cs"
mutate_header added_function "void voip_server_stop(VoipServer *server);" \
    "void voip_server_stop(VoipServer *server);
int32_t voip_added_in_a_later_version(const char *open_id, uint32_t volume);"
expect_mismatch "a function added to the header" "voip_added_in_a_later_version" "$mutants/added_function.h" "$native" "$pkg/Runtime"
mutate_header added_field "  uint32_t resume_timeout_ms;" "  uint32_t resume_timeout_ms;
  uint32_t jitter_max_ms;"
expect_mismatch "a struct field added to the header" "jitter_max_ms" "$mutants/added_field.h" "$native" "$pkg/Runtime"
mutate_header added_struct "typedef void (*VoipResultFn)" "typedef struct {
  int32_t volume;
} VoipVolume;

typedef void (*VoipResultFn)"
expect_mismatch "a struct added to the header" "VoipVolume" "$mutants/added_struct.h" "$native" "$pkg/Runtime"
mutate_header added_define "#define VOIP_LOG_DEBUG 3" "#define VOIP_LOG_DEBUG 3

#define VOIP_LOG_TRACE 4"
expect_mismatch "a #define added to the header" "VOIP_LOG_TRACE" "$mutants/added_define.h" "$native" "$pkg/Runtime"
mutate_header changed_field "  uint32_t frame_ms;" "  uint64_t frame_ms;"
expect_mismatch "a struct field's type changed" "frame_ms" "$mutants/changed_field.h" "$native" "$pkg/Runtime"
mutate_header changed_array "  uint32_t strides[3];" "  uint32_t strides[4];"
expect_mismatch "a struct array's length changed" "strides3" "$mutants/changed_array.h" "$native" "$pkg/Runtime"
mutate_header changed_param "uint32_t voip_poll(void);" "uint32_t voip_poll(uint32_t max_callbacks);"
expect_mismatch "a function's parameters changed" "voip_poll" "$mutants/changed_param.h" "$native" "$pkg/Runtime"
sed 's/\[MarshalAs(UnmanagedType.I1)\] public bool mute_earphone/public bool mute_earphone/' "$native" > "$mutants/src/Native.cs"
expect_mismatch "a C# bool without MarshalAs(I1)" "mute_earphone" include/voipchat.h "$mutants/src/Native.cs" "$pkg/Runtime"
cp "$native" "$mutants/src/Native.cs"
sed 's/\[MonoPInvokeCallback(typeof(Native.VoipStateFn))\]//' "$pkg/Runtime/Core/VoipChat.cs" > "$mutants/src/VoipChat.cs"
expect_mismatch "a native callback without [MonoPInvokeCallback]" "OnStateChanged" include/voipchat.h "$native" "$mutants/src"

step "package: .meta files, manifest, native plugin layout"
check "every asset has a .meta; package.json and the .asmdef are sound" python3 "$pkg/Tools~/unity_meta.py" check "$pkg"
copy="$mutants/package"
cp -r "$pkg" "$copy"
rm -rf "$copy/Plugins/Linux"
if bash "$copy/Tools~/build-plugins.sh" --from target/debug linux-x86_64 >/dev/null \
    && [ -f "$copy/Plugins/Linux/x86_64/libvoipchat.so" ] \
    && grep -A3 "Standalone: Linux64" "$copy/Plugins/Linux/x86_64/libvoipchat.so.meta" | grep -q "enabled: 1" \
    && grep -q "Exclude Win64: 1" "$copy/Plugins/Linux/x86_64/libvoipchat.so.meta" \
    && python3 "$copy/Tools~/unity_meta.py" check "$copy" >/dev/null; then
    pass "build-plugins.sh places Plugins/Linux/x86_64/libvoipchat.so with its Linux-only .meta"
else
    fail "build-plugins.sh places Plugins/Linux/x86_64/libvoipchat.so with its Linux-only .meta"
fi

step "compile with mcs"
mcs_flags=(-warn:4 -warnaserror -nologo)
must "Runtime/Core (no UnityEngine) -> VoipChatSdk.dll" \
    mcs -target:library "${mcs_flags[@]}" -out:"$out/VoipChatSdk.dll" -recurse:"$pkg/Runtime/Core/*.cs"
stubs="$out/unity-stubs"
mkdir -p "$stubs"
must "UnityEngine stand-ins" \
    mcs -target:library -nologo -nowarn:67,649 -out:"$stubs/UnityEngine.dll" "$pkg/Tests~/UnityStubs/UnityEngineStubs.cs"
for defines in "UNITY_EDITOR;UNITY_STANDALONE_LINUX" "UNITY_ANDROID" "UNITY_IOS"; do
    if mcs -target:library "${mcs_flags[@]}" -define:"UNITY_5_3_OR_NEWER;UNITY_2021_3_OR_NEWER;$defines" \
        -r:"$stubs/UnityEngine.dll" -out:"$stubs/VoipChatSdk.dll" -recurse:"$pkg/Runtime/*.cs" \
        && mcs -target:library "${mcs_flags[@]}" -define:"UNITY_5_3_OR_NEWER;UNITY_2021_3_OR_NEWER;$defines" \
        -r:"$stubs/UnityEngine.dll" -r:"$stubs/VoipChatSdk.dll" -out:"$stubs/Sample.dll" -recurse:"$pkg/Samples~/*.cs"; then
        pass "Runtime/ and Samples~/ against the UnityEngine stand-ins ($defines)"
    else
        fail "Runtime/ and Samples~/ against the UnityEngine stand-ins ($defines)"
    fi
done
must "the test program -> VoipChatTests.exe" \
    mcs -target:exe "${mcs_flags[@]}" -r:"$out/VoipChatSdk.dll" -out:"$out/VoipChatTests.exe" -recurse:"$pkg/Tests~/MonoTest/*.cs"

step "the C# test program under mono, against target/debug/libvoipchat.so"
rc=0
(cd "$out" && LD_LIBRARY_PATH="$root/target/debug${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    VOIPCHAT_LAYOUT="$root/$out/layout.txt" VOIPCHAT_SERVER_BIN="$root/target/debug/voipchat-server" timeout 900 mono --debug VoipChatTests.exe) \
    | tee "$out/mono-test.log" || rc=$?
summary=$(tail -n 1 "$out/mono-test.log")
if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
    if [ "$rc" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ]; then
        fail "the test program exited $rc after reporting no failure"
    fi
else
    fail "the test program ended without its summary (exit $rc)"
fi

finish
