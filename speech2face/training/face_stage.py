"""The face side of a run: train (or reuse) the face encoder, decoder and attribute classifier.

A run folder holds its frozen face models in ``RUN/face_models/``::

    face_encoder.pt  face_decoder.pt  attribute_classifier.pt   (``save_face_model`` files)
    face_stage.json  where they came from: trained (corpus, seed, configs) or reused (source)

:func:`prepare_face_stage` makes that folder once per run: on a synthetic corpus it trains
the three models on the train split's speakers (varied renders, canonical faces, renderer
landmarks, true attributes from ``speakers.parquet``) plus freshly rendered extra identities
that appear nowhere in the corpus; with ``face_models=DIR`` it copies another run's models
instead, so that voice models compared later share one face encoder, decoder and classifier.
Test-split speakers never train a face model. The folder appears whole (staging + rename);
a run that already has it keeps it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from speech2face.artifacts import FACE_MODEL_FILES as MODEL_FILES
from speech2face.artifacts import FACE_MODELS_DIR
from speech2face.artifacts import FACE_STAGE_FILE as STAGE_FILE
from speech2face.atomic import atomic_folder
from speech2face.errors import InputError
from speech2face.hashing import file_sha256
from speech2face.manifest import load_manifest, resolve_path
from speech2face.outputs import open_folder
from speech2face.synth.corpus import (
    LANDMARKS_FILE,
    RENDERS_FILE,
    SPEAKERS_FILE,
    read_landmarks,
)
from speech2face.training.face_config import FaceStageConfig
from speech2face.training.face_models import (
    averaged_reconstructions,
    load_face_model,
    save_face_model,
    synthetic_face_set,
    train_attribute_classifier,
    train_face_decoder,
    train_face_encoder,
)

WAIT_POLL_S = 1.0
NOT_A_SYNTHETIC_CORPUS = (
    "{manifest}: no {file} beside it, so face models cannot be trained here; "
    "pass --face-models DIR (a run folder or its face_models/ folder)"
)
NO_FACE_MODELS = "{path}: no face models there (expected {files}, as in RUN/face_models/)"
OTHER_FACE_MODELS = (
    "{run}: already holds other face models ({file} differs from {source}); use a new run folder"
)
NO_TRAIN_SPEAKERS = "{manifest}: no train-split speakers with faces to train the face models on"


@dataclass(frozen=True)
class FaceStage:
    """A run's face model files."""

    directory: Path

    @property
    def face_encoder(self) -> Path:
        return self.directory / MODEL_FILES["face_encoder"]

    @property
    def face_decoder(self) -> Path:
        return self.directory / MODEL_FILES["face_decoder"]

    @property
    def attribute_classifier(self) -> Path:
        return self.directory / MODEL_FILES["attribute_classifier"]

    def is_complete(self) -> bool:
        files = [*(self.directory / name for name in MODEL_FILES.values()), self.info_path]
        return all(path.is_file() for path in files)

    @property
    def info_path(self) -> Path:
        return self.directory / STAGE_FILE

    def info(self) -> dict:
        """``face_stage.json``: provenance and each model file's SHA-256."""
        return json.loads(self.info_path.read_text())

    def digests(self) -> dict[str, str]:
        return {kind: file_sha256(self.directory / name) for kind, name in MODEL_FILES.items()}


def face_stage(run_dir: str | os.PathLike) -> FaceStage:
    """The face stage of ``run_dir`` (which may not exist yet)."""
    return FaceStage(Path(run_dir) / FACE_MODELS_DIR)


def find_face_models(path: str | os.PathLike) -> FaceStage:
    """The face models in ``path``: a run folder or its ``face_models/`` folder."""
    path = Path(path)
    for candidate in (FaceStage(path / FACE_MODELS_DIR), FaceStage(path)):
        if all((candidate.directory / name).is_file() for name in MODEL_FILES.values()):
            return candidate
    raise InputError(NO_FACE_MODELS.format(path=path, files=", ".join(MODEL_FILES.values())))


def prepare_face_stage(
    manifest: str | os.PathLike,
    run_dir: str | os.PathLike,
    *,
    face_models: str | os.PathLike | None = None,
    seed: int = 0,
    config: FaceStageConfig | None = None,
) -> FaceStage:
    """Give ``run_dir`` its face models (trained here, or copied from ``face_models``).

    A run that already has complete face models keeps them; asked to reuse others, it
    refuses unless they are byte-identical. Under ``torchrun`` rank 0 does the work and the
    other ranks wait for it. Returns the run's :class:`FaceStage`.
    """
    stage = face_stage(run_dir)
    if int(os.environ.get("RANK", "0")) != 0:
        return _wait_for(stage)
    open_folder(run_dir, "run", inputs=[manifest])
    if face_models is not None:
        source = find_face_models(face_models)
        if stage.is_complete():
            _check_same_models(stage, source, run_dir=run_dir)
            return stage
        _publish(stage, lambda staging: _copy_models(source, staging))
        return stage
    if stage.is_complete():
        return stage
    config = config or FaceStageConfig()
    _publish(stage, lambda staging: _train_models(Path(manifest), staging, seed, config))
    return stage


def _wait_for(stage: FaceStage) -> FaceStage:
    """Poll until rank 0 has published ``stage`` (torchrun stops this rank if rank 0 fails)."""
    while not stage.is_complete():
        time.sleep(WAIT_POLL_S)
    return stage


def _check_same_models(stage: FaceStage, source: FaceStage, *, run_dir: str | os.PathLike) -> None:
    if stage.directory.resolve() == source.directory.resolve():
        return
    for kind, digest in source.digests().items():
        if stage.digests()[kind] != digest:
            raise InputError(
                OTHER_FACE_MODELS.format(
                    run=run_dir, file=MODEL_FILES[kind], source=source.directory
                )
            )


def _publish(stage: FaceStage, build) -> None:
    """Build the face models in a staging folder, then rename it to ``stage.directory``."""
    with atomic_folder(stage.directory) as staging:
        info = build(staging)
        info["digests"] = FaceStage(staging).digests()
        (staging / STAGE_FILE).write_text(json.dumps(info, indent=2, sort_keys=True))


def _copy_models(source: FaceStage, staging: Path) -> dict:
    for name in MODEL_FILES.values():
        shutil.copy2(source.directory / name, staging / name)
    for kind, name in MODEL_FILES.items():
        load_face_model(staging / name, kind=kind)  # refuse a foreign or outdated file now
    provenance = source.info() if source.info_path.is_file() else {}
    return {"trained": False, "source": str(source.directory.resolve()), "origin": provenance}


@dataclass(frozen=True)
class _FaceTrainingSet:
    """Images and labels the three face models train on (corpus train speakers + extras)."""

    varied: np.ndarray
    identities: np.ndarray
    genders: np.ndarray
    ages: np.ndarray
    ethnicities: np.ndarray
    canonical: np.ndarray
    canonical_identities: np.ndarray
    canonical_genders: np.ndarray
    canonical_ages: np.ndarray
    canonical_ethnicities: np.ndarray
    landmarks: np.ndarray


def _read_images(paths: list[Path]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(path).convert("RGB")) for path in paths])


def corpus_face_set(manifest: Path, *, extra_identities: int, extra_renders: int, seed: int):
    """The train split's speakers of a synthetic corpus, plus ``extra_identities`` new people."""
    corpus = manifest.parent
    for name in (RENDERS_FILE, LANDMARKS_FILE, SPEAKERS_FILE):
        if not (corpus / name).is_file():
            raise InputError(NOT_A_SYNTHETIC_CORPUS.format(manifest=manifest, file=name))
    frame = load_manifest(manifest)
    train = frame[frame["split"] == "train"].drop_duplicates("speaker_id")
    speakers = pd.read_parquet(corpus / SPEAKERS_FILE).set_index("speaker_id")
    speaker_ids = [s for s in train["speaker_id"] if s in speakers.index]
    if not speaker_ids:
        raise InputError(NO_TRAIN_SPEAKERS.format(manifest=manifest))
    face_paths = train.set_index("speaker_id").loc[speaker_ids, "face_path"]
    canonical = _read_images([resolve_path(corpus, path) for path in face_paths])
    by_speaker = read_landmarks(corpus / LANDMARKS_FILE)
    landmarks = np.stack([by_speaker[speaker] for speaker in speaker_ids]).astype(np.float32)
    renders = pd.read_parquet(corpus / RENDERS_FILE)
    renders = renders[renders["speaker_id"].isin(speaker_ids)]
    varied = (
        _read_images([resolve_path(corpus, path) for path in renders["path"]])
        if len(renders)
        else canonical[:0]
    )
    varied_ids = renders["speaker_id"].to_numpy(dtype=object)
    # Each speaker's canonical face is one more view of that identity.
    views = np.concatenate([canonical, varied])
    view_ids = np.concatenate([np.asarray(speaker_ids, dtype=object), varied_ids])
    truth = speakers.loc[view_ids]
    canonical_truth = speakers.loc[speaker_ids]
    face_set = _FaceTrainingSet(
        varied=views,
        identities=view_ids,
        genders=truth["gender"].to_numpy(dtype=object),
        ages=truth["age"].to_numpy(dtype=np.float32),
        ethnicities=truth["ethnicity"].to_numpy(dtype=object),
        canonical=canonical,
        canonical_identities=np.asarray(speaker_ids, dtype=object),
        canonical_genders=canonical_truth["gender"].to_numpy(dtype=object),
        canonical_ages=canonical_truth["age"].to_numpy(dtype=np.float32),
        canonical_ethnicities=canonical_truth["ethnicity"].to_numpy(dtype=object),
        landmarks=landmarks,
    )
    if extra_identities == 0:
        return face_set
    extra = synthetic_face_set(
        extra_identities,
        renders_per_identity=extra_renders,
        size=canonical.shape[1],
        seed=seed,
    )
    extra_ids = np.asarray([f"extra{i:05d}" for i in range(extra_identities)], dtype=object)
    extra_views = np.concatenate([extra.canonical_images, extra.images])
    extra_view_index = np.concatenate([np.arange(extra_identities), extra.identities])
    return _FaceTrainingSet(
        varied=np.concatenate([face_set.varied, extra_views]),
        identities=np.concatenate([face_set.identities, extra_ids[extra_view_index]]),
        genders=np.concatenate([face_set.genders, extra.genders[extra_view_index]]),
        ages=np.concatenate([face_set.ages, extra.ages[extra_view_index].astype(np.float32)]),
        ethnicities=np.concatenate([face_set.ethnicities, extra.ethnicities[extra_view_index]]),
        canonical=np.concatenate([canonical, extra.canonical_images]),
        canonical_identities=np.concatenate([face_set.canonical_identities, extra_ids]),
        canonical_genders=np.concatenate([face_set.canonical_genders, extra.genders]),
        canonical_ages=np.concatenate([face_set.canonical_ages, extra.ages.astype(np.float32)]),
        canonical_ethnicities=np.concatenate([face_set.canonical_ethnicities, extra.ethnicities]),
        landmarks=np.concatenate([landmarks, extra.canonical_landmarks.astype(np.float32)]),
    )


def _train_models(manifest: Path, staging: Path, seed: int, config: FaceStageConfig) -> dict:
    from speech2face.models.face_encoder import encode_images

    data = corpus_face_set(
        manifest,
        extra_identities=config.extra_identities,
        extra_renders=config.extra_renders_per_identity,
        seed=seed,
    )
    n_corpus = len(data.canonical) - config.extra_identities
    encoder = train_face_encoder(data.varied, data.identities, config=config.encoder, seed=seed)
    save_face_model(encoder, staging / MODEL_FILES["face_encoder"])
    features = encode_images(encoder, data.canonical)
    decoder = train_face_decoder(
        features, data.canonical, data.landmarks, config=config.decoder, seed=seed
    )
    save_face_model(decoder, staging / MODEL_FILES["face_decoder"])
    reconstructions = averaged_reconstructions(
        decoder,
        features,
        genders=data.canonical_genders,
        ages=data.canonical_ages,
        ethnicities=data.canonical_ethnicities,
        views_per_face=config.reconstruction_views,
        seed=seed,
    )
    classifier = train_attribute_classifier(
        np.concatenate([data.varied, reconstructions.images]),
        genders=np.concatenate([data.genders, reconstructions.genders]),
        ages=np.concatenate([data.ages, reconstructions.ages]),
        ethnicities=np.concatenate([data.ethnicities, reconstructions.ethnicities]),
        config=config.attributes,
        seed=seed,
    )
    save_face_model(classifier, staging / MODEL_FILES["attribute_classifier"])
    return {
        "trained": True,
        "manifest": str(manifest.resolve()),
        "manifest_sha256": file_sha256(manifest),
        "seed": seed,
        "config": asdict(config),
        "corpus_speakers": sorted(str(speaker) for speaker in data.canonical_identities[:n_corpus]),
        "n_identities": len(np.unique(data.identities)),
        "n_images": len(data.varied),
        "final_losses": {
            "face_encoder": encoder.loss_history[-1],
            "face_decoder": decoder.loss_history[-1],
            "attribute_classifier": classifier.loss_history[-1],
        },
    }
