"""Coverage of the EER interval with speaker effects on both sides of a trial, and the
mutations that break it (voice-only clustering, trial-level resampling, the pigeonhole
product weights without the cluster-robust rescaling).

The full figure (1,000 audits) runs with ``python bench/bench_trials.py --coverage 1000``.
"""

from __future__ import annotations

import contextlib
from unittest import mock

import numpy as np
import pytest

import audit.trials
from audit import _trial_weights
from audit.simulate_trials import normal_eer, simulate_trials
from audit.trials import audit_trials

SIMULATION = {
    "n_speakers": 60,
    "clips_per_speaker": 4,
    "impostors_per_clip": 6,
    "separation": 1.05,
    "target_sd": 0.5,
    "voice_sd": 0.3,
    "face_sd": 0.8,
    "noise_sd": 0.5,
}
"""Speaker effects on both sides: ICC of target scores 0.5, of impostor scores 0.1 (voice)
and 0.65 (face); each face is the impostor of about 24 trials."""
CLUSTERINGS = ("two-way", "voice-only", "trial", "pigeonhole")


def _voice_only(original):
    def block(self, first, n_boot):
        voice, face = original(self, first, n_boot)
        return voice, np.ones_like(face)

    return block


def eer_coverage(runs: int, *, n_boot: int = 200, first_seed: int = 0) -> dict[str, float]:
    """Share of ``runs`` simulated audits whose EER interval covers the population EER
    (analytic; a 1,400,000-trial population agrees, see below), per clustering: the
    audit's own and three mutations."""
    truth = normal_eer(**{k: v for k, v in SIMULATION.items() if k.endswith(("sd", "tion"))})
    hits = dict.fromkeys(CLUSTERINGS, 0)
    for run in range(first_seed, first_seed + runs):
        table = simulate_trials(seed=run, **SIMULATION)
        by_trial = table.assign(
            voice_speaker_id="v" + table["trial_id"],
            face_speaker_id=np.where(
                table["target"], "v" + table["trial_id"], "f" + table["trial_id"]
            ),
        )
        for clustering in CLUSTERINGS:
            patches = {
                "voice-only": mock.patch.object(
                    _trial_weights.TwoWayWeights,
                    "block",
                    _voice_only(_trial_weights.TwoWayWeights.block),
                ),
                "pigeonhole": mock.patch.object(
                    audit.trials, "cgm_replicates", lambda point, product, mean, clusters=2: product
                ),
            }
            with patches.get(clustering, contextlib.nullcontext()):
                groups = audit_trials(
                    by_trial if clustering == "trial" else table,
                    slices=(),
                    n_boot=n_boot,
                    seed=run,
                    min_speakers=0,
                    n_jobs=1,
                ).groups
            eer = groups[groups["metric"] == "eer"].iloc[0]
            hits[clustering] += eer["ci_low"] <= truth <= eer["ci_high"]
    return {clustering: hit / runs for clustering, hit in hits.items()}


def test_population_eer_matches_the_analytic_value():
    table = simulate_trials(seed=999, **{**SIMULATION, "n_speakers": 50_000})
    groups = audit_trials(table, slices=(), n_boot=2, min_speakers=0).groups
    eer = groups.loc[groups["metric"] == "eer", "value"].item()
    truth = normal_eer(**{k: v for k, v in SIMULATION.items() if k.endswith(("sd", "tion"))})
    assert eer == pytest.approx(truth, abs=0.004)


def test_two_way_interval_covers_and_mutations_do_not():
    coverage = eer_coverage(150, n_boot=150)
    # Monte Carlo SE of a 95 % coverage over 150 audits: 1.8 points
    assert 0.90 <= coverage["two-way"] <= 0.99, coverage
    assert coverage["voice-only"] < 0.88, coverage
    assert coverage["trial"] < 0.85, coverage
    assert coverage["pigeonhole"] > 0.96, coverage  # 0.983 over 1,000 audits
