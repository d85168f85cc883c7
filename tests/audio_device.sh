#!/usr/bin/env bash
# Runs tests/audio_device.rs (the cpal device path) against a private PulseAudio server whose
# only sink is a null sink: what is played into it comes back out of its monitor source, so the
# tests need no sound card.
#
#   bash tests/audio_device.sh            # from anywhere; extra args go to the test binary
#
# What it sets up:
#   - packages (installed only when missing): pulseaudio (the server), pulseaudio-utils (pactl),
#     libasound2-plugins (ALSA's "pulse" PCM plugin, the way cpal's ALSA backend reaches Pulse)
#   - a PulseAudio daemon of its own, in user mode (it only warns when run as root), with its
#     socket, state and cookie in a temporary directory: the user's own server, $HOME and
#     ~/.config are not touched
#   - sink voipchat_null (module-null-sink, 48 kHz stereo) as the default sink, and its monitor
#     voipchat_null.monitor as the default source
#   - an ALSA configuration whose default PCM is the pulse plugin, whatever /etc/asound.conf or
#     the distribution's pulse hook say
#
# Environment the tests get: PULSE_SERVER, XDG_RUNTIME_DIR, XDG_CONFIG_HOME, ALSA_CONFIG_PATH, and
# VOIPCHAT_PULSE_NULL_SINK=1, without which the tests skip. A second pass runs the one test that
# kills the daemon (VOIPCHAT_PULSE_KILL_PID) to check that a lost device is reported. The daemon
# is stopped on exit in any case.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need=()
command -v pulseaudio >/dev/null 2>&1 || need+=(pulseaudio)
command -v pactl >/dev/null 2>&1 || need+=(pulseaudio-utils)
dpkg-query -W -f='${Status}' libasound2-plugins 2>/dev/null | grep -q "install ok installed" \
    || need+=(libasound2-plugins)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

runtime=$(mktemp -d "${TMPDIR:-/tmp}/voipchat-pulse.XXXXXX")
pulse_pid=""
cleanup() {
    if [ -n "$pulse_pid" ] && kill -0 "$pulse_pid" 2>/dev/null; then
        kill "$pulse_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pulse_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pulse_pid" 2>/dev/null || true
    fi
    rm -rf "$runtime"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$runtime/pulse" "$runtime/config"
socket="$runtime/pulse/native"
export XDG_RUNTIME_DIR="$runtime"
# Pulse clients (pactl, the ALSA plugin) and the daemon keep config and cookie under here.
export XDG_CONFIG_HOME="$runtime/config"
export PULSE_RUNTIME_PATH="$runtime/pulse"
export PULSE_STATE_PATH="$runtime/pulse"
export PULSE_SERVER="unix:$socket"

# -n: no default.pa (no hardware detection, no other sinks); anonymous auth on our private
# socket, so no cookie has to be shared; no realtime/high priority, which would need rtkit.
pulseaudio \
    -n --daemonize=no --use-pid-file=no --system=no \
    --exit-idle-time=-1 --disallow-exit --realtime=no --high-priority=no \
    --log-target=stderr --log-level=warning \
    -L "module-native-protocol-unix socket=$socket auth-anonymous=1" \
    -L "module-null-sink sink_name=voipchat_null rate=48000 channels=2 sink_properties=device.description=voipchat_null" \
    2>"$runtime/pulse.log" &
pulse_pid=$!

for _ in $(seq 100); do
    pactl info >/dev/null 2>&1 && break
    if ! kill -0 "$pulse_pid" 2>/dev/null; then
        echo "pulseaudio exited:" >&2
        cat "$runtime/pulse.log" >&2
        exit 1
    fi
    sleep 0.1
done
if ! pactl info >/dev/null 2>&1; then
    echo "pulseaudio did not answer on $socket within 10 s:" >&2
    cat "$runtime/pulse.log" >&2
    exit 1
fi
pactl set-default-sink voipchat_null
pactl set-default-source voipchat_null.monitor
pactl info | grep -E '^(Server Version|Default Sink|Default Source)'

# ALSA reads this instead of alsa.conf: the stock configuration, then "default" routed to Pulse.
cat >"$runtime/asound.conf" <<'EOF'
</usr/share/alsa/alsa.conf>
pcm.!default {
    type pulse
    hint { show on description "PulseAudio (voipchat test server)" }
}
ctl.!default {
    type pulse
}
EOF
export ALSA_CONFIG_PATH="$runtime/asound.conf"

export VOIPCHAT_PULSE_NULL_SINK=1
status=0
cargo test --test audio_device -- --test-threads=1 "$@" || status=$?
# A whole call with one member on these devices (the SDK's device pump).
if [ "$status" -eq 0 ]; then
    cargo test --test device_call -- --test-threads=1 || status=$?
fi
# Last, alone: the test that kills this daemon under open streams to see them reported failed.
if [ "$status" -eq 0 ]; then
    VOIPCHAT_PULSE_KILL_PID=$pulse_pid cargo test --test audio_device -- --exact \
        losing_the_sound_server_marks_both_devices_failed "$@" || status=$?
fi
if [ "$status" -ne 0 ]; then
    echo "pulseaudio log:" >&2
    cat "$runtime/pulse.log" >&2
fi
exit "$status"
