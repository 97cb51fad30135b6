"""Prediction end to end on the synthetic corpus: speed (clips/s) and quality (S2F vs F2F).

Builds (or reuses, under ``--workdir``) a synthetic corpus (``s2f synth``'s defaults), the
run's face stage and a ``small`` voice encoder (its validation curve and training wall and
CPU time printed), then times ``predict`` on the test split: audio decoding, both
durations through the voice encoder, face encoding, F2F and S2F decoding, attributes,
craniofacial measures, chunk writing and the merge. Quality figures compare S2F and F2F
attributes with the true face's, and retrieve each clip's speaker from its predicted
feature among a 100-face gallery of true features.

    .venv/bin/python bench/bench_predict.py --workdir /tmp/s2f-bench [--speakers N]

``--variant NAME`` trains another voice encoder (e.g. with ``--train-arg=--lr=3e-4``)
into ``run-NAME/`` beside ``run/``, on a copy of the same face stage, so that variants are
compared on identical face models.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages
from s2f.cli import main as s2f
from speech2face.prediction import PredictionSettings, load_model, predict
from speech2face.prediction.artifact import ATTRIBUTES, read_predictions
from speech2face.synth.corpus import DEFAULT_SPEAKERS, generate_corpus
from speech2face.training.face_config import (
    AttributeTrainingConfig,
    FaceDecoderTrainingConfig,
    FaceEncoderTrainingConfig,
    FaceStageConfig,
)
from speech2face.training.face_stage import prepare_face_stage


def timed(label: str, action):
    start, cpu = time.perf_counter(), time.process_time()
    result = action()
    print(
        f"{label}: {time.perf_counter() - start:.1f} s wall, {time.process_time() - cpu:.1f} s CPU"
    )
    return result


def recall_at(
    table, pred, true, *, k: int = 10, gallery: int = 100, repeats: int = 20
) -> tuple[float, float]:
    """Mean recall@k (cosine) of each clip's speaker among ``gallery`` true faces, and chance."""
    rng = np.random.default_rng(0)
    speakers = table["speaker_id"].to_numpy()
    names = np.unique(speakers)
    size = min(gallery, len(names))
    unit_pred = pred / np.linalg.norm(pred, axis=1, keepdims=True)
    unit_true = true / np.linalg.norm(true, axis=1, keepdims=True)
    hits = []
    for _ in range(repeats):
        chosen = rng.choice(names, size=size, replace=False)
        faces = unit_true[[np.flatnonzero(speakers == name)[0] for name in chosen]]
        queries = np.flatnonzero(np.isin(speakers, chosen))
        position = {name: i for i, name in enumerate(chosen)}
        own = np.array([position[name] for name in speakers[queries]])
        similarity = unit_pred[queries] @ faces.T
        rank = (similarity > similarity[np.arange(len(queries)), own][:, None]).sum(axis=1)
        hits.append(np.mean(rank < k))
    return float(np.mean(hits)), k / size


def label_oracle(table, true, columns: list[str]) -> np.ndarray:
    """Each clip's prediction if the voice gave ``columns`` exactly and nothing else.

    The mean true feature of the other speakers' clips with the same labels (leave one
    speaker out), the best a model can do in cosine retrieval knowing only those labels.
    """
    keys = table[columns].astype(str).agg("|".join, axis=1).to_numpy()
    speakers = table["speaker_id"].to_numpy()
    oracle = np.empty_like(true)
    for i in range(len(table)):
        peers = (keys == keys[i]) & (speakers != speakers[i])
        oracle[i] = true[peers].mean(axis=0) if peers.any() else true.mean(axis=0)
    return oracle


def train_voice(manifest: Path, run: Path, args: argparse.Namespace) -> None:
    """``s2f train`` (small) with the bench's schedule; print the val curve and the time."""
    argv = ["train", "--manifest", str(manifest), "--out", str(run), "--no-progress"]
    argv += ["--steps", str(args.steps), "--batch-size", str(args.batch_size)]
    argv += ["--eval-every", str(args.eval_every), "--duration", "6"]
    argv += ["--average-weights", str(args.average_weights)] if args.average_weights else []
    argv += args.train_arg
    timed(f"voice encoder (small, {args.steps} steps of {args.batch_size})", lambda: s2f(argv))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    curve = [(r["step"], round(r["total"], 1)) for r in records if r["split"] == "val"]
    print("validation loss (step, total):", curve)


def report_quality(path: Path) -> None:
    predictions = read_predictions(path)
    table = predictions.table
    for duration, rows in table.groupby("duration_s"):
        index = rows.index.to_numpy()
        print(
            f"-- {duration:g} s clips ({len(rows)} clips, {rows['speaker_id'].nunique()} speakers)"
        )
        for attribute in ATTRIBUTES:
            truth = rows[f"true_{attribute}"]
            s2f_score = float((rows[f"s2f_{attribute}"] == truth).mean())
            f2f_score = float((rows[f"f2f_{attribute}"] == truth).mean())
            majority = float(truth.value_counts(normalize=True).max())
            print(
                f"   {attribute:<10} agreement with the true face: S2F {s2f_score:.3f}  "
                f"F2F {f2f_score:.3f}  (majority class {majority:.3f})"
            )
        s2f_age = float(np.abs(rows["s2f_age_years"] - rows["true_age_years"]).mean())
        f2f_age = float(np.abs(rows["f2f_age_years"] - rows["true_age_years"]).mean())
        print(f"   age error vs the true face: S2F {s2f_age:.1f} y  F2F {f2f_age:.1f} y")
        true = np.asarray(predictions.features["true_feature"][index])
        recall, chance = recall_at(
            rows, np.asarray(predictions.features["pred_feature"][index]), true
        )
        print(f"   recall@10 (cosine, 100-face gallery): {recall:.3f}, chance {chance:.3f}")
        for columns in (["gender", "ethnicity"], ["gender", "ethnicity", "age_group"]):
            ceiling, _ = recall_at(rows, label_oracle(rows, true, columns), true)
            print(f"   recall@10 knowing only {' & '.join(columns)}: {ceiling:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/s2f-bench-predict"))
    parser.add_argument("--speakers", type=int, default=DEFAULT_SPEAKERS)
    parser.add_argument("--steps", type=int, default=400, help="voice encoder steps")
    parser.add_argument("--batch-size", type=int, default=32, help="voice encoder batch")
    parser.add_argument(
        "--average-weights",
        type=float,
        default=0.99,
        metavar="DECAY",
        help="s2f train --average-weights (0: the last weights)",
    )
    parser.add_argument("--eval-every", type=int, default=100, help="voice validation every N")
    parser.add_argument(
        "--train-arg", action="append", default=[], help="one more s2f train argument"
    )
    parser.add_argument("--variant", help="train into run-VARIANT/ on run/'s face stage")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {os.cpu_count()} CPUs visible, torch threads {args.threads}")
    manifest = timed(
        f"corpus ({args.speakers} speakers)",
        lambda: generate_corpus(args.workdir / "corpus", speakers=args.speakers, progress=False),
    )
    run = args.workdir / "run"
    stage = FaceStageConfig(
        encoder=FaceEncoderTrainingConfig(epochs=8),
        decoder=FaceDecoderTrainingConfig(epochs=15),
        attributes=AttributeTrainingConfig(epochs=8),
        extra_identities=100,
    )
    timed("face stage", lambda: prepare_face_stage(manifest, run, config=stage))
    if args.variant:
        source, run = run, args.workdir / f"run-{args.variant}"
        prepare_face_stage(manifest, run, face_models=source)
    if not (run / "checkpoint.pt").is_file():
        train_voice(manifest, run, args)
    model = load_model(run)
    out = args.workdir / (f"pred-{args.variant}" if args.variant else "pred")
    shutil.rmtree(out, ignore_errors=True)
    settings = PredictionSettings(durations=(3.0, 6.0), split="test")
    start = time.perf_counter()
    predict(model, manifest, out, settings=settings, progress=False)
    seconds = time.perf_counter() - start
    rows = len(read_predictions(out).table)
    clips = rows // len(settings.durations)
    print(
        f"predict (small, test split): {clips} clips x 2 durations in {seconds:.1f} s = "
        f"{clips / seconds:.1f} clips/s ({rows / seconds:.1f} rows/s)"
    )
    report_quality(out)


if __name__ == "__main__":
    main()
