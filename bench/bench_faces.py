"""Speed of the synthetic face renderer and of the craniofacial measures, on one core.

Workload (issue 3's demo corpus): 200 speakers × (1 canonical + 4 varied) renders at
64×64, which must take well under the 20 s share of the corpus's 60 s budget; the
same at 128×128; and craniofacial measures of 100,000 landmark sets.

    python bench/bench_faces.py [--speakers 200] [--varied 4]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from speech2face.craniofacial import craniofacial_measures
from speech2face.synth.synthetic_faces import render_face, sample_face_params, sample_variation
from speech2face.vocabulary import SYNTHETIC_ETHNICITIES

BUDGET_S = 20.0


def _speakers(n: int, rng: np.random.Generator) -> list:
    return [
        sample_face_params(
            rng,
            gender=("female", "male")[i % 2],
            age=float(rng.uniform(18, 80)),
            ethnicity=SYNTHETIC_ETHNICITIES[i % len(SYNTHETIC_ETHNICITIES)],
        )
        for i in range(n)
    ]


def _render_all(faces: list, *, size: int, varied: int, rng: np.random.Generator) -> tuple:
    """Wall and CPU seconds to render every face, and their landmarks."""
    start, cpu_start = time.perf_counter(), time.process_time()
    landmarks = []
    for face in faces:
        landmarks.append(render_face(face, size=size).landmarks)
        for _ in range(varied):
            variation = sample_variation(rng)
            landmarks.append(render_face(face, size=size, variation=variation).landmarks)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return wall, cpu, np.stack(landmarks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speakers", type=int, default=200)
    parser.add_argument("--varied", type=int, default=4)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    load = os.getloadavg()[0]
    print(f"cpu: {os.cpu_count()} cores visible, load {load:.1f}; one thread (CPU time is the")
    print("     figure for one uncontended core, wall time includes waiting for a core)")
    start = time.perf_counter()
    faces = _speakers(args.speakers, rng)
    sampling = time.perf_counter() - start
    print(f"sample_face_params: {args.speakers / sampling:,.0f} speakers/s")
    n_images = args.speakers * (1 + args.varied)
    for size in (64, 128):
        wall, cpu, landmarks = _render_all(faces, size=size, varied=args.varied, rng=rng)
        line = (
            f"render {size}x{size}: {n_images} faces in {wall:.2f} s wall, {cpu:.2f} s CPU"
            f" = {n_images / cpu:,.0f} faces per CPU-second"
        )
        if size == 64:
            line += f" ({cpu / BUDGET_S:.0%} of the {BUDGET_S:.0f} s budget)"
        print(line)
    many = np.repeat(landmarks, int(np.ceil(100_000 / len(landmarks))), axis=0)[:100_000]
    start = time.perf_counter()
    craniofacial_measures(many)
    seconds = time.perf_counter() - start
    print(f"craniofacial_measures: 100,000 faces in {seconds:.2f} s = {1e5 / seconds:,.0f} faces/s")


if __name__ == "__main__":
    main()
