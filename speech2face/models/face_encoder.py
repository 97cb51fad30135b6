"""Face encoders: an image batch → an identity feature, plus fc8-style identity logits.

Two encoders share one interface (:class:`FaceEncoder`):

- ``vggface``: the VGG-Face network (Parkhi et al. 2015) exactly; its 4096-D fc7 output is
  the feature Speech2Face regresses, fc8 (4096 → 2622) gives the distillation logits.
  Weights come only from a local file the user supplies (:func:`load_vggface`).
- ``small``: a compact CNN for 64×64 renders, trained here with an identity objective
  (``speech2face.training.face_models.train_face_encoder``).

Images enter as float tensors ``(B, 3, H, W)`` in [0, 1]; each encoder resizes to its
own input size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from speech2face.errors import InputError

VGGFACE_FEATURE_DIM = 4096
VGGFACE_IDENTITIES = 2622
VGGFACE_INPUT_SIZE = 224
VGGFACE_MEAN_RGB = (129.1863, 104.7624, 93.5940)
"""Mean pixel (RGB, 0–255) subtracted by the original VGG-Face preprocessing."""

VGGFACE_CONV_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
"""Output channels of each 3×3 convolution, block by block (the VGG-16 layout)."""

VGGFACE_MISSING_FILE = (
    "VGG-Face weights not found at {path}: supply a PyTorch state_dict saved with torch.save "
    "whose keys are conv_1_1.weight … conv_5_3.bias, fc6.*, fc7.*, fc8.* "
    "(see docs/face-models.md for converting the Caffe, Torch7 and MatConvNet releases)"
)
VGGFACE_UNREADABLE = "cannot read VGG-Face weights {path}: {reason}"
VGGFACE_KEY_MISMATCH = (
    "VGG-Face weights {path} do not match the architecture: missing keys {missing}, "
    "unexpected keys {unexpected} (expected conv_1_1.weight … fc8.bias)"
)
VGGFACE_SHAPE_MISMATCH = "VGG-Face weights {path}: key {key} has shape {found}, expected {expected}"
IMAGE_BATCH_SHAPE = "images must be (N, H, W, 3) uint8 or (N, 3, H, W) float in [0, 1]; got {shape}"


class FaceEncoder(nn.Module):
    """Interface of every face encoder: ``forward(images) -> (B, feature_dim)`` and ``fc8``."""

    feature_dim: int
    input_size: int
    fc8: nn.Linear

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Identity features of ``images`` ``(B, 3, H, W)`` in [0, 1]."""
        if images.shape[-1] != self.input_size or images.shape[-2] != self.input_size:
            images = F.interpolate(
                images,
                size=(self.input_size, self.input_size),
                mode="bilinear",
                align_corners=False,
                antialias=images.shape[-1] > self.input_size,
            )
        return self.embed(images)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Features of images already at ``input_size``."""
        raise NotImplementedError

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """fc8 identity logits of ``images``."""
        return self.fc8(self(images))

    def freeze(self) -> FaceEncoder:
        """Evaluation mode with gradients off, as while the voice encoder trains."""
        self.eval()
        self.requires_grad_(False)
        return self


class VGGFace(FaceEncoder):
    """The VGG-Face network; the feature is fc7 after its ReLU (4096-D)."""

    feature_dim = VGGFACE_FEATURE_DIM
    input_size = VGGFACE_INPUT_SIZE

    def __init__(self) -> None:
        super().__init__()
        in_channels = 3
        self.conv_names: list[list[str]] = []
        for block, widths in enumerate(VGGFACE_CONV_BLOCKS, start=1):
            names = []
            for layer, width in enumerate(widths, start=1):
                name = f"conv_{block}_{layer}"
                self.add_module(name, nn.Conv2d(in_channels, width, 3, padding=1))
                names.append(name)
                in_channels = width
            self.conv_names.append(names)
        self.fc6 = nn.Linear(512 * 7 * 7, 4096)
        self.fc7 = nn.Linear(4096, VGGFACE_FEATURE_DIM)
        self.fc8 = nn.Linear(VGGFACE_FEATURE_DIM, VGGFACE_IDENTITIES)
        self.dropout = nn.Dropout(0.5)
        self.register_buffer(
            "mean", torch.tensor(VGGFACE_MEAN_RGB).view(1, 3, 1, 1) / 255.0, persistent=False
        )

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - self.mean) * 255.0
        for names in self.conv_names:
            for name in names:
                x = F.relu(getattr(self, name)(x))
            x = F.max_pool2d(x, 2)
        x = self.dropout(F.relu(self.fc6(x.flatten(1))))
        return F.relu(self.fc7(x))


def load_vggface(path: str | Path) -> VGGFace:
    """VGG-Face with weights from the local state_dict file ``path`` (nothing is downloaded).

    Raises :class:`InputError` naming the file and the expected keys when the file is
    absent, unreadable, or its keys or shapes do not match :class:`VGGFace`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(VGGFACE_MISSING_FILE.format(path=path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:
        raise InputError(VGGFACE_UNREADABLE.format(path=path, reason=error)) from error
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(VGGFACE_UNREADABLE.format(path=path, reason="not a state_dict"))
    with torch.device("meta"):
        model = VGGFace()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise InputError(
            VGGFACE_KEY_MISMATCH.format(
                path=path, missing=_first(missing), unexpected=_first(unexpected)
            )
        )
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise InputError(
                VGGFACE_SHAPE_MISMATCH.format(
                    path=path, key=key, found=tuple(state[key].shape), expected=tuple(tensor.shape)
                )
            )
    model.load_state_dict({k: v.float() for k, v in state.items()}, assign=True)
    model.mean = torch.tensor(VGGFACE_MEAN_RGB).view(1, 3, 1, 1) / 255.0
    return model


def _first(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit]) or "none"
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


@dataclass(frozen=True)
class SmallFaceEncoderConfig:
    """Architecture of the ``small`` face encoder."""

    n_identities: int
    feature_dim: int = 128
    widths: tuple[int, ...] = (32, 64, 128, 256)
    input_size: int = 64
    dropout: float = 0.2


class SmallFaceEncoder(FaceEncoder):
    """A compact CNN for 64×64 faces; fc8 is its identity classifier head.

    A :func:`conv_trunk` feeds a linear layer whose batch-normalised output is the feature.
    """

    def __init__(self, config: SmallFaceEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.feature_dim = config.feature_dim
        self.input_size = config.input_size
        self.trunk, trunk_dim = conv_trunk(config.widths, input_size=config.input_size)
        self.projection = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(trunk_dim, config.feature_dim, bias=False),
            nn.BatchNorm1d(config.feature_dim),
        )
        self.fc8 = nn.Linear(config.feature_dim, config.n_identities)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.projection(self.trunk(images - 0.5))


def conv_trunk(widths: tuple[int, ...], *, input_size: int) -> tuple[nn.Sequential, int]:
    """A stride-2 stem, then conv → BN → ReLU → max-pool per width, flattened.

    Returns the trunk and its output size. Flattening (not global pooling) keeps the
    facial geometry that identity and age depend on.
    """
    layers: list[nn.Module] = [
        nn.Conv2d(3, widths[0], 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(inplace=True),
    ]
    in_channels, side = widths[0], input_size // 2
    for width in widths:
        layers += [
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        ]
        in_channels, side = width, side // 2
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), in_channels * side * side


def as_image_batch(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` float32 in [0, 1] from uint8 ``(N, H, W, 3)`` or float ``(N, 3, H, W)``."""
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[-1] != 3:
            raise InputError(IMAGE_BATCH_SHAPE.format(shape=images.shape))
        scale = 255.0 if images.dtype == np.uint8 else 1.0
        return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / scale
    if images.ndim != 4 or images.shape[1] != 3:
        raise InputError(IMAGE_BATCH_SHAPE.format(shape=tuple(images.shape)))
    return images.float()


@torch.no_grad()
def encode_images(
    encoder: FaceEncoder, images: np.ndarray | torch.Tensor, *, batch_size: int = 256
) -> np.ndarray:
    """Features ``(N, feature_dim)`` float32 of an image batch, in evaluation mode."""
    was_training = encoder.training
    encoder.eval()
    features = [
        encoder(as_image_batch(images[start : start + batch_size])).numpy()
        for start in range(0, len(images), batch_size)
    ]
    encoder.train(was_training)
    if not features:
        return np.zeros((0, encoder.feature_dim), np.float32)
    return np.concatenate(features).astype(np.float32, copy=False)
