"""The Speech2Face training loss (Oh et al. 2019, eq. 1), term by term.

    L = ‖f_dec(v_f) − f_dec(v_s)‖₁ + λ₁‖v_f/‖v_f‖ − v_s/‖v_s‖‖₂²
        + λ₂ L_distill(f_VGG(v_f), f_VGG(v_s))

``f_dec`` is the face decoder's first layer (4096 → 1000 in the paper) and
``f_VGG`` the face encoder's fc8 classifier, both frozen. ``L_distill`` is the
cross-entropy of the voice's softened class distribution against the face's:
``−Σᵢ p⁽ⁱ⁾(a) log p⁽ⁱ⁾(b)`` with ``p(a) = softmax(a / T)``. Norms are taken over
the feature axis of each clip and averaged over the batch.

A run without one of the frozen heads says so explicitly (``docs/model.md``,
"Face stacks and loss terms"):

- ``decoder_head=None`` (no face decoder: stored descriptors, VGG-Face without
  the paper's decoder): term 1 is computed on the feature itself,
  ``‖v_f − v_s‖₁``. The decoder's first layer is linear, so the paper's term is
  an L1 distance in a linear map of the feature space; the identity keeps that
  role. Dropping it instead would leave only the unit-vector term, which trains
  the direction of ``v_s`` and leaves its scale arbitrary, while descriptor
  classifiers and L1/L2 retrieval read the scale.
- ``fc8_head=None`` (no identity classifier, e.g. dlib descriptors): the
  distillation term is dropped (zero, no gradient).
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
    decoder_head: nn.Module | None,
    fc8_head: nn.Module | None,
    lambda1: float = 0.025,
    lambda2: float = 200.0,
    temperature: float = 2.0,
) -> Speech2FaceLoss:
    """The paper's loss between voice features ``v_s`` and face features ``v_f``.

    Gradients flow into ``v_s`` only: the face side is a fixed target. Without a
    ``decoder_head`` term 1 is the L1 distance of the features themselves; without an
    ``fc8_head`` the distillation term is zero.
    """
    v_f = v_f.detach()
    decode = nn.Identity() if decoder_head is None else decoder_head
    with torch.no_grad():
        decoded_face = decode(v_f)
    decoder_l1 = (decode(v_s) - decoded_face).abs().sum(dim=-1).mean()
    unit_face = nn.functional.normalize(v_f, dim=-1)
    unit_voice = nn.functional.normalize(v_s, dim=-1)
    feature_l2 = lambda1 * (unit_face - unit_voice).pow(2).sum(dim=-1).mean()
    if fc8_head is None:
        distillation = v_s.new_zeros(())
    else:
        with torch.no_grad():
            face_logits = fc8_head(v_f)
        distillation = lambda2 * distillation_loss(
            face_logits, fc8_head(v_s), temperature=temperature
        )
    return Speech2FaceLoss(
        total=decoder_l1 + feature_l2 + distillation,
        decoder_l1=decoder_l1,
        feature_l2=feature_l2,
        distillation=distillation,
    )
