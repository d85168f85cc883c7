#!/usr/bin/env python3
"""Speech for the voice-quality bench, and its PESQ scoring.

  pesq_score.py prepare --out DIR [--material espeak|flite|alsa]
                              speech, 48 kHz mono, written as DIR/reference.wav with
                              DIR/segments.json (where each utterance lies). The materials:
                              espeak: espeak-ng (formant synthesis), Harvard lists 1-2, two voices
                                (the default);
                              flite: flite (concatenated from recordings of real speakers: the
                                CMU Arctic voices slt, rms, awb), Harvard lists 3-4;
                              alsa: natural speech, the voice recordings alsa-utils ships
                                (/usr/share/sounds/alsa: "Front Left" ...), two utterances of
                                four words each.
  pesq_score.py score --dir DIR     scores every WAV listed in DIR/manifest.json (written by
                              `cargo bench --bench voice_quality`) against the reference:
                              PESQ wide-band (ITU-T P.862.2, the `pesq` package), utterance by
                              utterance, and prints the tables. Writes DIR/scores.json.

Scoring: reference and degraded are brought to 16 kHz by the same resampler (scipy's
polyphase resample_poly, 48 -> 16 kHz), each utterance (with 0.5 s of the silence around it)
is cut from the reference, and the degraded signal is cut at the same place plus its bulk
delay (the lag of the cross-correlation peak within -20..+400 ms of the utterance). PESQ does
its own finer alignment, including delay changes inside an utterance.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from scipy.io import wavfile
from scipy.signal import correlate, resample_poly

# Harvard sentences (IEEE 1969), lists 1 and 2: the usual material for speech-quality tests.
SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
]
VOICES = ["en-us", "en-us+f3"]
# Harvard sentences, lists 3 and 4: flite's material, so no sentence is shared with espeak's.
FLITE_SENTENCES = [
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.",
    "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.",
    "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.",
    "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.",
    "The young girl gave no clear response.",
]
FLITE_VOICES = ["slt", "rms", "awb"]
ALSA_SOUNDS = "/usr/share/sounds/alsa"
ALSA_WORDS = [
    ["Front_Left", "Front_Right", "Front_Center", "Rear_Left"],
    ["Rear_Right", "Rear_Center", "Side_Left", "Side_Right"],
]
WORD_GAP_S = 0.15  # between the words of one alsa utterance: phrase-like, not isolated words
RATE = 48000
LEAD_S = 0.6  # silence before the first utterance (the VAD learns its noise floor)
GAP_S = 1.2  # silence between utterances
MARGIN_S = 0.5  # silence kept around each utterance when scoring


def read_wav(path):
    rate, data = wavfile.read(path)
    if data.dtype == np.int16:
        data = data.astype(np.float64) / 32768.0
    elif data.dtype == np.int32:
        data = data.astype(np.float64) / 2147483648.0
    else:
        data = data.astype(np.float64)
    if data.ndim > 1:
        data = data[:, 0]
    return rate, data


def to48k(tmp, raw, name):
    """A WAV at 48 kHz mono through sox's high-quality resampler, without dither (-D) so the
    reference is the same on every run, with its leading and trailing silence trimmed."""
    wav48 = os.path.join(tmp, f"{name}_48k.wav")
    subprocess.run(["sox", "-D", raw, "-r", str(RATE), "-c", "1", "-b", "16", wav48, "rate", "-h"], check=True)
    _, x = read_wav(wav48)
    loud = np.nonzero(np.abs(x) > 1e-3)[0]
    return x[loud[0] : loud[-1] + 1]


def synthesised(tmp, sentences, voices, command):
    """Three sentences per utterance, the voices taking turns."""
    utterances = []
    for i in range(0, len(sentences), 3):
        text = " ".join(sentences[i : i + 3])
        voice = voices[(i // 3) % len(voices)]
        raw = os.path.join(tmp, f"u{i}.wav")
        subprocess.run(command(voice, text, raw), check=True)
        utterances.append((voice, text, to48k(tmp, raw, f"u{i}")))
    return utterances


def recorded_words(tmp):
    """alsa-utils' recordings, four words to an utterance with short pauses between them."""
    utterances = []
    for n, words in enumerate(ALSA_WORDS):
        parts = []
        for w in words:
            path = os.path.join(ALSA_SOUNDS, f"{w}.wav")
            if not os.path.exists(path):
                sys.exit(f"{path} is missing (scripts/bench-voice.sh installs alsa-utils)")
            parts.append(to48k(tmp, path, f"a{n}_{w}"))
            parts.append(np.zeros(int(WORD_GAP_S * RATE)))
        utterances.append(("alsa", " ".join(w.replace("_", " ") for w in words), np.concatenate(parts[:-1])))
    return utterances


def prepare(out, material="espeak"):
    tools = {"espeak": ["espeak-ng", "sox"], "flite": ["flite", "sox"], "alsa": ["sox"]}[material]
    for tool in tools:
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing (scripts/bench-voice.sh installs it)")
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if material == "espeak":
            utterances = synthesised(tmp, SENTENCES, VOICES, lambda v, text, raw: ["espeak-ng", "-v", v, "-s", "150", "-w", raw, text])
        elif material == "flite":
            utterances = synthesised(tmp, FLITE_SENTENCES, FLITE_VOICES, lambda v, text, raw: ["flite", "-voice", v, "-t", text, "-o", raw])
        else:
            utterances = recorded_words(tmp)
    peak = max(np.max(np.abs(x)) for _, _, x in utterances)
    gain = 0.5 / peak  # -6 dBFS peak: a normal talking level with headroom
    signal = [np.zeros(int(LEAD_S * RATE))]
    segments = []
    pos = len(signal[0])
    for voice, text, x in utterances:
        segments.append({"start": pos, "end": pos + len(x), "voice": voice, "text": text})
        signal.append(x * gain)
        signal.append(np.zeros(int(GAP_S * RATE)))
        pos += len(x) + int(GAP_S * RATE)
    signal = np.concatenate(signal)
    pcm = np.clip(np.round(signal * 32767.0), -32768, 32767).astype(np.int16)
    wavfile.write(os.path.join(out, "reference.wav"), RATE, pcm)
    with open(os.path.join(out, "segments.json"), "w") as f:
        json.dump({"rate": RATE, "segments": segments}, f, indent=1)
    total = len(signal) / RATE
    speech = sum(s["end"] - s["start"] for s in segments) / RATE
    print(f"reference: {total:.1f} s ({speech:.1f} s of speech in {len(segments)} utterances) -> {out}/reference.wav")


def to16k(x):
    return resample_poly(x, 1, 3)


def score_file(ref16, deg16, segments, pesq_fn):
    """PESQ-WB of each utterance, with its bulk delay (ms)."""
    scores = []
    margin = int(MARGIN_S * 16000)
    lo, hi = int(-0.020 * 16000), int(0.400 * 16000)
    for seg in segments:
        s, e = seg["start"] // 3, seg["end"] // 3
        a, b = max(0, s - margin), e + margin
        ref = ref16[a:b]
        # Degraded window covering every lag in [lo, hi].
        w0 = max(0, a + lo)
        win = deg16[w0 : b + hi]
        if len(win) < len(ref):
            win = np.concatenate([win, np.zeros(len(ref) - len(win))])
        c = correlate(win, ref, mode="valid", method="fft")
        lag = int(np.argmax(c)) + w0 - a
        start = a + lag
        deg = deg16[max(0, start) : start + len(ref)]
        if start < 0:
            deg = np.concatenate([np.zeros(-start), deg])
        if len(deg) < len(ref):
            deg = np.concatenate([deg, np.zeros(len(ref) - len(deg))])
        try:
            value = float(pesq_fn(16000, ref, deg, "wb"))
        except Exception as exc:  # PESQ refuses e.g. an all-silent degraded signal
            print(f"    PESQ failed on a segment: {exc}", file=sys.stderr)
            value = float("nan")
        scores.append({"pesq": value, "delayMs": lag / 16.0})
    return scores


def mean_sd(values):
    v = [x for x in values if not math.isnan(x)]
    if not v:
        return float("nan"), float("nan"), 0
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, sd, len(v)


def score(directory):
    from pesq import pesq as pesq_fn

    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    with open(os.path.join(directory, "segments.json")) as f:
        segments = json.load(f)["segments"]
    rate, ref = read_wav(os.path.join(directory, "reference.wav"))
    assert rate == RATE, "reference must be 48 kHz"
    ref16 = to16k(ref)
    results = []
    for entry in manifest["files"]:
        rate, deg = read_wav(os.path.join(directory, entry["file"]))
        assert rate == RATE, f"{entry['file']}: not 48 kHz"
        per = score_file(ref16, to16k(deg), segments, pesq_fn)
        m, _, _ = mean_sd([p["pesq"] for p in per])
        print(f"  {entry['file']:<24} PESQ-WB {m:.3f}  delay {np.median([p['delayMs'] for p in per]):.1f} ms")
        results.append({**entry, "segments": per})
    with open(os.path.join(directory, "scores.json"), "w") as f:
        json.dump(results, f, indent=1)
    report(results, manifest)


def report(results, manifest):
    methods = [
        ("ours", "ours: the real pipeline offline (VAD, jitter buffer, loss feedback)"),
        ("ourslight", "ours, the game's speech enhancer on: light (LACE)"),
        ("oursstrong", "ours, the game's speech enhancer on: strong (NoLACE)"),
        ("realtime", "ours: real time through the relay (different loss pattern)"),
        ("oursnovad", "diagnostic: ours with the VAD forced on (no talkspurts)"),
        ("oursfixed", "diagnostic: VAD forced on, expected loss fixed at the true rate"),
        ("base5", "plain Opus + FEC, expected loss 5 %"),
        ("baseX", "plain Opus + FEC, expected loss = true rate"),
        ("base10", "plain Opus + FEC, expected loss 10 % (FEC always in the packets)"),
        ("baseXdec", "diagnostic: baseX with our decoder (deep PLC) instead of the default"),
        ("live", "ours live: real time through the relay, the listener's leg lossy both ways"),
        ("liveraw", "diagnostic: ours live with the microphone processing off (AEC, NS, AGC)"),
        ("plain", "plain Opus + FEC, expected loss = true rate (same material and loss rate)"),
        ("plain10", "plain Opus + FEC, expected loss 10 %"),
        ("plain2x", "plain Opus + FEC at twice the bitrate, expected loss = true rate"),
    ]
    losses = sorted({r["lossPct"] for r in results})
    by = {}
    for r in results:
        by.setdefault((r["method"], r["lossPct"]), []).append(r)

    def values(method, loss):
        return [s["pesq"] for r in by.get((method, loss), []) for s in r["segments"]]

    n_segments = len(results[0]["segments"]) if results else 0
    print()
    print(f"PESQ-WB (MOS-LQO), mean ± sd over {n_segments} utterances x seeds (runs), {manifest['frameMs']} ms frames:")
    print("| method | " + " | ".join(f"{l:g} % loss" for l in losses) + " |")
    print("|---|" + "---|" * len(losses))
    for key, label in methods:
        cells = []
        for l in losses:
            m, sd, n = mean_sd(values(key, l))
            runs = len(by.get((key, l), []))
            cells.append("n/a" if n == 0 else f"{m:.2f} ± {sd:.2f} ({runs} run{'s' if runs != 1 else ''})")
        print(f"| {label} | " + " | ".join(cells) + " |")

    def paired_stats(a, b, l):
        """Mean of a - b over the same utterances and lost frames, its 95 % half-interval, n."""
        x = {(r["seed"], i): s["pesq"] for r in by.get((a, l), []) for i, s in enumerate(r["segments"])}
        y = {(r["seed"], i): s["pesq"] for r in by.get((b, l), []) for i, s in enumerate(r["segments"])}
        d = [x[k] - y[k] for k in x if k in y and not math.isnan(x[k] - y[k])]
        m, sd, n = mean_sd(d)
        half = 1.96 * sd / math.sqrt(n) if n > 1 else float("nan")
        return m, half, n

    verdicts = {}
    # Judged against plain libopus; baseXdec (same decoder as ours) is shown, not judged.
    for ours_method, title in (
        ("ours", "Ours"),
        ("ourslight", "Ours with the light enhancer (LACE)"),
        ("oursstrong", "Ours with the strong enhancer (NoLACE)"),
    ):
        if not by.get((ours_method, losses[0])):
            continue
        print()
        print(f"{title} minus the baseline, paired (same utterance, same lost frames), mean and 95 % interval:")
        print("| baseline | " + " | ".join(f"{l:g} % loss" for l in losses) + " |")
        print("|---|" + "---|" * len(losses))
        for base in ("base5", "baseX", "base10", "baseXdec"):
            if not by.get((base, losses[0])):
                continue
            cells = []
            for l in losses:
                m, half, _ = paired_stats(ours_method, base, l)
                cells.append(f"{m:+.2f} ({m - half:+.2f}..{m + half:+.2f})")
                if base != "baseXdec":
                    verdicts.setdefault(ours_method, {}).setdefault(l, []).append((m, half))
            print(f"| {base} | " + " | ".join(cells) + " |")

    def paired(a, b, l):
        m, half, n = paired_stats(a, b, l)
        return "n/a" if n == 0 else f"{m:+.2f} ± {half:.2f}"

    if any(r["method"] == "oursfixed" for r in results):
        print()
        print("Where the difference to the stricter baseline comes from (paired differences, 95 % interval):")
        print("| step | " + " | ".join(f"{l:g} % loss" for l in losses) + " |")
        print("|---|" + "---|" * len(losses))
        steps = [
            ("baseXdec", "baseX", "our decoder (deep PLC) instead of libopus's default"),
            ("oursfixed", "baseXdec", "jitter buffer playout (VAD on, same expected loss and decoder as baseXdec)"),
            ("oursnovad", "oursfixed", "encoder expected loss from the loss reports instead of the true rate"),
            ("ours", "oursnovad", "talkspurts (VAD gating, pre-roll, playout restarts)"),
            ("ours", "baseX", "total: ours minus baseX"),
        ]
        for a, b, label in steps:
            print(f"| {label} | " + " | ".join(paired(a, b, l) for l in losses) + " |")

    if by.get(("live", losses[0])):
        print()
        print("Live minus plain Opus + FEC, paired by utterance and seed (loss patterns of their own), mean and 95 % interval:")
        print("| baseline | " + " | ".join(f"{l:g} % loss" for l in losses) + " |")
        print("|---|" + "---|" * len(losses))
        pairs = [("live", "plain"), ("live", "plain10")]
        if by.get(("plain2x", losses[0])):
            pairs.append(("live", "plain2x"))
        # Where the live sender repeated its datagrams it sent twice the bits: there it is
        # judged against plain libopus at twice the bitrate too (the same total bitrate).
        repeated = {r["lossPct"] for r in results if r["method"] == "live"
                    and r.get("details", {}).get("speakerSent", {}).get("repeats", 0) > 0}
        if by.get(("liveraw", losses[0])):
            pairs += [("liveraw", "plain"), ("live", "liveraw")]
        for a, base in pairs:
            cells = []
            for l in losses:
                m, half, n = paired_stats(a, base, l)
                cells.append("n/a" if n == 0 else f"{m:+.2f} ({m - half:+.2f}..{m + half:+.2f})")
                judged = base in ("plain", "plain10") or (base == "plain2x" and l in repeated)
                if a == "live" and judged:
                    verdicts.setdefault("live", {}).setdefault(l, []).append((m, half))
            print(f"| {a} - {base} | " + " | ".join(cells) + " |")
        print()
        print("Live mouth-to-ear delay (push to pull, external audio mode: the cross-correlation lag per utterance), ms:")
        print("| | " + " | ".join(f"{l:g} % loss" for l in losses) + " |")
        print("|---|" + "---|" * len(losses))
        for method in ("live", "liveraw"):
            cells = []
            for l in losses:
                d = [s["delayMs"] for r in by.get((method, l), []) for s in r["segments"]]
                cells.append("n/a" if not d else f"{np.median(d):.1f} (min {min(d):.1f}, max {max(d):.1f})")
            print(f"| {method}: median | " + " | ".join(cells) + " |")

    for ours_method, per_loss in verdicts.items():
        print()
        for l in losses:
            present = [v for v in per_loss.get(l, []) if not math.isnan(v[0])]
            if not present:
                continue
            m, half = min(present, key=lambda x: x[0])
            if m - half > 0:
                word = "beats every baseline"
            elif m + half < 0:
                word = "is WORSE than the best baseline"
            else:
                word = "matches the best baseline (difference within the 95 % interval)"
            print(f"  {l:g} % loss: {ours_method} {word} (against the best: {m:+.2f} ± {half:.2f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--out", required=True)
    p.add_argument("--material", choices=["espeak", "flite", "alsa"], default="espeak")
    s = sub.add_parser("score")
    s.add_argument("--dir", required=True)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.out, args.material)
    else:
        score(args.dir)


if __name__ == "__main__":
    main()
