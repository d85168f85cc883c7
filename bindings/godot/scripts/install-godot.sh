#!/usr/bin/env bash
# Makes a Godot 4 engine available for the binding's real-engine test, and prints the command
# that runs it.
#
#     bash bindings/godot/scripts/install-godot.sh        # prints e.g. "/var/cache/.../run-godot"
#
# Debian stable packages only Godot 3; Debian unstable has Godot 4, built against a newer glibc
# than stable's. So the engine lives in a minimal unstable root made with debootstrap, from the
# same Debian registry the project installs everything else from, and runs there through
# chroot (run-godot, written next to the root). The root is made once and reused: a second
# run costs a version check. It lives outside the repository, in VOIPCHAT_GODOT_ROOT
# (default /var/cache/voipchat/godot-sid), so fresh clones and CI runs on the same machine share
# it. Needs root (debootstrap, chroot).
#
# Everything this script says goes to stderr; stdout is only the path of run-godot, so a
# caller can do GODOT=$(bash install-godot.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
SID=${VOIPCHAT_GODOT_ROOT:-/var/cache/voipchat/godot-sid}
MIRROR=${VOIPCHAT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
RUNNER="$SID.run-godot"
READY="$SID/.voipchat-godot-ready"

say() { printf 'install-godot: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

[[ "$(id -u)" -eq 0 ]] || fail "needs root (debootstrap and chroot); run it as root or with sudo"

if [[ ! -f "$READY" ]]; then
    bash "$ROOT/scripts/install-deps.sh" debootstrap >&2
    started=$(date +%s)
    # Built in a scratch folder and moved into place at the end, so an interrupted run never
    # leaves a half-made root that looks ready.
    rm -rf "$SID.partial"
    mkdir -p "$(dirname "$SID")"
    say "making a Debian unstable root in $SID (once; about a minute)"
    debootstrap --variant=minbase sid "$SID.partial" "$MIRROR" >&2 \
        || fail "debootstrap of Debian unstable from $MIRROR failed"
    # The registry's copy of unstable's Release file can read as expired; the packages are
    # still signed and checked.
    APT=(chroot "$SID.partial" env DEBIAN_FRONTEND=noninteractive apt-get
         -o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false -y -qq)
    "${APT[@]}" update >&2 || fail "apt-get update in the unstable root failed"
    # godot; libasound2 because the extension links ALSA (cpal) even though the test uses the
    # engine's Dummy audio driver; ca-certificates because Godot loads the system's CA bundle
    # at start and prints an error without it.
    "${APT[@]}" install godot libasound2t64 ca-certificates >&2 || fail "installing godot in the unstable root failed"
    "${APT[@]}" clean >&2
    rm -rf "$SID"
    mv "$SID.partial" "$SID"
    chroot "$SID" godot --headless --version >"$READY" 2>/dev/null \
        || { rm -f "$READY"; fail "godot does not start in $SID"; }
    say "made in $(( $(date +%s) - started )) s"
fi

# run-godot [--share DIR]... GODOT_ARGS...: runs Godot in the root. Each --share DIR is
# bind-mounted at the same path inside the root (so a project and its extension are seen
# where they are), then unmounted; /proc and /dev are shared too, as an engine expects.
cat >"$RUNNER" <<RUNNER
#!/usr/bin/env bash
set -euo pipefail
SID="$SID"
RUNNER
cat >>"$RUNNER" <<'RUNNER'
mounts=()
cleanup() {
    local i
    for (( i=${#mounts[@]}-1; i>=0; i-- )); do umount -l "${mounts[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
share() {
    local host=$1 inside="$SID$1"
    mkdir -p "$inside"
    mount --bind "$host" "$inside"
    mounts+=("$inside")
}
mountpoint -q "$SID/proc" || { mount -t proc proc "$SID/proc"; mounts+=("$SID/proc"); }
mountpoint -q "$SID/dev" || { mount --rbind /dev "$SID/dev"; mounts+=("$SID/dev"); }
while [[ "${1:-}" == --share ]]; do
    share "$(cd "$2" && pwd)"
    shift 2
done
code=0
chroot "$SID" env HOME=/root LANG=C.UTF-8 godot "$@" || code=$?
exit "$code"
RUNNER
chmod +x "$RUNNER"
say "$(cat "$READY") in $SID; run it with $RUNNER"
echo "$RUNNER"
