"""Voice synthesis speed on one core: seconds of audio produced per second of work.

Compares the full voice (`synthesize`: espeak-ng in a fresh library instance,
jitter, vocal-tract resampling to 16 kHz) with bare espeak-ng synthesis of the
same sentences.

Run: .venv/bin/python bench/bench_voices.py [--sentences 60]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from speech2face.synth.espeak import ESPEAK_SAMPLE_RATE, EspeakSettings, espeak_synthesize
from speech2face.synth.sentences import LANGUAGES, SENTENCES
from speech2face.synth.voices import sample_voice_params, synthesize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=60)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    jobs = []
    for index in range(args.sentences):
        language = LANGUAGES[index % len(LANGUAGES)]
        voice = sample_voice_params(
            rng,
            gender=("female", "male")[index % 2],
            age=float(rng.uniform(20, 80)),
            face_size=float(rng.normal(12.1, 0.6)),
            language=language,
        )
        jobs.append((SENTENCES[language][index % len(SENTENCES[language])], voice))

    start = time.perf_counter()
    voiced = sum(synthesize(text, voice=voice).size for text, voice in jobs) / 16000
    full_s = time.perf_counter() - start

    start = time.perf_counter()
    bare = 0.0
    for text, voice in jobs:
        settings = EspeakSettings(f"{voice.language}+{voice.variant}", rate=voice.rate)
        bare += espeak_synthesize(text, settings).size / ESPEAK_SAMPLE_RATE
    bare_s = time.perf_counter() - start

    print(f"{len(jobs)} sentences in {len(LANGUAGES)} languages, one process")
    print(f"synthesize (full voice) : {voiced / full_s:7.1f} s of audio per s ({voiced:.0f} s)")
    print(f"bare espeak-ng          : {bare / bare_s:7.1f} s of audio per s ({bare:.0f} s)")
    print(f"ratio full / bare       : {(voiced / full_s) / (bare / bare_s):7.2f}x")


if __name__ == "__main__":
    main()
