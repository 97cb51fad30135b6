"""The face side of ``s2f train``: where each clip's target ``v_f`` comes from, and which heads.

Three face stacks:

- ``face_models``: a run's ``face_models/`` (``s2f train-faces``, synthetic corpora): the
  small face encoder gives ``v_f`` and fc8, the face decoder its first layer.
- ``features``: no face model at all; ``v_f`` is each clip's stored ``face_feature_path``
  vector (e.g. the dlib descriptors of ``s2f face-features``). No decoder, no fc8.
- ``vggface``: the user's VGG-Face weights encode each distinct ``face_path`` image once
  (fc7, 4096-D, the paper's target); fc8 gives the distillation term; no decoder.

Where a head is missing the loss says how it copes (:class:`FaceHeads`); the run records the
stack and the loss terms in ``RUN/face_stack.json``, which ``s2f predict`` reads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from speech2face.artifacts import FACE_STACK_FILE
from speech2face.atomic import write_json
from speech2face.audio import SpectrogramConfig
from speech2face.errors import InputError
from speech2face.hashing import file_sha256
from speech2face.manifest.io import read_manifest, resolve_path
from speech2face.manifest.load import load_manifest
from speech2face.manifest.schema import CLIP_ID, FACE_FEATURE_PATH, SPLIT
from speech2face.training.voice import FaceHeads
from speech2face.training.voice_data import (
    NO_TRAIN_ROWS,
    ManifestPairs,
    TrainingData,
    face_features,
)

FACE_MODELS, FEATURES, VGGFACE = "face_models", "stored_features", "vggface"

NO_FEATURE = (
    "{manifest}: row {row} (clip {clip_id}) has no face_feature_path; training on stored "
    "face features needs one for every train and val clip (s2f face-features makes them)"
)
UNREADABLE_FEATURE = "{manifest}: row {row} (clip {clip_id}): cannot read {path} ({reason})"
FEATURE_SHAPE = (
    "{manifest}: row {row} (clip {clip_id}): {path} holds shape {shape}, expected a vector"
)
FEATURE_DIMS_DIFFER = (
    "{manifest}: face features of different sizes ({dims}); every face_feature_path must "
    "hold vectors of one size"
)
DIM_MISMATCH = (
    "--preset {preset} outputs {voice_dim}-D features but the {source} are {face_dim}-D; "
    "pick the matching preset"
)
NO_VGGFACE_WEIGHTS = "--face-encoder vggface needs --vggface-weights FILE (a VGG-Face state_dict)"
STACK_CHANGED = (
    "{path}: this run was trained with face stack {found!r}, not {expected!r}; "
    "resume it with the same face stack or start a new run folder"
)


@dataclass
class FaceStack:
    """The targets' source, their size, the frozen loss heads and the run's record of them."""

    kind: str
    feature_dim: int
    heads: FaceHeads
    record: dict[str, Any] = field(default_factory=dict)
    face_encoder: torch.nn.Module | None = None
    """The encoder that turns ``face_path`` images into ``v_f`` (None: stored features)."""

    def describe(self) -> dict[str, Any]:
        """``face_stack.json``: stack, feature size, what each loss term is computed on."""
        return {
            "face_stack": self.kind,
            "feature_dim": self.feature_dim,
            "loss_terms": self.heads.loss_terms(),
            **self.record,
        }


def _has_text(values: pd.Series) -> np.ndarray:
    return (values.notna() & (values.astype(str).str.len() > 0)).to_numpy()


def training_rows(manifest: Path) -> pd.DataFrame:
    """The manifest's train and val rows, as written (validated later, once)."""
    frame = read_manifest(manifest)
    if SPLIT not in frame.columns:
        return frame.iloc[:0]
    return frame[frame[SPLIT].isin(("train", "val"))]


def all_have_features(rows: pd.DataFrame) -> bool:
    """True when every row has a ``face_feature_path``."""
    return FACE_FEATURE_PATH in rows.columns and bool(_has_text(rows[FACE_FEATURE_PATH]).all())


def read_stored_features(rows: pd.DataFrame, *, manifest: Path) -> np.ndarray:
    """Each row's ``face_feature_path`` vector, ``(len(rows), D)`` float32; one file read once."""
    column = rows[FACE_FEATURE_PATH] if FACE_FEATURE_PATH in rows.columns else None
    cache: dict[Path, np.ndarray] = {}
    vectors = []
    for position, (row, record) in enumerate(rows.iterrows()):
        where = {"manifest": manifest, "row": row, "clip_id": record[CLIP_ID]}
        value = None if column is None else column.iloc[position]
        if not (isinstance(value, str) and value):
            raise InputError(NO_FEATURE.format(**where))
        path = resolve_path(manifest.parent, value)
        if path not in cache:
            try:
                vector = np.load(path)
            except (OSError, ValueError) as error:
                raise InputError(
                    UNREADABLE_FEATURE.format(**where, path=path, reason=error)
                ) from error
            if vector.ndim != 1:
                raise InputError(FEATURE_SHAPE.format(**where, path=path, shape=vector.shape))
            cache[path] = vector.astype(np.float32)
        vectors.append(cache[path])
    dims = sorted({len(vector) for vector in vectors})
    if len(dims) > 1:
        raise InputError(FEATURE_DIMS_DIFFER.format(manifest=manifest, dims=dims))
    return np.stack(vectors)


def stored_feature_dim(rows: pd.DataFrame, *, manifest: Path) -> int:
    """The size of the first row's stored face feature."""
    return int(read_stored_features(rows.iloc[:1], manifest=manifest).shape[1])


def check_dim(stack: FaceStack, *, preset: str, voice_dim: int) -> None:
    """One line when the voice encoder's output size is not the target's."""
    if voice_dim != stack.feature_dim:
        source = {
            FACE_MODELS: "face encoder's",
            FEATURES: "manifest's stored face features",
            VGGFACE: "VGG-Face fc7 features",
        }[stack.kind]
        raise InputError(
            DIM_MISMATCH.format(
                preset=preset, voice_dim=voice_dim, source=source, face_dim=stack.feature_dim
            )
        )


def face_models_stack(directory: str | os.PathLike) -> FaceStack:
    """The stack of a ``face_models/`` folder (small encoder + decoder, synthetic corpora)."""
    from speech2face.training.face_models import load_face_model
    from speech2face.training.face_stage import find_face_models

    stage = find_face_models(directory)
    encoder = load_face_model(stage.face_encoder, kind="face_encoder")
    decoder = load_face_model(stage.face_decoder, kind="face_decoder")
    return FaceStack(
        kind=FACE_MODELS,
        feature_dim=encoder.feature_dim,
        heads=FaceHeads.from_models(encoder, decoder),
        record={"face_models": str(stage.directory.resolve()), "digests": stage.digests()},
        face_encoder=encoder,
    )


def features_stack(feature_dim: int) -> FaceStack:
    """Stored face features: no encoder, no decoder, no fc8."""
    return FaceStack(
        kind=FEATURES,
        feature_dim=feature_dim,
        heads=FaceHeads(decoder_head=None, fc8_head=None),
        record={"target": "each clip's face_feature_path vector"},
    )


def vggface_stack(weights: str | os.PathLike) -> FaceStack:
    """The user's VGG-Face: fc7 targets from ``face_path`` images, fc8 for distillation."""
    from speech2face.models.face_encoder import load_vggface

    encoder = load_vggface(weights).freeze()
    return FaceStack(
        kind=VGGFACE,
        feature_dim=encoder.feature_dim,
        heads=FaceHeads.from_models(encoder, None),
        record={
            "target": "VGG-Face fc7 (after ReLU) of each distinct face_path image",
            "vggface_weights": str(Path(weights).resolve()),
            "vggface_weights_sha256": file_sha256(weights),
        },
        face_encoder=encoder,
    )


def load_targets(
    manifest: str | os.PathLike,
    *,
    stack: FaceStack,
    spectrogram_config: SpectrogramConfig,
    random_crops: bool = True,
) -> TrainingData:
    """The manifest's train and val clips paired with their targets under ``stack``.

    ``random_crops`` (train split only, as ``voice_data.load_training_data``): each epoch a
    random window of every train clip; val clips are their first seconds.
    """
    manifest = Path(manifest)
    frame = load_manifest(manifest)
    splits: dict[str, ManifestPairs | None] = {}
    for split in ("train", "val"):
        rows = frame[frame[SPLIT] == split]
        if rows.empty:
            splits[split] = None
            continue
        if stack.face_encoder is None:
            targets = torch.from_numpy(read_stored_features(rows, manifest=manifest))
        else:  # the images through the stack's encoder, even where a stored feature exists
            targets = face_features(
                rows.drop(columns=[FACE_FEATURE_PATH], errors="ignore")
                if stack.kind == VGGFACE
                else rows,
                base_dir=manifest.parent,
                manifest=manifest,
                face_encoder=stack.face_encoder,
            )
        if targets.shape[1] != stack.feature_dim:
            raise InputError(
                FEATURE_DIMS_DIFFER.format(
                    manifest=manifest, dims=sorted({targets.shape[1], stack.feature_dim})
                )
            )
        splits[split] = ManifestPairs(
            rows.reset_index(drop=True),
            targets,
            base_dir=manifest.parent,
            spectrogram_config=spectrogram_config,
            random_crops=random_crops and split == "train",
        )
    if splits["train"] is None:
        raise InputError(NO_TRAIN_ROWS.format(manifest=manifest))
    return TrainingData(
        train=splits["train"], val=splits["val"], manifest_hash=file_sha256(manifest)
    )


def read_face_stack(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """``RUN/face_stack.json``, or None for a run from before face stacks were recorded."""
    path = Path(run_dir) / FACE_STACK_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def record_face_stack(run_dir: str | os.PathLike, stack: FaceStack, *, resume: bool) -> None:
    """Write ``RUN/face_stack.json`` (rank 0); a resumed run must keep its stack."""
    path = Path(run_dir) / FACE_STACK_FILE
    described = stack.describe()
    found = read_face_stack(run_dir)
    if resume and found is not None and found.get("face_stack") != described["face_stack"]:
        raise InputError(
            STACK_CHANGED.format(
                path=path, found=found.get("face_stack"), expected=described["face_stack"]
            )
        )
    if int(os.environ.get("RANK", "0")) != 0:
        return
    write_json(path, described, indent=2, sort_keys=True)
