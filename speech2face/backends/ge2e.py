"""The ``ge2e`` voice encoder: frozen pretrained GE2E embedding → trained MLP head.

It takes the same ``(batch, frames, bins, 2)`` spectrogram as the Speech2Face
voice encoders and outputs a face feature of ``out_dim`` (128 matches the small
face encoder; 4096 VGG-Face's fc7). Only the head trains: 256 → hidden → out,
about 200k parameters, so it learns from modest data in minutes. Because the
embedding is frozen, GE2E embeddings can be computed once per clip and the head
fitted on them directly (:func:`fit_head`), which is how it trains fastest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from speech2face.backends.voices import EMBEDDING_DIM, GE2EFromSpectrogram


@dataclass(frozen=True)
class GE2EConfig:
    """The head's shape; the GE2E embedding before it is fixed."""

    name: str = "ge2e"
    hidden: int = 512
    out_dim: int = 128
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GE2EConfig:
        return cls(**data)

    def build(self) -> GE2EVoiceEncoder:
        """A fresh head over the frozen GE2E embedding."""
        return GE2EVoiceEncoder(self)


GE2E = GE2EConfig()


class GE2EVoiceEncoder(nn.Module):
    """Spectrogram ``(B, T, F, 2)`` → frozen 256-D GE2E embedding → face feature."""

    def __init__(self, config: GE2EConfig = GE2E) -> None:
        super().__init__()
        self.config = config
        self.embedding = GE2EFromSpectrogram()
        self.head = nn.Sequential(
            nn.Linear(EMBEDDING_DIM, config.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.out_dim),
        )

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(spectrogram))

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The head's weights: all a checkpoint needs (the GE2E weights ship with Resemblyzer)."""
        return {f"head.{k}": v for k, v in self.head.state_dict().items()}


def feature_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between unit-normalised features plus (1 − cosine): the paper's feature terms."""
    p, t = F.normalize(predicted, dim=1), F.normalize(target, dim=1)
    return (p - t).abs().sum(dim=1).mean() + (1 - (p * t).sum(dim=1)).mean()


def fit_head(
    model: GE2EVoiceEncoder,
    embeddings: np.ndarray,
    targets: np.ndarray,
    *,
    epochs: int = 200,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Train ``model.head`` from precomputed GE2E embeddings to face features; epoch losses."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.as_tensor(embeddings, dtype=torch.float32)
    y = torch.as_tensor(targets, dtype=torch.float32)
    optimizer = torch.optim.Adam(model.head.parameters(), lr=lr, betas=(0.5, 0.999), eps=1e-4)
    model.train()
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            loss = feature_loss(model.head(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        losses.append(total / len(x))
    model.eval()
    return losses
