import math

import numpy as np
import pytest
import torch
from torch import nn

from speech2face.models.loss import distillation_loss, speech2face_loss

V_S = [[1.0, 2.0, 2.0], [0.0, 3.0, 4.0]]
V_F = [[2.0, 1.0, 2.0], [3.0, 0.0, 4.0]]


def _linear(weight, bias):
    layer = nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        layer.bias.copy_(torch.tensor(bias))
    return layer.requires_grad_(False)


DECODER = _linear([[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]], [0.0, 1.0])
FC8 = _linear([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]], [0, 0, 0, -2])


def _loss(**kwargs):
    return speech2face_loss(
        torch.tensor(V_S), torch.tensor(V_F), decoder_head=DECODER, fc8_head=FC8, **kwargs
    )


def test_decoder_term_is_the_l1_norm_of_decoded_differences_averaged_over_clips():
    # clip 1: dec(v_s) = (-1, 2.5), dec(v_f) = (0, 2.5) → 1; clip 2: (-4, 2.5) vs (-1, 2.5) → 3
    assert _loss().decoder_l1.item() == pytest.approx((1 + 3) / 2)


def test_feature_term_is_lambda1_times_squared_distance_of_unit_vectors():
    # clip 1: (1,2,2)/3 vs (2,1,2)/3 → (1+1+0)/9; clip 2: (0,3,4)/5 vs (3,0,4)/5 → (9+9)/25
    expected = 0.025 * (2 / 9 + 18 / 25) / 2
    assert _loss().feature_l2.item() == pytest.approx(expected)
    assert _loss(lambda1=1.0).feature_l2.item() == pytest.approx(expected / 0.025)


def _softmax(z):
    e = [math.exp(v) for v in z]
    return [v / sum(e) for v in e]


def test_distillation_term_is_soft_target_cross_entropy_at_temperature_two():
    expected = 0.0
    for s, f in zip(V_S, V_F, strict=True):
        logits_s = [s[0], s[1], s[2], sum(s) - 2]
        logits_f = [f[0], f[1], f[2], sum(f) - 2]
        p_f = _softmax([v / 2 for v in logits_f])
        p_s = _softmax([v / 2 for v in logits_s])
        expected -= sum(a * math.log(b) for a, b in zip(p_f, p_s, strict=True))
    expected /= 2
    assert _loss().distillation.item() == pytest.approx(200 * expected, rel=1e-6)
    assert _loss(lambda2=1.0, temperature=2).distillation.item() == pytest.approx(expected)


def test_total_is_the_sum_of_terms_and_gradients_reach_only_the_voice_side():
    v_s = torch.tensor(V_S, requires_grad=True)
    v_f = torch.tensor(V_F, requires_grad=True)
    loss = speech2face_loss(v_s, v_f, decoder_head=DECODER, fc8_head=FC8)
    assert loss.total.item() == pytest.approx(
        loss.decoder_l1.item() + loss.feature_l2.item() + loss.distillation.item()
    )
    loss.total.backward()
    assert v_s.grad is not None and torch.isfinite(v_s.grad).all()
    assert v_f.grad is None


def test_distillation_matches_kl_divergence_plus_teacher_entropy():
    rng = np.random.default_rng(0)
    teacher = torch.tensor(rng.normal(size=(5, 7)))
    student = torch.tensor(rng.normal(size=(5, 7)))
    p = torch.softmax(teacher / 3, dim=-1)
    kl = nn.functional.kl_div(torch.log_softmax(student / 3, dim=-1), p, reduction="batchmean")
    entropy = -(p * p.log()).sum(dim=-1).mean()
    ce = distillation_loss(teacher, student, temperature=3)
    assert ce.item() == pytest.approx((kl + entropy).item(), rel=1e-9)
    assert distillation_loss(teacher, teacher, temperature=3).item() == pytest.approx(
        entropy.item()
    )
