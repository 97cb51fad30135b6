"""Predictions with known truth, for checking the audit's statistics by simulation.

Each group has a true S2F gender-agreement rate. Each speaker's own rate is drawn
from Beta(rate·κ, (1 − rate)·κ) (a speaker random effect with mean exactly ``rate``;
smaller κ, stronger effect), and each clip agrees with probability the speaker's rate.
The group's true metric value is therefore ``rate``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from speech2face.predictions import Predictions

SIM_COLUMN = "ethnicity"


def simulate_predictions(
    rates: Mapping[str, float],
    *,
    speakers_per_group: int = 100,
    clips_per_speaker: int = 10,
    concentration: float = 20.0,
    seed: int = 0,
    column: str = SIM_COLUMN,
) -> Predictions:
    """A predictions table whose ``s2f_gender_agreement`` per ``column`` group is ``rates``."""
    rng = np.random.default_rng(seed)
    n_groups = len(rates)
    n_speakers = n_groups * speakers_per_group
    rate = np.repeat(np.asarray(list(rates.values()), dtype=np.float64), speakers_per_group)
    speaker_rate = rng.beta(rate * concentration, (1 - rate) * concentration)
    speaker = np.repeat(np.arange(n_speakers), clips_per_speaker)
    agree = rng.random(len(speaker)) < speaker_rate[speaker]
    speaker_gender = rng.choice(np.array(["female", "male"]), size=n_speakers)
    true_gender = speaker_gender[speaker]
    other = np.where(true_gender == "female", "male", "female")
    table = pd.DataFrame(
        {
            "clip_id": [f"c{i}" for i in range(len(speaker))],
            "speaker_id": [f"s{s}" for s in speaker],
            "duration_s": 6.0,
            column: np.repeat(np.asarray(list(rates), dtype=object), speakers_per_group)[speaker],
            "gender": true_gender,
            "true_gender": true_gender,
            "s2f_gender": np.where(agree, true_gender, other),
        }
    )
    return Predictions(table=table, features={}, meta={"model_id": f"simulated-{seed}"})
