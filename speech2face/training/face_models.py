"""Training of the face-side models: face encoder, face decoder, attribute classifier.

Each ``train_*`` function takes arrays (images uint8 ``(N, H, W, 3)``), a config dataclass
and a seed, shows a tqdm bar, and returns the trained model in evaluation mode with its
per-epoch mean training loss in ``model.loss_history``. The same seed gives the same
weights. :func:`save_face_model` / :func:`load_face_model` store a model with its config
and version metadata, atomically.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from speech2face import __version__
from speech2face.atomic import atomic_write
from speech2face.errors import InputError
from speech2face.models.attribute_classifier import (
    AttributeClassifier,
    AttributeClassifierConfig,
)
from speech2face.models.face_decoder import (
    FaceDecoder,
    FaceDecoderConfig,
    normalise_landmarks,
    warp_images,
)
from speech2face.models.face_encoder import (
    FaceEncoder,
    SmallFaceEncoder,
    SmallFaceEncoderConfig,
    as_image_batch,
    load_vggface,
)
from speech2face.synth.synthetic_faces import render_face, sample_face_params, sample_variation
from speech2face.training.face_config import (
    AttributeTrainingConfig,
    FaceDecoderTrainingConfig,
    FaceEncoderTrainingConfig,
)
from speech2face.vocabulary import AGE_DECADE_EDGES, SYNTHETIC_ETHNICITIES, UNKNOWN

FACE_MODEL_FORMAT = 1
MODEL_CLASSES: dict[str, tuple[type[nn.Module], type]] = {
    "face_encoder": (SmallFaceEncoder, SmallFaceEncoderConfig),
    "face_decoder": (FaceDecoder, FaceDecoderConfig),
    "attribute_classifier": (AttributeClassifier, AttributeClassifierConfig),
}

FACE_ENCODERS = ("vggface", "small")
"""Face encoders by name: ``vggface`` from a user's VGG-Face state_dict, ``small`` trained here."""

UNKNOWN_FACE_ENCODER = "unknown face encoder {name!r}: expected one of {allowed}"
MISSING_MODEL_FILE = "face model file not found: {path}"
UNREADABLE_MODEL_FILE = "cannot read face model file {path}: {reason}"
WRONG_MODEL_KIND = "{path} holds a {found} model, expected a {expected} model"
WRONG_MODEL_PRESET = "{path} holds preset {found!r}, expected preset {expected!r}"
WRONG_MODEL_FORMAT = (
    "{path} has face-model format {found} (written by speech2face {version}); "
    "this version reads format {expected}: retrain or re-save it"
)
LENGTH_MISMATCH = "{name} has {found} rows, expected {expected} (one per image)"
UNKNOWN_LABEL = "{name} value {value!r} at row {row} is not one of {classes} or 'unknown'"
TOO_FEW_IDENTITIES = "need at least 2 identities with 2 images each to verify; got {found}"


@dataclass(frozen=True)
class SyntheticFaceSet:
    """Rendered identities: varied renders with labels, and each identity's canonical face."""

    images: np.ndarray
    """Varied renders ``(N, S, S, 3)`` uint8 (pose, framing, light, expression)."""
    identities: np.ndarray
    """Identity index of each varied render."""
    canonical_images: np.ndarray
    """One canonical (frontal, neutral) render per identity ``(I, S, S, 3)``."""
    canonical_landmarks: np.ndarray
    """Their 68 landmarks ``(I, 68, 2)``, (x, y) pixels."""
    genders: np.ndarray
    ages: np.ndarray
    ethnicities: np.ndarray
    """Per-identity demographics; index them with ``identities`` for the renders."""


def synthetic_face_set(
    n_identities: int, *, renders_per_identity: int = 5, size: int = 64, seed: int = 0
) -> SyntheticFaceSet:
    """Render ``n_identities`` synthetic people (gender, ethnicity uniform; age 18–80)."""
    rng = np.random.default_rng(seed)
    genders = rng.choice(("female", "male"), size=n_identities)
    ethnicities = rng.choice(SYNTHETIC_ETHNICITIES, size=n_identities)
    ages = rng.uniform(18.0, 80.0, size=n_identities)
    canonical, landmarks, varied = [], [], []
    for gender, age, ethnicity in zip(genders, ages, ethnicities, strict=True):
        params = sample_face_params(rng, gender=str(gender), age=float(age), ethnicity=ethnicity)
        face = render_face(params, size=size)
        canonical.append(face.image)
        landmarks.append(face.landmarks)
        varied += [
            render_face(params, size=size, variation=sample_variation(rng)).image
            for _ in range(renders_per_identity)
        ]
    return SyntheticFaceSet(
        images=np.stack(varied) if varied else np.zeros((0, size, size, 3), np.uint8),
        identities=np.repeat(np.arange(n_identities), renders_per_identity),
        canonical_images=np.stack(canonical),
        canonical_landmarks=np.stack(landmarks),
        genders=genders.astype(object),
        ages=ages,
        ethnicities=ethnicities.astype(object),
    )


def train_face_encoder(
    images: np.ndarray,
    identities: Sequence[Any],
    *,
    config: FaceEncoderTrainingConfig = FaceEncoderTrainingConfig(),
    seed: int = 0,
) -> SmallFaceEncoder:
    """Train the ``small`` face encoder to classify ``identities`` from varied renders.

    fc8 is the identity softmax head; the batch-normalised layer before it is the feature.
    Random translations and horizontal flips add to the renders' own pose and lighting.
    """
    _check_length("identities", identities, len(images))
    labels = torch.from_numpy(np.unique(np.asarray(identities), return_inverse=True)[1])
    inputs = as_image_batch(images)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SmallFaceEncoder(
            SmallFaceEncoderConfig(
                n_identities=int(labels.max()) + 1,
                feature_dim=config.feature_dim,
                widths=config.widths,
                input_size=inputs.shape[-1],
            )
        )

        def batch_loss(index: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
            batch = jitter(inputs[index], max_shift=config.max_shift, generator=generator)
            logits = model.logits(batch)
            return F.cross_entropy(logits, labels[index], label_smoothing=config.label_smoothing)

        model.loss_history = _fit(model, len(inputs), batch_loss, config, seed, "face encoder")
    model.preset = config.preset
    return model.eval()


def train_face_decoder(
    features: np.ndarray,
    images: np.ndarray,
    landmarks: np.ndarray,
    *,
    config: FaceDecoderTrainingConfig = FaceDecoderTrainingConfig(),
    seed: int = 0,
) -> FaceDecoder:
    """Train a decoder from frozen-encoder ``features`` of canonical faces.

    ``landmarks`` are the renderer's ``(N, 68, 2)`` (x, y) pixel coordinates (top-left
    pixel centre at 0, as dlib reports them). The loss is
    L1 on the output image, on the canonical texture (each target warped onto the mean
    landmarks, as Cole et al. do) and on the normalised landmarks.
    """
    _check_length("landmarks", landmarks, len(images))
    _check_length("features", features, len(images))
    targets = as_image_batch(images)
    size = targets.shape[-1]
    target_landmarks = normalise_landmarks(
        torch.as_tensor(np.asarray(landmarks, np.float32)), size=size
    )
    mean_landmarks = target_landmarks.mean(0)
    with torch.no_grad():
        target_textures = torch.cat(
            [
                warp_images(
                    targets[i : i + 256],
                    from_landmarks=target_landmarks[i : i + 256],
                    to_landmarks=mean_landmarks.expand_as(target_landmarks[i : i + 256]),
                )
                for i in range(0, len(targets), 256)
            ]
        )
    inputs = torch.as_tensor(np.asarray(features, np.float32))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FaceDecoder(
            FaceDecoderConfig(
                feature_dim=inputs.shape[1],
                hidden_dim=config.hidden_dim,
                image_size=size,
                texture_channels=config.texture_channels,
            ),
            mean_landmarks=mean_landmarks,
            mean_texture=target_textures.mean(0),
        )

        def batch_loss(index: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
            decoded = model(inputs[index])
            return (
                F.l1_loss(decoded.images, targets[index])
                + config.texture_weight * F.l1_loss(decoded.textures, target_textures[index])
                + config.landmark_weight * F.l1_loss(decoded.landmarks, target_landmarks[index])
            )

        model.loss_history = _fit(model, len(inputs), batch_loss, config, seed, "face decoder")
    model.preset = config.preset
    return model.eval()


@dataclass(frozen=True)
class LabelledFaces:
    """Face images ``(N, S, S, 3)`` uint8 with their gender, age (years) and ethnicity."""

    images: np.ndarray
    genders: np.ndarray
    ages: np.ndarray
    ethnicities: np.ndarray


@torch.no_grad()
def averaged_reconstructions(
    decoder: FaceDecoder,
    features: np.ndarray,
    *,
    genders: Sequence[str],
    ages: Sequence[float],
    ethnicities: Sequence[str],
    views_per_face: int,
    group_sizes: Sequence[int] = (1, 2, 4, 8, 16),
    seed: int = 0,
) -> LabelledFaces:
    """Decoder reconstructions of face features averaged within a demographic cell.

    For each face, ``views_per_face`` times: draw a group size from ``group_sizes``, average
    the face's feature with that many minus one others of its gender, ethnicity and age
    decade (drawn with replacement), and decode the mean. Size 1 is the F2F reconstruction
    itself; larger sizes give the average-looking faces that a regression from the voice
    decodes to, labelled with the cell's gender and ethnicity and the mean age. Training
    the attribute classifier on them as well as on renders lets it read the decoder's
    output, not only sharp renders.
    """
    genders, ethnicities = np.asarray(genders, dtype=object), np.asarray(ethnicities, dtype=object)
    ages, features = np.asarray(ages, np.float64), np.asarray(features, np.float32)
    for name, values in (("genders", genders), ("ages", ages), ("ethnicities", ethnicities)):
        _check_length(name, values, len(features))
    decades = np.digitize(ages, AGE_DECADE_EDGES)
    cells = [f"{g}|{e}|{d}" for g, e, d in zip(genders, ethnicities, decades, strict=True)]
    _, cell_index = np.unique(np.asarray(cells, dtype=object), return_inverse=True)
    members = [np.flatnonzero(cell_index == c) for c in range(cell_index.max() + 1)]
    rng = np.random.default_rng(seed)
    faces = np.repeat(np.arange(len(features)), views_per_face)
    means, mean_ages = [], []
    for face in faces:
        partners = rng.choice(members[cell_index[face]], size=rng.choice(group_sizes) - 1)
        chosen = np.concatenate([[face], partners])
        means.append(features[chosen].mean(0))
        mean_ages.append(ages[chosen].mean())
    stacked = torch.as_tensor(np.asarray(means, np.float32)).reshape(-1, features.shape[1])
    size = decoder.config.image_size
    images = torch.cat(
        [torch.zeros(0, 3, size, size)]
        + [decoder.decode(stacked[i : i + 256])[0] for i in range(0, len(stacked), 256)]
    )
    as_uint8 = (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    return LabelledFaces(
        images=as_uint8,
        genders=genders[faces],
        ages=np.asarray(mean_ages, np.float32),
        ethnicities=ethnicities[faces],
    )


def train_attribute_classifier(
    images: np.ndarray,
    *,
    genders: Sequence[str],
    ages: Sequence[float],
    ethnicities: Sequence[str],
    config: AttributeTrainingConfig = AttributeTrainingConfig(),
    seed: int = 0,
) -> AttributeClassifier:
    """Train gender and ethnicity classification and Gaussian age regression.

    Labels equal to ``unknown`` (or a NaN age) are left out of that attribute's loss only.
    """
    for name, values in (("genders", genders), ("ages", ages), ("ethnicities", ethnicities)):
        _check_length(name, values, len(images))
    gender_index = _class_indices("genders", genders, config.genders)
    ethnicity_index = _class_indices("ethnicities", ethnicities, config.ethnicities)
    age_years = torch.as_tensor(np.asarray(ages, np.float32))
    inputs = as_image_batch(images)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AttributeClassifier(
            AttributeClassifierConfig(
                genders=config.genders,
                ethnicities=config.ethnicities,
                widths=config.widths,
                hidden_dim=config.hidden_dim,
                input_size=inputs.shape[-1],
            )
        )

        def batch_loss(index: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
            batch = jitter(inputs[index], max_shift=config.max_shift, generator=generator)
            outputs = model(soften(batch, probability=config.blur_probability, generator=generator))
            ages_known = ~torch.isnan(age_years[index])
            age_loss = (
                F.gaussian_nll_loss(
                    outputs.age_mean[ages_known],
                    age_years[index][ages_known],
                    outputs.age_std[ages_known] ** 2,
                )
                if ages_known.any()
                else outputs.age_mean.sum() * 0.0
            )
            return (
                _masked_cross_entropy(outputs.gender_logits, gender_index[index])
                + _masked_cross_entropy(outputs.ethnicity_logits, ethnicity_index[index])
                + age_loss / 4.0
            )

        model.loss_history = _fit(model, len(inputs), batch_loss, config, seed, "attributes")
    model.preset = config.preset
    return model.eval()


def jitter(images: torch.Tensor, *, max_shift: float, generator: torch.Generator) -> torch.Tensor:
    """Random translation (up to ``max_shift`` of the side) and horizontal flip per image."""
    batch = images.shape[0]
    flips = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0)
    shifts = (torch.rand(batch, 2, generator=generator) * 2 - 1) * 2 * max_shift
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0] = flips
    theta[:, 1, 1] = 1.0
    theta[:, :, 2] = shifts
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="border", align_corners=False)


def soften(images: torch.Tensor, *, probability: float, generator: torch.Generator) -> torch.Tensor:
    """Blur a random ``probability`` share of ``images`` by 2× down- and bilinear up-sampling."""
    chosen = torch.rand(images.shape[0], generator=generator) < probability
    if not chosen.any():
        return images
    blurred = F.interpolate(
        F.avg_pool2d(images, 2), size=images.shape[-2:], mode="bilinear", align_corners=False
    )
    return torch.where(chosen[:, None, None, None], blurred, images)


def _fit(
    model: nn.Module,
    n_items: int,
    batch_loss: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
    config: Any,
    seed: int,
    description: str,
) -> list[float]:
    """AdamW with a one-cycle schedule over shuffled minibatches; per-epoch mean losses."""
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps_per_epoch = max(1, -(-n_items // config.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.learning_rate, total_steps=config.epochs * steps_per_epoch
    )
    history = []
    model.train()
    for _ in tqdm(range(config.epochs), desc=f"training {description}", unit="epoch"):
        order = torch.randperm(n_items, generator=generator)
        total = 0.0
        for start in range(0, n_items, config.batch_size):
            index = order[start : start + config.batch_size]
            if len(index) < 2:
                continue
            loss = batch_loss(index, generator)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(index)
        history.append(total / n_items)
    return history


def _masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if (target >= 0).any():
        return F.cross_entropy(logits, target, ignore_index=-1)
    return logits.sum() * 0.0


def _class_indices(name: str, values: Sequence[str], classes: Sequence[str]) -> torch.Tensor:
    lookup = {label: i for i, label in enumerate(classes)} | {UNKNOWN: -1}
    indices = []
    for row, value in enumerate(values):
        if value not in lookup:
            raise InputError(
                UNKNOWN_LABEL.format(name=name, value=value, row=row, classes=list(classes))
            )
        indices.append(lookup[value])
    return torch.tensor(indices, dtype=torch.long)


def _check_length(name: str, values: Any, expected: int) -> None:
    if len(values) != expected:
        raise InputError(LENGTH_MISMATCH.format(name=name, found=len(values), expected=expected))


@dataclass(frozen=True)
class VerificationResult:
    """Face verification on held-out identities: same/different pairs by cosine similarity."""

    accuracy: float
    """Accuracy on the test identities' pairs at the validation threshold."""
    threshold: float
    """Cosine-similarity threshold chosen on the validation identities' pairs."""
    validation_accuracy: float
    n_test_pairs: int


def verification_score(
    features: np.ndarray, identities: Sequence[Any], *, seed: int = 0
) -> VerificationResult:
    """Verification accuracy of face ``features`` over balanced same/different pairs.

    Identities are split in half: the threshold maximising accuracy on one half's pairs is
    applied to the other half's. Every same-identity pair is used, with as many
    different-identity pairs drawn at random (``seed``), so chance is 50%.
    """
    _check_length("identities", identities, len(features))
    ids = np.asarray(identities)
    names, counts = np.unique(ids, return_counts=True)
    usable = names[counts >= 2]
    if len(usable) < 4:
        raise InputError(TOO_FEW_IDENTITIES.format(found=len(usable)))
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(usable)
    halves = shuffled[: len(shuffled) // 2], shuffled[len(shuffled) // 2 :]
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    (val_sim, val_same), (test_sim, test_same) = (
        _verification_pairs(unit, ids, half, rng) for half in halves
    )
    threshold, validation_accuracy = _best_threshold(val_sim, val_same)
    accuracy = float(np.mean((test_sim >= threshold) == test_same))
    return VerificationResult(accuracy, threshold, validation_accuracy, len(test_sim))


def _verification_pairs(
    unit: np.ndarray, ids: np.ndarray, group: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    rows = np.flatnonzero(np.isin(ids, group))
    first, second = np.triu_indices(len(rows), k=1)
    same = ids[rows[first]] == ids[rows[second]]
    n_same = int(same.sum())
    different = rng.choice(np.flatnonzero(~same), size=n_same, replace=False)
    keep = np.concatenate([np.flatnonzero(same), different])
    similarity = np.einsum("ij,ij->i", unit[rows[first[keep]]], unit[rows[second[keep]]])
    return similarity, same[keep]


def _best_threshold(similarity: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    order = np.argsort(similarity)
    sorted_sim, sorted_same = similarity[order], same[order]
    # Threshold just above position k: pairs [0, k) called different, [k, n) called same.
    correct = np.concatenate([[0], np.cumsum(~sorted_same)]) + np.concatenate(
        [np.cumsum(sorted_same[::-1])[::-1], [0]]
    )
    best = int(np.argmax(correct))
    if best == 0:
        threshold = sorted_sim[0] - 1e-6
    elif best == len(sorted_sim):
        threshold = sorted_sim[-1] + 1e-6
    else:
        threshold = (sorted_sim[best - 1] + sorted_sim[best]) / 2
    return float(threshold), float(correct[best] / len(similarity))


def save_face_model(model: nn.Module, path: str | Path) -> None:
    """Write ``model`` with its kind, preset, config and versions to ``path``, atomically."""
    kind = next(name for name, (cls, _) in MODEL_CLASSES.items() if isinstance(model, cls))
    payload = {
        "format": FACE_MODEL_FORMAT,
        "speech2face_version": __version__,
        "torch_version": str(torch.__version__),
        "kind": kind,
        "preset": getattr(model, "preset", "custom"),
        "config": dataclasses.asdict(model.config),
        "loss_history": list(getattr(model, "loss_history", [])),
        "state_dict": model.state_dict(),
    }
    with atomic_write(path) as stream:
        torch.save(payload, stream)


def load_face_model(path: str | Path, *, kind: str, preset: str | None = None) -> nn.Module:
    """Load a model written by :func:`save_face_model`, in evaluation mode.

    ``kind`` is one of :data:`MODEL_CLASSES`; a different kind, ``preset`` (when given) or
    file format raises :class:`InputError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(MISSING_MODEL_FILE.format(path=path))
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        found_format = payload["format"]
    except Exception as error:
        raise InputError(UNREADABLE_MODEL_FILE.format(path=path, reason=error)) from error
    if found_format != FACE_MODEL_FORMAT:
        raise InputError(
            WRONG_MODEL_FORMAT.format(
                path=path,
                found=found_format,
                version=payload.get("speech2face_version"),
                expected=FACE_MODEL_FORMAT,
            )
        )
    if payload["kind"] != kind:
        raise InputError(WRONG_MODEL_KIND.format(path=path, found=payload["kind"], expected=kind))
    if preset is not None and payload["preset"] != preset:
        raise InputError(
            WRONG_MODEL_PRESET.format(path=path, found=payload["preset"], expected=preset)
        )
    model_class, config_class = MODEL_CLASSES[kind]
    config = config_class(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in payload["config"].items()}
    )
    model = model_class(config)
    model.load_state_dict(payload["state_dict"])
    model.preset = payload["preset"]
    model.loss_history = payload["loss_history"]
    return model.eval()


def load_face_encoder(path: str | Path, *, name: str) -> FaceEncoder:
    """The face encoder ``name`` (one of :data:`FACE_ENCODERS`) from ``path``, frozen."""
    if name == "vggface":
        return load_vggface(path).freeze()
    if name == "small":
        return load_face_model(path, kind="face_encoder", preset="small").freeze()
    raise InputError(UNKNOWN_FACE_ENCODER.format(name=name, allowed=FACE_ENCODERS))
