"""Prediction throughput of a ``small`` run against its voice encoder's forward rate.

Interleaves (``bench/timing.py``), ``--repeats`` times each, on the test split of the corpus
and run that ``bench/bench_predict.py`` left in ``--workdir``:

- the yardstick: the voice encoder's forward pass over as many 6 s clips as the test split
  holds, in batches of 8 (spectrograms computed beforehand, so no front end);
- ``predict`` in-process: the test split at 3 s and 6 s, from audio decoding to the merge;
- the same at 6 s only: the yardstick's encoder work (one pass per clip), the rest alike;
- ``s2f predict`` as a whole process (imports and model loading too).

Prints each one's median and spread, clips/s, its ratio to the yardstick, and the load
before and after. ``--profile`` first prints where one in-process ``predict`` spends its
time, by phase (cumulative seconds under ``cProfile``; phases nest, e.g. the voice encoder
inside the voice features).

    .venv/bin/python bench/bench_predict.py --workdir /tmp/s2f-tput --speakers 400 --steps 20
    .venv/bin/python bench/bench_predict_throughput.py --workdir /tmp/s2f-tput [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import os
import pstats
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages
from timing import interleave, load, median, report

from speech2face.audio import SpectrogramConfig, fit_duration, load_audio, spectrogram
from speech2face.craniofacial import craniofacial_measures
from speech2face.models.attribute_classifier import predict_attributes
from speech2face.models.face_decoder import FaceDecoder
from speech2face.models.voice_encoder import VoiceEncoder
from speech2face.prediction import PredictionSettings, compute, load_model, predict
from speech2face.prediction import run as run_module
from speech2face.prediction.artifact import write_predictions
from speech2face.training.face_domain import compare_domains

ROOT = Path(__file__).resolve().parents[1]
YARDSTICK_BATCH = 8
SPLIT = "test"
PHASES = {
    "manifest: load and validate": run_module._load_manifest,
    "face domain (hashes every face)": compare_domains,
    "renderer landmarks": run_module._renderer_landmarks,
    "audio decoding and resampling": load_audio,
    "voice features (front end + encoder)": compute.voice_features,
    "  front end (STFT)": spectrogram,
    "  voice encoder": VoiceEncoder.forward,
    "true faces: read and encode": compute._true_faces,
    "face decoder (F2F and S2F)": FaceDecoder.decode,
    "attribute classifier (true, F2F, S2F)": predict_attributes,
    "craniofacial measures": craniofacial_measures,
    "chunk and final writing": write_predictions,
    "merge (reading chunks back)": run_module._merge,
    "metadata": run_module._meta,
}


def encoder_inputs(manifest: Path) -> list[torch.Tensor]:
    """The test split's clips as 6 s spectrograms, in batches of :data:`YARDSTICK_BATCH`."""
    rows = pd.read_parquet(manifest)
    rows = rows[rows["split"] == SPLIT]
    config = SpectrogramConfig(duration_s=6.0)
    waves = [
        fit_duration(load_audio(manifest.parent / path), seconds=6.0, sample_rate=16000)
        for path in rows["audio_path"]
    ]
    return [
        spectrogram(torch.from_numpy(np.stack(waves[i : i + YARDSTICK_BATCH])), config)
        for i in range(0, len(waves), YARDSTICK_BATCH)
    ]


def profile(model, manifest: Path, out: Path, settings: PredictionSettings) -> None:
    """Cumulative seconds of one in-process ``predict`` in each of :data:`PHASES`."""
    profiler = cProfile.Profile()
    profiler.runcall(predict, model, manifest, out, settings=settings, progress=False)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = max(cumulative for _, _, _, cumulative, _ in stats.values())
    seconds = {}
    for phase, function in PHASES.items():
        code = inspect.unwrap(function).__code__
        key = (code.co_filename, code.co_firstlineno, code.co_name)
        seconds[phase] = stats[key][3] if key in stats else 0.0
    print(f"profile of one predict ({load()}): {total:.2f} s in all")
    for phase, value in seconds.items():
        print(f"  {phase:<40} {value:6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/s2f-bench-predict"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the phases first")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    manifest, run = args.workdir / "corpus" / "manifest.parquet", args.workdir / "run"
    if not (run / "checkpoint.pt").is_file():
        sys.exit(f"no run in {args.workdir}: run bench/bench_predict.py --workdir first")
    model = load_model(run)
    settings = PredictionSettings(durations=(3.0, 6.0), split=SPLIT)
    out, whole = args.workdir / "pred-throughput", args.workdir / "pred-throughput-process"
    inputs = encoder_inputs(manifest)
    clips = sum(len(batch) for batch in inputs)
    print(
        f"{model.preset} run, {clips} {SPLIT} clips at 3 s and 6 s, torch threads {args.threads}, "
        f"{os.cpu_count()} CPUs visible"
    )
    if args.profile:
        shutil.rmtree(out, ignore_errors=True)
        profile(model, manifest, out, settings)

    def forward() -> None:
        with torch.inference_mode():
            for batch in inputs:
                model.voice_encoder(batch)

    def in_process(chosen: PredictionSettings = settings) -> None:
        shutil.rmtree(out, ignore_errors=True)
        predict(model, manifest, out, settings=chosen, progress=False)

    six_only = PredictionSettings(durations=(6.0,), split=SPLIT)

    command = [sys.executable, "-m", "s2f", "predict", "--model", str(run)]
    command += ["--manifest", str(manifest), "--out", str(whole), "--split", SPLIT]
    command += ["--threads", str(args.threads), "--no-progress"]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}

    def whole_process() -> None:
        shutil.rmtree(whole, ignore_errors=True)
        subprocess.run(command, check=True, env=environment, stdout=subprocess.DEVNULL)

    yardstick = f"voice encoder forward, batch {YARDSTICK_BATCH} of 6 s (yardstick)"
    candidates = {yardstick: forward, "predict, in-process": in_process}
    candidates["predict, in-process, 6 s only"] = lambda: in_process(six_only)
    candidates["s2f predict, whole process"] = whole_process
    print(f"before: {load()}")
    times = interleave(candidates, repeats=args.repeats)
    print(f"after:  {load()}")
    print(report(times))
    base = median(times[yardstick])
    for name, values in times.items():
        print(
            f"  {name:<50} {clips / median(values):6.1f} clips/s, "
            f"{median(values) / base:.2f}x the yardstick"
        )


if __name__ == "__main__":
    main()
