"""Face attribute classifier: the role Face++ played in Speech2Face's evaluation.

An image → gender, age and ethnicity, each with probabilities. Age is a Gaussian
(mean and spread in years, trained by negative log-likelihood): its mean is the age
in years, ``np.digitize(mean, AGE_DECADE_EDGES)`` its decade, and the Gaussian's mass
inside each decade the decade probabilities. It is applied alike to true faces, to
reconstructions from the true feature (F2F) and from the voice (S2F).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from speech2face.models.face_encoder import as_image_batch, conv_trunk
from speech2face.vocabulary import AGE_DECADE_EDGES, AGE_DECADES, SYNTHETIC_ETHNICITIES

AGE_CENTRE_YEARS = 40.0
AGE_SCALE_YEARS = 20.0
MIN_AGE_STD_YEARS = 0.5


@dataclass(frozen=True)
class AttributeClassifierConfig:
    """Architecture and class lists of an attribute classifier."""

    genders: tuple[str, ...] = ("female", "male")
    ethnicities: tuple[str, ...] = SYNTHETIC_ETHNICITIES
    widths: tuple[int, ...] = (32, 64, 128, 128)
    hidden_dim: int = 128
    input_size: int = 64
    dropout: float = 0.2


class AttributeOutputs(NamedTuple):
    """Raw outputs: class logits, and the age Gaussian's mean and standard deviation (years)."""

    gender_logits: torch.Tensor
    ethnicity_logits: torch.Tensor
    age_mean: torch.Tensor
    age_std: torch.Tensor


class AttributeClassifier(nn.Module):
    """A shared convolutional trunk with gender, ethnicity and age heads."""

    def __init__(self, config: AttributeClassifierConfig) -> None:
        super().__init__()
        self.config = config
        trunk, trunk_dim = conv_trunk(config.widths, input_size=config.input_size)
        self.trunk = nn.Sequential(
            trunk,
            nn.Dropout(config.dropout),
            nn.Linear(trunk_dim, config.hidden_dim),
            nn.ReLU(inplace=True),
        )
        self.gender_head = nn.Linear(config.hidden_dim, len(config.genders))
        self.ethnicity_head = nn.Linear(config.hidden_dim, len(config.ethnicities))
        self.age_head = nn.Linear(config.hidden_dim, 2)

    def forward(self, images: torch.Tensor) -> AttributeOutputs:
        size = self.config.input_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(
                images,
                size=(size, size),
                mode="bilinear",
                align_corners=False,
                antialias=images.shape[-1] > size,
            )
        hidden = self.trunk(images - 0.5)
        age = self.age_head(hidden)
        return AttributeOutputs(
            gender_logits=self.gender_head(hidden),
            ethnicity_logits=self.ethnicity_head(hidden),
            age_mean=AGE_CENTRE_YEARS + AGE_SCALE_YEARS * age[:, 0],
            age_std=MIN_AGE_STD_YEARS + AGE_SCALE_YEARS * F.softplus(age[:, 1]) / 2,
        )


def age_decade_probabilities(mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Mass of ``Normal(mean, std)`` inside each of :data:`AGE_DECADES` ``(N, 7)``."""
    edges = torch.tensor(AGE_DECADE_EDGES, dtype=mean.dtype, device=mean.device)
    cdf = torch.distributions.Normal(mean.unsqueeze(1), std.unsqueeze(1)).cdf(edges)
    ones, zeros = torch.ones_like(mean[:, None]), torch.zeros_like(mean[:, None])
    return torch.cat([cdf, ones], dim=1) - torch.cat([zeros, cdf], dim=1)


def age_decades(age_years: np.ndarray) -> np.ndarray:
    """Decade labels (:data:`AGE_DECADES`) of ages in years."""
    return np.asarray(AGE_DECADES, dtype=object)[np.digitize(age_years, AGE_DECADE_EDGES)]


@torch.no_grad()
def predict_attributes(
    model: AttributeClassifier, images: np.ndarray | torch.Tensor, *, batch_size: int = 256
) -> dict[str, Any]:
    """Attributes of ``images`` (uint8 ``(N, H, W, 3)`` or float ``(N, 3, H, W)`` in [0, 1]).

    Returns labels ``gender``, ``age_decade``, ``ethnicity`` (object arrays), ``age_years``
    and ``age_std_years`` (float), class probabilities ``gender_proba``,
    ``age_decade_proba``, ``ethnicity_proba`` (float32, columns in ``classes[attribute]``
    order) and ``classes``.
    """
    was_training = model.training
    model.eval()
    parts: dict[str, list[np.ndarray]] = {
        "gender_proba": [],
        "ethnicity_proba": [],
        "age_years": [],
        "age_std_years": [],
        "age_decade_proba": [],
    }
    for start in range(0, len(images), batch_size):
        batch = as_image_batch(images[start : start + batch_size])
        # channels-last: the convolutions and max-pooling run about 1.5x faster on CPU
        outputs = model(batch.contiguous(memory_format=torch.channels_last))
        parts["gender_proba"].append(outputs.gender_logits.softmax(1).numpy())
        parts["ethnicity_proba"].append(outputs.ethnicity_logits.softmax(1).numpy())
        parts["age_years"].append(outputs.age_mean.numpy())
        parts["age_std_years"].append(outputs.age_std.numpy())
        parts["age_decade_proba"].append(
            age_decade_probabilities(outputs.age_mean, outputs.age_std).numpy()
        )
    model.train(was_training)
    widths = {
        "gender_proba": len(model.config.genders),
        "ethnicity_proba": len(model.config.ethnicities),
        "age_decade_proba": len(AGE_DECADES),
    }
    result: dict[str, Any] = {
        name: np.concatenate(chunks).astype(np.float32)
        if chunks
        else np.zeros((0, widths[name]) if name in widths else 0, np.float32)
        for name, chunks in parts.items()
    }
    genders = np.asarray(model.config.genders, dtype=object)
    ethnicities = np.asarray(model.config.ethnicities, dtype=object)
    result["gender"] = genders[result["gender_proba"].argmax(1)]
    result["ethnicity"] = ethnicities[result["ethnicity_proba"].argmax(1)]
    result["age_decade"] = age_decades(result["age_years"])
    result["classes"] = {
        "gender": list(model.config.genders),
        "age_decade": list(AGE_DECADES),
        "ethnicity": list(model.config.ethnicities),
    }
    return result
