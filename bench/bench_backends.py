"""Throughput of the pretrained backends on real data (needs the [faces] and [voices] extras).

Faces: detection, then descriptor + 68 landmarks + age/gender per face, on the
face-recognition sdist's portraits and on 64×64 crops of them; a second
``s2f faces`` run over unchanged images (cache by content hash). Voices: GE2E
embeddings of 6 s clips through the batched spectrogram path vs Resemblyzer's
own per-utterance ``embed_utterance``. Run: ``.venv/bin/python bench/bench_backends.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from speech2face.audio.frontend import fit_duration, spectrogram
from speech2face.audio.io import load_audio
from speech2face.backends import voices
from speech2face.backends.face_inputs import face_inputs, find_media
from speech2face.backends.face_table import build_faces_table
from speech2face.backends.photo_faces import FaceAnalyzer, load_rgb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.backend_fixtures import codec2_wav_dir, grace_hopper, portrait_dir

REPEATS = 3


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def bench_faces() -> None:
    analyzer = FaceAnalyzer()
    folder = portrait_dir()
    paths = [*(folder / f"{n}.jpg" for n in ("obama", "obama2", "obama3", "biden")), grace_hopper()]
    images = [load_rgb(p) for p in paths]
    megapixels = sum(i.shape[0] * i.shape[1] for i in images) / 1e6
    boxes, detect_s = timed(lambda: [analyzer.detect(i)[0] for i in images * REPEATS])
    faces = list(zip(images * REPEATS, boxes, strict=True))
    chips = []
    start = time.perf_counter()
    for image, (left, top, right, bottom) in faces:
        analyzer.landmarks(image, (left, top, right, bottom))
        chips.append(analyzer.align(image, (left, top, right, bottom)))
        analyzer._age_gender.predict(image, [(top, right, bottom, left)])
    analyzer.descriptors(chips)
    face_s = time.perf_counter() - start
    crops = [image[max(t, 0) : b, max(l_, 0) : r] for image, (l_, t, r, b) in faces]
    n = len(crops)
    print(f"faces: {n} portraits ({megapixels:.1f} Mpx per round of {len(images)})")
    print(f"  HOG detection          {n / detect_s:7.2f} images/s")
    print(f"  descriptor+landmarks+age/gender  {n / face_s:7.2f} faces/s (batched descriptors)")
    small = [
        np.asarray(Image.fromarray(c).resize((64, 64), Image.Resampling.BICUBIC)) for c in crops
    ]
    results, small_s = timed(analyzer.analyze, small)
    found = sum(r.status == "ok" for r in results)
    print(f"  64×64 crops end to end {n / small_s:7.2f} images/s ({found}/{n} detected)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "faces.parquet"
        listed = face_inputs(find_media([folder]))
        _, first_s = timed(lambda: build_faces_table(listed, analyzer=analyzer, out=out))
        _, again_s = timed(lambda: build_faces_table(listed, analyzer=analyzer, out=out))
    print(
        f"  s2f faces on {len(listed)} images: first {first_s:.2f} s, unchanged rerun "
        f"{again_s:.2f} s ({first_s / again_s:.0f}× faster from the content-hash cache)"
    )


def bench_voices() -> None:
    folder = codec2_wav_dir()
    rate = voices.SAMPLE_RATE
    waves = []
    for name in ("ve9qrp", "vk2tpm_004", "david4", "vk5qi"):
        wave = load_audio(folder / f"{name}.wav", sample_rate=rate)
        waves += [wave[i * 6 * rate : (i + 1) * 6 * rate] for i in range(2)]
    module = voices.GE2EFromSpectrogram()
    voices.embed_waveforms(waves[:1], sample_rate=rate, encoder=module.encoder)  # warm-up (JIT)
    _, reference_s = timed(
        lambda: voices.embed_waveforms(waves, sample_rate=rate, encoder=module.encoder)
    )
    batch = torch.from_numpy(
        np.stack([fit_duration(w, seconds=6, sample_rate=rate) for w in waves])
    )
    with torch.no_grad():
        _, ours_s = timed(lambda: module(spectrogram(batch)))
    n = len(waves)
    print(f"voices: {n} clips of 6 s, GE2E 256-D")
    print(f"  Resemblyzer embed_utterance (VAD, per clip)  {n / reference_s:7.2f} clips/s")
    print(
        f"  spectrogram path, batched                    {n / ours_s:7.2f} clips/s "
        f"({reference_s / ours_s:.1f}× the reference)"
    )


if __name__ == "__main__":
    torch.set_num_threads(2)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    print(f"machine: {os.cpu_count()} CPUs visible, torch threads {torch.get_num_threads()}")
    bench_faces()
    bench_voices()
