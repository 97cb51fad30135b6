"""ge2e vs small voice-encoder training on one small synthetic corpus: steps/s and wall time.

Makes an `s2f synth` corpus (default 24 speakers × 3 clips, a quarter of
the speakers in test), cuts each clip to 6 s and
gives each speaker a stand-in 128-D face feature (±3·u by gender plus a random identity
vector, as docs/model.md's voice-side check does), then trains each preset through the
same `VoiceTrainer` step `s2f train` uses (batch 8, paper optimiser, no face heads, as on
stored descriptors) and times the steps. For ge2e it also times the fast path: GE2E
embeddings computed once per clip, then `fit_head` (200 epochs). After training, the
sign of v·u on the test speakers' clips is the gender it gives; this is a plumbing
figure on a tiny corpus, not a quality comparison.

Needs the [voices] extra. Run: .venv/bin/python bench/bench_ge2e.py [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from s2f.cli import main as s2f
from speech2face.audio import PAPER_CONFIG, spectrogram
from speech2face.audio.frontend import fit_duration
from speech2face.audio.io import load_audio
from speech2face.backends.ge2e import fit_head
from speech2face.models.registry import get_model
from speech2face.training.voice import (
    FaceHeads,
    FeaturePairs,
    TrainingConfig,
    VoiceTrainer,
    collate_pairs,
)

DIM = 128
SECONDS = 6


def corpus(folder: Path, speakers: int, clips: int) -> tuple[pd.DataFrame, torch.Tensor, float]:
    start = time.perf_counter()
    argv = ["synth", "--out", folder, "--speakers", speakers, "--clips-per-speaker", clips]
    argv += ["--test-fraction", 0.25]
    assert s2f([str(arg) for arg in argv]) == 0
    synth_s = time.perf_counter() - start
    rows = pd.read_parquet(folder / "manifest.parquet")
    waves = [
        fit_duration(
            load_audio(folder / path, sample_rate=PAPER_CONFIG.sample_rate),
            seconds=SECONDS,
            sample_rate=PAPER_CONFIG.sample_rate,
        )
        for path in rows["audio_path"]
    ]
    specs = torch.cat(
        [
            spectrogram(torch.from_numpy(np.stack(waves[i : i + 16])))
            for i in range(0, len(waves), 16)
        ]
    )
    return rows.reset_index(drop=True), specs, synth_s


def stand_in_features(rows: pd.DataFrame) -> tuple[torch.Tensor, np.ndarray]:
    rng = np.random.default_rng(0)
    u = rng.normal(size=DIM)
    u /= np.linalg.norm(u)
    identity = {s: rng.normal(size=DIM) for s in sorted(rows["speaker_id"].unique())}
    sign = np.where(rows["gender"] == "male", 1.0, -1.0)
    features = np.stack([3 * sign[i] * u + identity[s] for i, s in enumerate(rows["speaker_id"])])
    return torch.as_tensor(features, dtype=torch.float32), u


def gender_from(predicted: torch.Tensor, u: np.ndarray, rows: pd.DataFrame) -> float:
    said = np.where(predicted.numpy() @ u > 0, "male", "female")
    return float((said == rows["gender"].to_numpy()).mean())


def train(preset, data, test, out_dir, *, epochs, batch) -> dict:
    torch.manual_seed(0)
    model = get_model(preset)
    config = TrainingConfig(batch_size=batch, epochs=epochs, checkpoint_every=10**9)
    trainer = VoiceTrainer(
        model,
        preset=preset,
        heads=FaceHeads(decoder_head=None, fc8_head=None),
        config=config,
        out_dir=out_dir,
        manifest_hash="bench",
        progress=False,
    )
    loader = DataLoader(data, batch_size=batch, shuffle=True, collate_fn=collate_pairs)
    warm = next(iter(loader))
    trainer.train_step(*warm)  # warm-up, not timed
    steps, start = 0, time.perf_counter()
    for _ in range(epochs):
        for ids, x, y in loader:
            trainer.train_step(ids, x, y)
            steps += 1
    wall = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        predicted = model(test[0])
    return {"steps": steps, "wall": wall, "model": model, "predicted": predicted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--speakers", type=int, default=24)
    parser.add_argument("--clips", type=int, default=3, help="clips per speaker")
    parser.add_argument("--epochs", type=int, default=2, help="epochs through VoiceTrainer")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} thread(s); load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        rows, specs, synth_s = corpus(scratch / "corpus", args.speakers, args.clips)
        features, u = stand_in_features(rows)
        fit = (rows["split"] != "test").to_numpy().copy()
        test_rows = rows[~fit].reset_index(drop=True)
        data = FeaturePairs(list(rows.loc[fit, "clip_id"]), specs[fit], features[fit])
        test = (specs[~fit], features[~fit])
        print(
            f"corpus: {args.speakers} speakers × {args.clips} clips ({synth_s:.0f} s to synthesise)"
            f", {fit.sum()} train+val clips, {(~fit).sum()} test clips, {SECONDS} s each"
        )
        results = {}
        for preset in ("small", "ge2e"):
            result = train(
                preset, data, test, scratch / preset, epochs=args.epochs, batch=args.batch
            )
            results[preset] = result
            rate = result["steps"] / result["wall"]
            print(
                f"{preset:>5}: {result['steps']} steps (batch {args.batch}, {args.epochs} epochs) "
                f"in {result['wall']:.1f} s = {rate:.2f} steps/s = {rate * args.batch:.1f} clips/s"
                f"; test gender from v·u {gender_from(result['predicted'], u, test_rows):.2f}"
            )
        ratio = (results["ge2e"]["steps"] / results["ge2e"]["wall"]) / (
            results["small"]["steps"] / results["small"]["wall"]
        )
        print(f"ge2e / small steps/s: {ratio:.2f}")

        model = get_model("ge2e")
        start = time.perf_counter()
        with torch.no_grad():
            embeddings = torch.cat(
                [model.embedding(specs[i : i + 16]) for i in range(0, len(specs), 16)]
            )
        embed_s = time.perf_counter() - start
        start = time.perf_counter()
        losses = fit_head(model, embeddings[fit].numpy(), features[fit].numpy(), epochs=200)
        head_s = time.perf_counter() - start
        with torch.no_grad():
            predicted = model.head(embeddings[~fit])
        print(
            f"ge2e fast path: GE2E embeddings of {len(specs)} clips once {embed_s:.1f} s "
            f"({len(specs) / embed_s:.1f} clips/s), fit_head 200 epochs {head_s:.1f} s "
            f"(loss {losses[0]:.3f} → {losses[-1]:.3f}); test gender from v·u "
            f"{gender_from(predicted, u, test_rows):.2f}"
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
