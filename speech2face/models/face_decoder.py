"""Face decoder in the spirit of Cole et al. 2017: a face feature → landmarks + texture → face.

The feature passes through ``first_layer`` (D → 1000 in the paper; Speech2Face's loss
compares its outputs) and an MLP, which predicts 68 landmarks (iBUG order, coordinates
normalised to [0, 1] of the image side) and a texture image in the canonical frame (the
faces warped onto the mean landmarks). A thin-plate spline through the landmarks, plus
fixed anchors on the border, warps the texture from the canonical to the predicted
landmarks, differentiably (``grid_sample``). Craniofacial measures of a reconstruction
come straight from its predicted landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

N_LANDMARKS = 68
TPS_REGULARISATION = 1e-6
"""Ridge on the spline's kernel: keeps coincident landmarks (a closed mouth) solvable."""

WARP_GRID_SIDE = 16
"""The spline is solved on this many points per side, then interpolated to every pixel."""

BORDER_ANCHORS = torch.tensor(
    [[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [1.0, 0.5], [1.0, 1.0], [0.5, 1.0], [0.0, 1.0], [0.0, 0.5]]
)
"""Points on the image border that the warp keeps in place (normalised coordinates)."""


class DecodedFaces(NamedTuple):
    """Decoder output: images ``(B, 3, S, S)`` in [0, 1], landmarks ``(B, 68, 2)`` in [0, 1]."""

    images: torch.Tensor
    landmarks: torch.Tensor
    textures: torch.Tensor


@dataclass(frozen=True)
class FaceDecoderConfig:
    """Architecture of a face decoder."""

    feature_dim: int
    hidden_dim: int = 1000
    image_size: int = 64
    texture_channels: tuple[int, ...] = (32, 32, 16, 8)
    """Channels of the texture's upsampling stages; each doubles the side."""


class FaceDecoder(nn.Module):
    """Feature → (image, landmarks, canonical texture).

    Landmarks are predicted as offsets from ``mean_landmarks`` and the texture as a
    residual (in logit space) on ``mean_texture``, the training faces' means.
    """

    def __init__(
        self,
        config: FaceDecoderConfig,
        *,
        mean_landmarks: torch.Tensor | None = None,
        mean_texture: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        seed_side = config.image_size // 2 ** len(config.texture_channels)
        if seed_side * 2 ** len(config.texture_channels) != config.image_size:
            raise ValueError("image_size must be a multiple of 2 ** len(texture_channels)")
        if mean_landmarks is None:
            mean_landmarks = torch.full((N_LANDMARKS, 2), 0.5)
        if mean_texture is None:
            mean_texture = torch.full((3, config.image_size, config.image_size), 0.5)
        self.register_buffer("mean_landmarks", mean_landmarks.float().clone())
        self.register_buffer("mean_texture_logit", torch.logit(mean_texture.float(), eps=1e-3))
        self.first_layer = nn.Linear(config.feature_dim, config.hidden_dim)
        self.mlp = nn.Sequential(
            nn.ReLU(),
            nn.Linear(config.hidden_dim, config.hidden_dim),
            nn.ReLU(),
        )
        self.landmark_head = nn.Linear(config.hidden_dim, N_LANDMARKS * 2)
        nn.init.zeros_(self.landmark_head.weight)
        nn.init.zeros_(self.landmark_head.bias)
        first = config.texture_channels[0]
        self.texture_seed = nn.Sequential(
            nn.Linear(config.hidden_dim, first * seed_side * seed_side),
            nn.Unflatten(1, (first, seed_side, seed_side)),
        )
        stages: list[nn.Module] = []
        in_channels = first
        for width in config.texture_channels:
            stages += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            in_channels = width
        stages.append(nn.Conv2d(in_channels, 3, 3, padding=1))
        self.texture_net = nn.Sequential(*stages)

    def forward(self, features: torch.Tensor) -> DecodedFaces:
        hidden = self.mlp(self.first_layer(features))
        offsets = self.landmark_head(hidden).view(-1, N_LANDMARKS, 2)
        landmarks = self.mean_landmarks + offsets
        # channels-last: the upsampling and convolutions run about 2x faster on CPU
        seed = self.texture_seed(hidden).contiguous(memory_format=torch.channels_last)
        textures = torch.sigmoid(self.mean_texture_logit + self.texture_net(seed))
        mean = self.mean_landmarks.expand_as(landmarks)
        images = warp_images(textures, from_landmarks=mean, to_landmarks=landmarks)
        return DecodedFaces(images, landmarks, textures)

    @torch.no_grad()
    def decode(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Evaluation-mode ``(images (B, 3, S, S) in [0, 1], landmarks (B, 68, 2) in pixels)``.

        Pixel landmarks follow the renderer's convention, ready for
        ``speech2face.craniofacial.craniofacial_measures``.
        """
        was_training = self.training
        self.eval()
        decoded = self(features)
        self.train(was_training)
        return decoded.images, pixel_landmarks(decoded.landmarks, size=self.config.image_size)


def normalise_landmarks(landmarks: torch.Tensor, *, size: int) -> torch.Tensor:
    """Pixel (x, y), top-left pixel centre at 0 (dlib's convention) → fractions of the side."""
    return (landmarks + 0.5) / size


def pixel_landmarks(landmarks: torch.Tensor, *, size: int) -> torch.Tensor:
    """Inverse of :func:`normalise_landmarks`."""
    return landmarks * size - 0.5


def warp_images(
    images: torch.Tensor, *, from_landmarks: torch.Tensor, to_landmarks: torch.Tensor
) -> torch.Tensor:
    """Warp ``images`` so that content at ``from_landmarks`` moves to ``to_landmarks``.

    Landmarks are ``(B, N, 2)`` (x, y) in [0, 1]; the border anchors stay fixed. Each output
    pixel samples the input where the thin-plate spline through
    ``to_landmarks → from_landmarks`` sends it; equal landmark sets give the identity. The
    spline is evaluated on a :data:`WARP_GRID_SIDE` grid spanning the pixel centres and
    interpolated bilinearly (exact for affine maps, and the spline is smooth).
    """
    batch, _, height, width = images.shape
    anchors = BORDER_ANCHORS.to(images).expand(batch, -1, -1)
    sources = torch.cat([from_landmarks, anchors], dim=1)
    targets = torch.cat([to_landmarks, anchors], dim=1)
    side = min(WARP_GRID_SIDE, height, width)
    ys = torch.linspace(0.5 / height, 1 - 0.5 / height, side, dtype=images.dtype)
    xs = torch.linspace(0.5 / width, 1 - 0.5 / width, side, dtype=images.dtype)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)
    coarse = thin_plate_spline(targets, sources, grid.to(images.device).expand(batch, -1, -1))
    coarse = coarse.view(batch, side, side, 2).permute(0, 3, 1, 2)
    sample_at = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=True)
    return F.grid_sample(
        images,
        sample_at.permute(0, 2, 3, 1) * 2.0 - 1.0,
        mode="bilinear",
        padding_mode="border",
        align_corners=False,
    )


def thin_plate_spline(
    controls: torch.Tensor, values: torch.Tensor, points: torch.Tensor
) -> torch.Tensor:
    """Evaluate at ``points`` ``(B, P, 2)`` the 2-D thin-plate spline with ``f(controls) = values``.

    ``controls`` and ``values`` are ``(B, N, 2)``; the kernel is ``r² log r²`` with a small ridge
    (:data:`TPS_REGULARISATION`). Solved in float64 for conditioning, differentiable.
    """
    dtype = controls.dtype
    controls, values, points = controls.double(), values.double(), points.double()
    batch, n_controls, _ = controls.shape
    kernel = _tps_kernel(controls, controls)
    kernel = kernel + TPS_REGULARISATION * torch.eye(
        n_controls, dtype=torch.float64, device=controls.device
    )
    affine = F.pad(controls, (1, 0), value=1.0)
    system = torch.cat(
        [
            torch.cat([kernel, affine], dim=2),
            torch.cat([affine.transpose(1, 2), controls.new_zeros(batch, 3, 3)], dim=2),
        ],
        dim=1,
    )
    rhs = torch.cat([values, values.new_zeros(batch, 3, 2)], dim=1)
    coefficients = torch.linalg.solve(system, rhs)
    basis = torch.cat([_tps_kernel(points, controls), F.pad(points, (1, 0), value=1.0)], dim=2)
    return (basis @ coefficients).to(dtype)


def _tps_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # dx² + dy² spelt out: the same values as a sum over the last axis, in fewer passes
    dx = a[..., 0, None] - b[..., None, :, 0]
    dy = a[..., 1, None] - b[..., None, :, 1]
    squared = dx * dx + dy * dy
    return squared * torch.log(squared + 1e-12)
