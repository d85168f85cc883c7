#!/usr/bin/env bash
# Builds the voipchat native library and copies it into the package's Plugins/ layout, with
# the .meta files that tell Unity which platform each binary is for.
#
#   bindings/unity/Tools~/build-plugins.sh [--debug | --from DIR] [TARGET...]
#
# TARGET (default: the host's):
#   linux-x86_64    Plugins/Linux/x86_64/libvoipchat.so        cargo build (on Linux x86_64)
#   windows-x86_64  Plugins/Windows/x86_64/voipchat.dll        --target x86_64-pc-windows-msvc (on Windows)
#   macos           Plugins/macOS/libvoipchat.dylib            aarch64 + x86_64, joined with lipo (on macOS)
#   android-arm64   Plugins/Android/arm64-v8a/libvoipchat.so   cargo ndk -t arm64-v8a (needs the NDK and cargo-ndk)
#   ios             Plugins/iOS/libvoipchat.a                  --target aarch64-apple-ios, static (on macOS)
#
# --debug builds the debug profile; --from DIR copies DIR/libvoipchat.so (or the target's file
# name) without building (the test uses it). Each toolchain is the platform's usual one: this
# script only runs cargo and copies; it downloads nothing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
package="$(cd "$here/.." && pwd)"
repo="$(cd "$package/../.." && pwd)"

profile=release
from=""
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) profile=debug ;;
        --from) from="$2"; shift ;;
        -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) targets+=("$1") ;;
    esac
    shift
done
if [ ${#targets[@]} -eq 0 ]; then
    case "$(uname -s)-$(uname -m)" in
        Linux-x86_64) targets=(linux-x86_64) ;;
        Darwin-*) targets=(macos) ;;
        MINGW*|MSYS*|CYGWIN*) targets=(windows-x86_64) ;;
        *) echo "no default target for $(uname -s)-$(uname -m); name one" >&2; exit 2 ;;
    esac
fi

cargo_flags=()
[ "$profile" = release ] && cargo_flags+=(--release)

place() { # place SOURCE RELATIVE_DEST TARGET
    local dest="$package/$2"
    mkdir -p "$(dirname "$dest")"
    cp "$1" "$dest"
    python3 "$here/unity_meta.py" plugin "$dest" "$3"
    echo "placed $2 ($(du -h "$dest" | cut -f1))"
}

for target in "${targets[@]}"; do
    case "$target" in
        linux-x86_64)
            if [ -z "$from" ]; then (cd "$repo" && cargo build "${cargo_flags[@]}" --lib); fi
            place "${from:-$repo/target/$profile}/libvoipchat.so" Plugins/Linux/x86_64/libvoipchat.so "$target" ;;
        windows-x86_64)
            if [ -z "$from" ]; then (cd "$repo" && cargo build "${cargo_flags[@]}" --lib --target x86_64-pc-windows-msvc); fi
            place "${from:-$repo/target/x86_64-pc-windows-msvc/$profile}/voipchat.dll" Plugins/Windows/x86_64/voipchat.dll "$target" ;;
        macos)
            if [ -z "$from" ]; then
                (cd "$repo" && cargo build "${cargo_flags[@]}" --lib --target aarch64-apple-darwin \
                    && cargo build "${cargo_flags[@]}" --lib --target x86_64-apple-darwin)
                mkdir -p "$repo/target/universal-apple-darwin/$profile"
                lipo -create -output "$repo/target/universal-apple-darwin/$profile/libvoipchat.dylib" \
                    "$repo/target/aarch64-apple-darwin/$profile/libvoipchat.dylib" \
                    "$repo/target/x86_64-apple-darwin/$profile/libvoipchat.dylib"
            fi
            place "${from:-$repo/target/universal-apple-darwin/$profile}/libvoipchat.dylib" Plugins/macOS/libvoipchat.dylib "$target" ;;
        android-arm64)
            if [ -z "$from" ]; then (cd "$repo" && cargo ndk -t arm64-v8a build "${cargo_flags[@]}" --lib); fi
            place "${from:-$repo/target/aarch64-linux-android/$profile}/libvoipchat.so" Plugins/Android/arm64-v8a/libvoipchat.so "$target" ;;
        ios)
            if [ -z "$from" ]; then (cd "$repo" && cargo build "${cargo_flags[@]}" --lib --target aarch64-apple-ios); fi
            place "${from:-$repo/target/aarch64-apple-ios/$profile}/libvoipchat.a" Plugins/iOS/libvoipchat.a "$target" ;;
        *) echo "unknown target $target" >&2; exit 2 ;;
    esac
done
# The folders the binaries went into need their own .meta files.
python3 "$here/unity_meta.py" write "$package" >/dev/null
