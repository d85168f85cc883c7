#!/usr/bin/env bash
# Installs the system packages the build and tests need, only those missing, so a fresh
# Debian/Ubuntu machine with the Rust toolchain can run the demo and the tests. Extra package
# names given as arguments are installed the same way (scripts/bench-voice.sh adds its own).
set -euo pipefail

packages=(
    gcc             # the C test and example; cc for -sys crates
    pkg-config      # finds ALSA for the cpal crate and libvpx for env-libvpx-sys
    cmake           # builds libopus (with its neural concealment) from source, statically
    libasound2-dev  # ALSA, cpal's Linux backend
    libvpx-dev      # VP8, the video rooms' codec (env-libvpx-sys links the system's)
    valgrind        # the C ABI test runs under memcheck
    redis-server    # the cluster tests' shared directory (tests/cluster.rs starts its own)
    "$@"
)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done
