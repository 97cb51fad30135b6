"""Training checkpoints: written atomically, checked before they are resumed.

A checkpoint holds the model, optimiser and scheduler states, the step and
epoch, every random generator's state, the encoder and training configs, the
preset name, the package version and the hash of the manifest it trained on.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from speech2face import __version__
from speech2face.atomic import atomic_write
from speech2face.errors import InputError
from speech2face.models.voice_config import config_from_dict
from speech2face.models.voice_encoder import VoiceEncoder

CHECKPOINT_FORMAT = "speech2face-voice-checkpoint/1"
NOT_A_CHECKPOINT = "{path} is not a speech2face voice encoder checkpoint"
MISSING_CHECKPOINT = "{path} does not exist: nothing to resume (drop --resume to start afresh)"
WRONG_PRESET = "checkpoint {path} holds preset {found!r}, not {expected!r}"
RELABELLED = (
    "checkpoint {path} is labelled preset {label!r} but holds a {found!r} encoder: it was "
    "edited, and is refused rather than given another model id"
)
WRONG_VERSION = "checkpoint {path} was written by speech2face {found}, this is {expected}"
WRONG_MANIFEST = "checkpoint {path} was trained on another manifest (hash {found}, now {expected})"


def rng_states() -> dict[str, Any]:
    """The state of Python's, NumPy's and torch's global generators."""
    numpy_state = np.random.get_state(legacy=False)
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {**numpy_state, "state": {**numpy_state["state"]}},
        "torch": torch.get_rng_state(),
    }
    states["numpy"]["state"]["key"] = torch.from_numpy(numpy_state["state"]["key"].copy())
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    """Put back the generator states that :func:`rng_states` captured."""
    random.setstate(states["python"])
    numpy_state = {**states["numpy"], "state": {**states["numpy"]["state"]}}
    numpy_state["state"]["key"] = numpy_state["state"]["key"].numpy()
    np.random.set_state(numpy_state)
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus format and version) to ``path`` via a temp file and rename."""
    with atomic_write(path) as handle:
        torch.save({"format": CHECKPOINT_FORMAT, "version": __version__, **payload}, handle)


def load_checkpoint(
    path: str | Path, *, preset: str | None = None, manifest_hash: str | None = None
) -> dict[str, Any]:
    """Read a checkpoint, refusing one from another preset, version or manifest."""
    path = Path(path)
    if not path.exists():
        raise InputError(MISSING_CHECKPOINT.format(path=path))
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(NOT_A_CHECKPOINT.format(path=path)) from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise InputError(NOT_A_CHECKPOINT.format(path=path))
    if payload["version"] != __version__:
        raise InputError(
            WRONG_VERSION.format(path=path, found=payload["version"], expected=__version__)
        )
    held = (payload.get("encoder_config") or {}).get("name")
    if held is not None and held != payload.get("preset"):
        raise InputError(RELABELLED.format(path=path, label=payload.get("preset"), found=held))
    if preset is not None and payload["preset"] != preset:
        raise InputError(WRONG_PRESET.format(path=path, found=payload["preset"], expected=preset))
    if manifest_hash is not None and payload["manifest_hash"] != manifest_hash:
        raise InputError(
            WRONG_MANIFEST.format(
                path=path, found=payload["manifest_hash"][:12], expected=manifest_hash[:12]
            )
        )
    return payload


def load_voice_encoder(path: str | Path, *, preset: str | None = None) -> VoiceEncoder:
    """The trained voice encoder in a checkpoint, in eval mode on the CPU."""
    payload = load_checkpoint(path, preset=preset)
    model = VoiceEncoder(config_from_dict(payload["encoder_config"]))
    model.load_state_dict(payload["model"])
    return model.eval()
