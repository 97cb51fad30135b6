"""Predictions with known truth, for checking the audit's statistics by simulation.

Each group has a true S2F gender-agreement rate. Each speaker's own rate is drawn
from Beta(rate·κ, (1 − rate)·κ) (a speaker random effect with mean exactly ``rate``;
smaller κ, stronger effect), and each clip agrees with probability the speaker's rate.
The group's true metric value is therefore ``rate``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from audit._intervals import adjust_pvalues
from audit.engine import run_audit
from speech2face.prediction.artifact import Predictions

SIM_COLUMN = "ethnicity"
SIM_METRIC = "s2f_gender_agreement"


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


def flag_rates(
    rates: Mapping[str, float],
    *,
    runs: int,
    family_sizes: Sequence[int | None] = (None,),
    speakers_per_group: int = 100,
    clips_per_speaker: int = 5,
    concentration: float = 20.0,
    n_boot: int = 200,
    seed: int = 0,
    correction: str = "holm",
    threshold: float = 0.05,
    planted: str | None = None,
) -> dict[int | None, float]:
    """Share of ``runs`` simulated audits that flag at least one group, per family size.

    With ``planted`` a run counts only when it flags that group (the power to find a
    planted gap, not some other group's chance flag).

    Each run draws predictions with :func:`simulate_predictions` and audits
    ``s2f_gender_agreement`` by ``ethnicity`` (every pair of groups is a test). A family
    size ``m`` larger than those few tests adds ``m − k`` tests with no effect (uniform
    p-values) to the correction, as the other metrics and slices of a full audit do; None
    keeps the audit's own family. Use it to check the power of a planned audit.
    """
    alpha = 0.05
    flagged = dict.fromkeys(family_sizes, 0)
    padding = np.random.default_rng(seed + 7919)
    for run in range(runs):
        predictions = simulate_predictions(
            rates,
            speakers_per_group=speakers_per_group,
            clips_per_speaker=clips_per_speaker,
            concentration=concentration,
            seed=seed + run,
        )
        result = run_audit(
            predictions,
            metrics=[SIM_METRIC],
            slices=[SIM_COLUMN],
            n_boot=n_boot,
            seed=run,
            correction=correction,
            threshold=threshold,
            fairlearn_views=False,
        )
        tests = result.tests
        groups = result.by_group(SIM_METRIC, SIM_COLUMN)
        large = (groups["difference"].abs() >= threshold) & (groups["status"] == "ok")
        candidate = (tests["for_reference"] & tests["group"].map(large).fillna(False)).to_numpy()
        if planted is not None:
            candidate = candidate & (tests["group"] == planted).to_numpy()
        p = tests["p_value"].to_numpy(dtype=np.float64)
        for size in family_sizes:
            extra = padding.uniform(size=max(0, (size or 0) - len(p)))
            adjusted = adjust_pvalues(np.concatenate([p, extra]), method=correction)[: len(p)]
            flagged[size] += bool((candidate & (adjusted < alpha)).any())
    return {size: count / runs for size, count in flagged.items()}
