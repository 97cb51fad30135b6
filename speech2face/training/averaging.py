"""An exponential moving average of a model's weights (Polyak averaging).

Not in the Speech2Face paper. When most of the target cannot be predicted from the
input (the identity part of a face, from a voice), every gradient is mostly noise and
the last weights of a run are one noisy point of a flat valley; their running average
is steadier from run to run. The average follows ``decay`` once warmed up, and
``(1 + n) / (10 + n)`` after ``n`` updates before that, so early weights fade fast.
BatchNorm's running statistics are averaged too; integer buffers are copied.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    """A frozen copy of ``model`` whose weights track the running average of ``model``'s."""

    def __init__(self, model: nn.Module, *, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"weight-average decay must be in (0, 1), not {decay}")
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average toward ``model``'s current weights by one step."""
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for average, current in zip(
            self.model.state_dict().values(), model.state_dict().values(), strict=True
        ):
            if average.dtype.is_floating_point:
                average.lerp_(current, 1.0 - decay)
            else:
                average.copy_(current)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"weights": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["weights"])
        self.updates = state["updates"]
