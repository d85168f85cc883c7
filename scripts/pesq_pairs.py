#!/usr/bin/env python3
"""PESQ-WB (ITU-T P.862.2, the `pesq` package) of each degraded WAV against its reference, as
listed in DIR/manifest.json (written by `cargo bench --bench voice_processing`).

  pesq_pairs.py DIR

Both signals go to 16 kHz by the same polyphase resampler, are cut to the item's stretch
(from_s..to_s), and the degraded one is shifted by its bulk delay (the cross-correlation peak
within 0..60 ms: the processing chain's own delay) before scoring. Writes DIR/pesq.json.
"""

import json
import os
import sys

import numpy as np
from pesq import pesq
from scipy.io import wavfile
from scipy.signal import correlate, resample_poly


def read16k(path):
    rate, data = wavfile.read(path)
    x = data.astype(np.float64)
    if data.dtype == np.int16:
        x /= 32768.0
    assert rate == 48000, f"{path}: {rate} Hz"
    return resample_poly(x, 1, 3)


def bulk_delay(ref, deg, max_lag):
    c = correlate(deg[: len(ref)], ref, mode="full", method="fft")
    zero = len(ref) - 1
    window = c[zero : zero + max_lag + 1]
    return int(np.argmax(window))


def main():
    directory = sys.argv[1]
    with open(os.path.join(directory, "manifest.json")) as f:
        items = json.load(f)["items"]
    scores = {}
    for item in items:
        ref = read16k(os.path.join(directory, item["reference"]))
        deg = read16k(os.path.join(directory, item["degraded"]))
        a, b = int(item["from_s"] * 16000), int(item["to_s"] * 16000)
        lag = bulk_delay(ref[a:b], deg[a:], 16 * 60)
        r, d = ref[a:b], deg[a + lag : b + lag]
        n = min(len(r), len(d))
        score = pesq(16000, r[:n], d[:n], "wb")
        scores[item["name"]] = score
        print(f"{item['name']:<34} PESQ-WB {score:.2f}  (delay {lag / 16:.1f} ms)")
    with open(os.path.join(directory, "pesq.json"), "w") as f:
        json.dump(scores, f, indent=1)


if __name__ == "__main__":
    main()
