"""``s2f demo``: the embedded default, end to end, every stage cached.

Synthesise a corpus with the ``paper_like`` imbalance, one language (``hi``) held out of
training (its speakers are all in the test split); train the small face encoder,
decoder and attribute classifier; train a baseline voice encoder on the imbalanced train
split; write the dataset report; predict the test split and audit it; retrain the voice
encoder on a rebalanced train split (``reweight`` or ``resample``) with the same face
models, predict and audit it; compare the two audits, paired. Layout of ``--out``::

    corpus/                 the synthetic corpus (manifest.parquet, audio, faces)
    faces/face_models/      the face encoder, decoder and attribute classifier
    runs/baseline/          voice encoder trained on the imbalanced train split
    runs/rebalanced/        voice encoder trained on the rebalanced split (+ rebalance.json)
    predictions/{baseline,rebalanced}/
    audits/{baseline,rebalanced}/   audit results, each with report.html
    comparison/             paired comparison, with report.html
    trials/baseline/        the baseline as a voice-face matcher: trials.parquet of the test
                            split (s2f trials; heard languages from the run's record) and
                            audit/ (s2f audit-trials: heard vs unheard, with report.html)
    reports/dataset.html    the dataset report (analysis in reports/dataset.analysis/)
    summary.txt             the three-line summary printed at the end
    .stages/<stage>.json    each finished stage's key

A stage's key hashes its own settings and the keys of the stages it reads; a stage whose
recorded key matches (and whose output is there) is skipped, any other is rerun, and so is
every stage after it that reads it. A stage cut short resumes where it can (the corpus
generator, training checkpoints and prediction chunks all resume).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from audit.artifacts import REPORT_FILE
from speech2face.artifacts import CORPUS_MANIFEST_FILE, REBALANCE_FILE
from speech2face.atomic import write_json
from speech2face.errors import InputError
from speech2face.outputs import open_folder
from speech2face.training.driver import METHODS, REWEIGHT, UNKNOWN_METHOD
from speech2face.training.face_config import (
    AttributeTrainingConfig,
    FaceDecoderTrainingConfig,
    FaceEncoderTrainingConfig,
    FaceStageConfig,
)
from speech2face.vocabulary import MIN_GROUP_SPEAKERS

DEMO_OUT_VARIABLE = "S2F_DEMO_OUT"
STAGES_DIR = ".stages"
SUMMARY_FILE = "summary.txt"
MODELS = ("baseline", "rebalanced")
TRIALS_IMPOSTORS = 4
"""Impostor faces per test clip in the demo's trials (one target each)."""
TRIALS_FILE = "trials.parquet"

UNFINISHED_DEMO = "{out}: an unfinished demo is there; finish it with `s2f demo --out {out}`"
NOT_POSITIVE = "--{option} must be a positive integer, got {value!r}"


def _demo_faces() -> FaceStageConfig:
    return FaceStageConfig(
        encoder=FaceEncoderTrainingConfig(epochs=6),
        decoder=FaceDecoderTrainingConfig(epochs=12),
        attributes=AttributeTrainingConfig(epochs=6),
        extra_identities=100,
    )


@dataclass(frozen=True)
class DemoSettings:
    """Everything the demo's outputs depend on; each stage hashes the part it reads."""

    speakers: int = 240
    clips_per_speaker: int = 4
    renders_per_speaker: int = 4
    imbalance: str = "paper_like"
    unheard_languages: tuple[str, ...] = ("hi",)
    """Held out of training by the corpus: the trials audit's unheard language (``hi``: of
    the six, the fewest train and val speakers at the default size, 12 of 120, so the test
    split grows least)."""
    test_fraction: float = 0.5
    val_fraction: float = 0.1
    seed: int = 0
    faces: FaceStageConfig = field(default_factory=_demo_faces)
    preset: str = "small"
    voice_steps: int = 300
    batch_size: int = 8
    train_duration_s: float = 3.0
    rebalance: str = REWEIGHT
    rebalance_on: tuple[str, ...] = ("ethnicity", "gender")
    durations: tuple[float, ...] = (3.0, 6.0)
    n_boot: int = 1000
    min_speakers: int = MIN_GROUP_SPEAKERS
    workers: int = 2

    def __post_init__(self) -> None:
        for option in ("speakers", "voice_steps", "batch_size", "n_boot", "workers"):
            value = getattr(self, option)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(NOT_POSITIVE.format(option=option.replace("_", "-"), value=value))
        if self.rebalance not in METHODS:
            methods = ", ".join(METHODS)
            raise InputError(UNKNOWN_METHOD.format(methods=methods, value=self.rebalance))


@dataclass(frozen=True)
class Stage:
    """One cached step: its name, the folder it writes, the settings and stages it reads."""

    name: str
    output: str
    settings: dict[str, Any]
    reads: tuple[str, ...]
    run: Callable[[Path, bool], None]
    """Build ``output``; the flag says a run of this very stage was cut short there."""


@dataclass
class DemoResult:
    """Where the demo wrote its reports, which stages ran, and the summary lines."""

    out: Path
    reports: dict[str, Path]
    ran: list[str]
    skipped: list[str]
    summary: list[str]
    seconds: dict[str, float]


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _voice_settings(s: DemoSettings) -> dict[str, Any]:
    return {
        "preset": s.preset,
        "steps": s.voice_steps,
        "batch_size": s.batch_size,
        "duration_s": s.train_duration_s,
        "seed": s.seed,
    }


def build_stages(settings: DemoSettings, out: Path) -> list[Stage]:
    """The demo's stages in order (each reads only earlier ones)."""
    s = settings
    manifest = out / "corpus" / CORPUS_MANIFEST_FILE
    corpus = {
        "speakers": s.speakers,
        "clips_per_speaker": s.clips_per_speaker,
        "renders_per_speaker": s.renders_per_speaker,
        "imbalance": s.imbalance,
        "unheard_languages": list(s.unheard_languages),
        "test_fraction": s.test_fraction,
        "val_fraction": s.val_fraction,
        "seed": s.seed,
    }
    audit = {"n_boot": s.n_boot, "min_speakers": s.min_speakers, "seed": s.seed}
    rebalance = {"method": s.rebalance, "columns": list(s.rebalance_on)}
    stages = [
        Stage(
            "corpus",
            "corpus",
            corpus,
            (),
            lambda path, _: _synthesise(path, settings=s),
        ),
        Stage(
            "dataset_report",
            "reports",
            {},
            ("corpus",),
            lambda path, _: _dataset_report(manifest, path),
        ),
        Stage(
            "face_models",
            "faces",
            {"config": asdict(s.faces), "seed": s.seed},
            ("corpus",),
            lambda path, _: _face_models(manifest, path, settings=s),
        ),
    ]
    for model in MODELS:
        method = None if model == "baseline" else s.rebalance
        stages += [
            Stage(
                f"{model}_train",
                f"runs/{model}",
                {**_voice_settings(s), **({"rebalance": rebalance} if method else {})},
                ("corpus", "face_models"),
                lambda path, resume, method=method: _train_voice(
                    manifest, path, out / "faces", settings=s, method=method, resume=resume
                ),
            ),
            Stage(
                f"{model}_predict",
                f"predictions/{model}",
                {"durations": list(s.durations)},
                ("corpus", f"{model}_train"),
                lambda path, resume, model=model: _predict(
                    out / "runs" / model, manifest, path, settings=s, model=model, resume=resume
                ),
            ),
            Stage(
                f"{model}_audit",
                f"audits/{model}",
                audit,
                (f"{model}_predict", "dataset_report"),
                lambda path, _, model=model: _audit(out / "predictions" / model, path, settings=s),
            ),
        ]
    stages.append(
        Stage(
            "comparison",
            "comparison",
            {},
            ("baseline_audit", "rebalanced_audit"),
            lambda path, _: _compare([out / "audits" / m for m in MODELS], path),
        )
    )
    stages.append(
        Stage(
            "baseline_trials",
            "trials/baseline",
            {**audit, "impostors_per_clip": TRIALS_IMPOSTORS},
            ("baseline_predict",),
            lambda path, _: _trials(out / "predictions" / "baseline", path, settings=s),
        )
    )
    return stages


def stage_keys(stages: list[Stage]) -> dict[str, str]:
    """Each stage's key: the hash of its settings and of the keys of the stages it reads."""
    keys: dict[str, str] = {}
    for stage in stages:
        reads = [keys[name] for name in stage.reads]
        payload = {"stage": stage.name, "settings": stage.settings, "reads": reads}
        keys[stage.name] = _digest(payload)
    return keys


def run_demo(
    out: str | os.PathLike, settings: DemoSettings | None = None, *, log=sys.stderr
) -> DemoResult:
    """Run (or reuse) every stage of the demo under ``out``; return where the reports are."""
    settings = settings or DemoSettings()
    out = open_folder(out, "demo")
    (out / STAGES_DIR).mkdir(exist_ok=True)
    stages = build_stages(settings, out)
    keys = stage_keys(stages)
    ran, skipped, seconds = [], [], {}
    for number, stage in enumerate(stages, start=1):
        key = keys[stage.name]
        label = f"[{number}/{len(stages)}] {stage.name}"
        record = out / STAGES_DIR / f"{stage.name}.json"
        output = out / stage.output
        if _recorded(record).get("key") == key and output.exists():
            skipped.append(stage.name)
            print(f"{label}: cached", file=log, flush=True)
            continue
        print(f"{label}: running", file=log, flush=True)
        started = out / STAGES_DIR / f"{stage.name}.started"
        resume = _recorded(started).get("key") == key and output.exists()
        if not resume:
            record.unlink(missing_ok=True)
            _clear(output, keep_corpus=stage.name == "corpus")
        _write_json(started, {"key": key})
        start = time.perf_counter()
        stage.run(output, resume)
        seconds[stage.name] = round(time.perf_counter() - start, 2)
        _write_json(
            record, {"key": key, "settings": stage.settings, "seconds": seconds[stage.name]}
        )
        started.unlink(missing_ok=True)
        ran.append(stage.name)
        print(f"{label}: done in {seconds[stage.name]:.1f} s", file=log, flush=True)
    summary = summary_lines(out)
    (out / SUMMARY_FILE).write_text("\n".join(summary) + "\n")
    reports = {
        "dataset": out / "reports" / "dataset.html",
        **{model: out / "audits" / model / REPORT_FILE for model in MODELS},
        "comparison": out / "comparison" / REPORT_FILE,
        "trials": out / "trials" / "baseline" / "audit" / REPORT_FILE,
    }
    return DemoResult(out, reports, ran, skipped, summary, seconds)


def _recorded(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    write_json(path, payload, indent=2, sort_keys=True, default=str)


def _clear(output: Path, *, keep_corpus: bool) -> None:
    """Remove a stale output (the corpus generator replaces its own folder itself)."""
    if keep_corpus or not output.exists():
        return
    if output.is_dir():
        shutil.rmtree(output)
    else:
        output.unlink()


# --- the stages -------------------------------------------------------------------------


def _synthesise(path: Path, *, settings: DemoSettings) -> None:
    from speech2face.synth.corpus import generate_corpus

    generate_corpus(
        path,
        speakers=settings.speakers,
        clips_per_speaker=settings.clips_per_speaker,
        renders_per_speaker=settings.renders_per_speaker,
        seed=settings.seed,
        imbalance=settings.imbalance,
        test_fraction=settings.test_fraction,
        val_fraction=settings.val_fraction,
        workers=settings.workers,
        unheard_languages=settings.unheard_languages,
    )


def _dataset_report(manifest: Path, path: Path) -> None:
    from audit.imbalance import analyze_dataset
    from s2f.commands.dataset_report import write_dataset_report
    from speech2face.manifest.load import load_manifest

    analysis = analyze_dataset(load_manifest(manifest))
    write_dataset_report(analysis, path / "dataset.html", source=manifest)


def _face_models(manifest: Path, path: Path, *, settings: DemoSettings) -> None:
    from speech2face.training.face_stage import prepare_face_stage

    prepare_face_stage(manifest, path, seed=settings.seed, config=settings.faces)


def _train_voice(
    manifest: Path,
    run: Path,
    faces: Path,
    *,
    settings: DemoSettings,
    method: str | None,
    resume: bool,
) -> None:
    """Train a voice encoder on the train split (rebalanced by ``method`` unless None), the
    way ``s2f train --rebalance METHOD`` does, on a copy of the demo's face models."""
    from speech2face.training.driver import VoiceRun, train_run
    from speech2face.training.face_stage import prepare_face_stage
    from speech2face.training.voice import CHECKPOINT_FILE, TrainingConfig

    prepare_face_stage(manifest, run, face_models=faces)
    every = max(settings.voice_steps // 4, 1)
    train_run(
        VoiceRun(
            manifest=manifest,
            out=run,
            preset=settings.preset,
            duration_s=settings.train_duration_s,
            rebalance=method,
            rebalance_on=settings.rebalance_on,
            resume=resume and (run / CHECKPOINT_FILE).is_file(),
            training=TrainingConfig(
                batch_size=settings.batch_size,
                max_steps=settings.voice_steps,
                eval_every=every,
                checkpoint_every=every,
                seed=settings.seed,
            ),
        )
    )


def _predict(
    run: Path, manifest: Path, path: Path, *, settings: DemoSettings, model: str, resume: bool
) -> None:
    from speech2face.prediction import PredictionSettings, load_model, predict

    predict(
        load_model(run, model_id=f"{model}-{settings.preset}"),
        manifest,
        path,
        settings=PredictionSettings(durations=tuple(settings.durations), split="test"),
        resume=resume,
    )


def _audit(predictions: Path, path: Path, *, settings: DemoSettings) -> None:
    from audit.engine import run_audit
    from reports.audit import render_audit_report

    result = run_audit(
        predictions,
        n_boot=settings.n_boot,
        seed=settings.seed,
        min_speakers=settings.min_speakers,
        progress=True,
    )
    result.save(
        path,
        render=lambda staging: render_audit_report(
            result,
            staging / REPORT_FILE,
            source=predictions,
            faces=predictions,  # synthetic faces: example speakers of each flagged group
            dataset_report="../../reports/dataset.html",
        ),
    )


def _compare(audits: list[Path], path: Path) -> None:
    from audit.compare import compare_audits
    from reports.comparison import render_comparison_report

    comparison = compare_audits(audits)
    comparison.save(
        path,
        render=lambda staging: render_comparison_report(
            comparison, staging / REPORT_FILE, source=path
        ),
    )


def _trials(predictions: Path, path: Path, *, settings: DemoSettings) -> None:
    """The baseline as a voice–face matcher: trials of its test split (``s2f trials``) and
    their audit (``s2f audit-trials``) with the demo's replicates, seed and minimum."""
    from audit.trials_config import TrialsConfig
    from audit.trials_result import run_trials_audit
    from reports.trials import render_trials_report
    from speech2face.trial_builder import build_trials
    from speech2face.trials import write_trials

    path.mkdir(parents=True, exist_ok=True)
    table, meta = build_trials(predictions, impostors_per_clip=TRIALS_IMPOSTORS, seed=settings.seed)
    write_trials(path / TRIALS_FILE, table, meta=meta)
    config = TrialsConfig(
        n_boot=settings.n_boot, seed=settings.seed, min_speakers=settings.min_speakers
    )
    result = run_trials_audit(path / TRIALS_FILE, config)
    result.save(
        path / "audit",
        render=lambda staging: render_trials_report(
            result, staging / REPORT_FILE, source=path / TRIALS_FILE
        ),
    )


def small_settings() -> DemoSettings:
    """A small demo (24 speakers, narrow one-epoch face models, 20 voice steps) that runs in
    well under a minute of CPU: what the notebooks build when no demo output exists yet."""
    widths = (8, 8, 8, 8)
    return DemoSettings(
        speakers=24,
        clips_per_speaker=2,
        renders_per_speaker=1,
        faces=FaceStageConfig(
            encoder=FaceEncoderTrainingConfig(epochs=1, widths=widths),
            decoder=FaceDecoderTrainingConfig(epochs=2, hidden_dim=64, texture_channels=widths),
            attributes=AttributeTrainingConfig(epochs=1, widths=widths, hidden_dim=16),
            extra_identities=8,
            extra_renders_per_identity=1,
        ),
        voice_steps=20,
        batch_size=4,
        durations=(3.0, 6.0),
        n_boot=200,
        min_speakers=3,
    )


def demo_outputs(out: str | os.PathLike | None = None) -> Path:
    """A finished demo folder: ``out`` (default ``$S2F_DEMO_OUT``, else ``demo-output``) as it
    is when a demo finished there; built there at :func:`small_settings` when no demo was
    ever started there (an unfinished one is an :class:`InputError`, never overwritten)."""
    out = Path(out if out is not None else os.environ.get(DEMO_OUT_VARIABLE, "demo-output"))
    if (out / SUMMARY_FILE).is_file():
        return out
    if (out / STAGES_DIR).is_dir():
        raise InputError(UNFINISHED_DEMO.format(out=out))
    run_demo(out, small_settings())
    return out


# --- the summary ------------------------------------------------------------------------


def summary_lines(out: str | os.PathLike) -> list[str]:
    """Three lines: the baseline's largest disparity, the least-represented groups' gaps in
    that metric before and after rebalancing, and the flag and regression counts; every
    number from the saved audits, comparison and ``rebalance.json``."""
    from audit.compare import ComparisonResult
    from audit.demo_summary import summary_from
    from audit.result import AuditResult

    out = Path(out)
    baseline = AuditResult.load(out / "audits" / "baseline")
    rebalanced = AuditResult.load(out / "audits" / "rebalanced")
    changes = ComparisonResult.load(out / "comparison").changes
    rebalance = _recorded(out / "runs" / "rebalanced" / REBALANCE_FILE)
    lines = summary_from(baseline, rebalanced, changes, rebalance=rebalance)
    trials = out / "trials" / "baseline" / "audit"
    if trials.is_dir():
        from audit.demo_summary import trials_line
        from audit.trials_result import TrialsAuditResult

        lines.append(trials_line(TrialsAuditResult.load(trials)))
    return lines
