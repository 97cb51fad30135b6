"""The Speech2Face training loss (Oh et al. 2019, eq. 1), term by term.

    L = ‖f_dec(v_f) − f_dec(v_s)‖₁ + λ₁‖v_f/‖v_f‖ − v_s/‖v_s‖‖₂²
        + λ₂ L_distill(f_VGG(v_f), f_VGG(v_s))

``f_dec`` is the face decoder's first layer (4096 → 1000 in the paper) and
``f_VGG`` the face encoder's fc8 classifier, both frozen. ``L_distill`` is the
cross-entropy of the voice's softened class distribution against the face's:
``−Σᵢ p⁽ⁱ⁾(a) log p⁽ⁱ⁾(b)`` with ``p(a) = softmax(a / T)``. Norms are taken over
the feature axis of each clip and averaged over the batch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class Speech2FaceLoss(NamedTuple):
    """The total loss and its three (already weighted) terms, batch means."""

    total: torch.Tensor
    decoder_l1: torch.Tensor
    feature_l2: torch.Tensor
    distillation: torch.Tensor


def distillation_loss(
    teacher_logits: torch.Tensor, student_logits: torch.Tensor, *, temperature: float
) -> torch.Tensor:
    """Soft-target cross-entropy ``−Σ softmax(t/T) · log_softmax(s/T)``, batch mean."""
    teacher = torch.softmax(teacher_logits / temperature, dim=-1)
    log_student = torch.log_softmax(student_logits / temperature, dim=-1)
    return -(teacher * log_student).sum(dim=-1).mean()


def speech2face_loss(
    v_s: torch.Tensor,
    v_f: torch.Tensor,
    *,
    decoder_head: nn.Module,
    fc8_head: nn.Module,
    lambda1: float = 0.025,
    lambda2: float = 200.0,
    temperature: float = 2.0,
) -> Speech2FaceLoss:
    """The paper's loss between voice features ``v_s`` and face features ``v_f``.

    Gradients flow into ``v_s`` only: the face side is a fixed target.
    """
    v_f = v_f.detach()
    with torch.no_grad():
        decoded_face = decoder_head(v_f)
        face_logits = fc8_head(v_f)
    decoder_l1 = (decoder_head(v_s) - decoded_face).abs().sum(dim=-1).mean()
    unit_face = nn.functional.normalize(v_f, dim=-1)
    unit_voice = nn.functional.normalize(v_s, dim=-1)
    feature_l2 = lambda1 * (unit_face - unit_voice).pow(2).sum(dim=-1).mean()
    distillation = lambda2 * distillation_loss(face_logits, fc8_head(v_s), temperature=temperature)
    return Speech2FaceLoss(
        total=decoder_l1 + feature_l2 + distillation,
        decoder_l1=decoder_l1,
        feature_l2=feature_l2,
        distillation=distillation,
    )
