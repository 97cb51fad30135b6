"""Predictions with known truth, for checking the audit's statistics by simulation.

Two worlds, both with a speaker random effect:

- agreement (``simulate_predictions``): each group has a true S2F gender-agreement
  rate. Each speaker's own rate is drawn from Beta(rate·κ, (1 − rate)·κ) (mean exactly
  ``rate``; the within-speaker correlation is ICC = 1 / (κ + 1)), and each clip agrees
  with probability the speaker's rate. The group's true value is ``rate``.
- skewed age error (``simulate_age_errors``): each clip's absolute age error is
  lognormal, ``mean · exp(b + e − (σ_b² + σ_e²)/2)`` with a speaker effect b, so the
  group's true mean error is ``mean`` and the ICC of the errors is set exactly.

``audit_outcomes`` scores one audit against the truth with the engine's own adjusted
p-values, intervals and flags; ``flag_rates`` repeats audits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from audit._intervals import adjust_pvalues
from audit.engine import run_audit
from audit.result import AuditResult
from speech2face.prediction.artifact import Predictions

SIM_COLUMN = "ethnicity"
SIM_METRIC = "s2f_gender_agreement"
AGE_METRIC = "s2f_age_error"


def concentration_for(icc: float) -> float:
    """The Beta concentration κ whose speaker effect has intra-class correlation ``icc``."""
    return 1.0 / icc - 1.0


def _clip_counts(
    rng: np.random.Generator, n_speakers: int, clips_per_speaker: int, poisson: bool
) -> np.ndarray:
    """Clips of each speaker: ``clips_per_speaker`` each, or 1 + Poisson(mean − 1)."""
    if not poisson:
        return np.full(n_speakers, clips_per_speaker)
    return 1 + rng.poisson(clips_per_speaker - 1, n_speakers)


def _table(
    groups: Sequence[str], speakers_per_group: int, speaker: np.ndarray, column: str
) -> dict[str, object]:
    return {
        "clip_id": [f"c{i}" for i in range(len(speaker))],
        "speaker_id": [f"s{s}" for s in speaker],
        "duration_s": 6.0,
        column: np.repeat(np.asarray(list(groups), dtype=object), speakers_per_group)[speaker],
    }


def simulate_age_errors(
    means: Mapping[str, float],
    *,
    speakers_per_group: int = 100,
    clips_per_speaker: int = 5,
    icc: float = 0.17,
    sigma: float = 0.6,
    poisson_clips: bool = True,
    seed: int = 0,
    column: str = SIM_COLUMN,
) -> Predictions:
    """A predictions table whose ``s2f_age_error`` per ``column`` group has mean ``means``.

    Errors are lognormal with log-scale s.d. ``sigma`` (skewness about 2 at 0.6); the
    speaker share of their variance is ``icc`` on the error scale.
    """
    rng = np.random.default_rng(seed)
    n_speakers = len(means) * speakers_per_group
    counts = _clip_counts(rng, n_speakers, clips_per_speaker, poisson_clips)
    speaker = np.repeat(np.arange(n_speakers), counts)
    var_b = np.log1p(icc * np.expm1(sigma**2))
    var_e = sigma**2 - var_b
    mean = np.repeat(np.asarray(list(means.values()), dtype=np.float64), speakers_per_group)
    log_error = rng.normal(0, np.sqrt(var_b), n_speakers)[speaker] + rng.normal(
        0, np.sqrt(var_e), len(speaker)
    )
    error = mean[speaker] * np.exp(log_error - sigma**2 / 2)
    true_age = rng.uniform(20, 70, n_speakers)[speaker]
    table = _table(list(means), speakers_per_group, speaker, column)
    table.update(true_age_years=true_age, s2f_age_years=true_age + error)
    return Predictions(pd.DataFrame(table), features={}, meta={"model_id": f"age-{seed}"})


def simulate_predictions(
    rates: Mapping[str, float],
    *,
    speakers_per_group: int = 100,
    clips_per_speaker: int = 10,
    concentration: float = 20.0,
    seed: int = 0,
    column: str = SIM_COLUMN,
    poisson_clips: bool = False,
) -> Predictions:
    """A predictions table whose ``s2f_gender_agreement`` per ``column`` group is ``rates``
    (``poisson_clips``: 1 + Poisson(clips_per_speaker − 1) clips per speaker)."""
    rng = np.random.default_rng(seed)
    n_groups = len(rates)
    n_speakers = n_groups * speakers_per_group
    rate = np.repeat(np.asarray(list(rates.values()), dtype=np.float64), speakers_per_group)
    speaker_rate = rng.beta(rate * concentration, (1 - rate) * concentration)
    counts = _clip_counts(rng, n_speakers, clips_per_speaker, poisson_clips)
    speaker = np.repeat(np.arange(n_speakers), counts)
    agree = rng.random(len(speaker)) < speaker_rate[speaker]
    speaker_gender = rng.choice(np.array(["female", "male"]), size=n_speakers)
    true_gender = speaker_gender[speaker]
    other = np.where(true_gender == "female", "male", "female")
    table = _table(list(rates), speakers_per_group, speaker, column)
    table.update(
        gender=true_gender, true_gender=true_gender, s2f_gender=np.where(agree, true_gender, other)
    )
    return Predictions(
        table=pd.DataFrame(table), features={}, meta={"model_id": f"simulated-{seed}"}
    )


def audit_outcomes(
    result: AuditResult, truth: Mapping[str, float], *, metric: str, planted: str | None = None
) -> dict[str, float]:
    """One audit of ``metric`` by ``SIM_COLUMN`` scored against the true group values.

    Counts of group intervals and difference intervals covering the truth (the true
    difference from the audit's reference: a named group, or the mean of the equally
    sized groups for ``overall``), whether any group is falsely significant or flagged
    (a group whose true difference is 0), whether every difference interval covers
    (simultaneous coverage), and whether ``planted`` is flagged and significant. Every
    decision is the engine's own: its adjusted p-values, intervals and flags.
    """
    rows = result.by_group(metric, SIM_COLUMN)
    true = rows.index.map(truth).to_numpy(dtype=np.float64)
    references = rows["reference"].to_numpy(dtype=object)
    overall = float(np.mean(list(truth.values())))
    true_ref = np.array([truth.get(r, overall) for r in references], dtype=np.float64)
    true_diff = true - true_ref
    shown = rows["diff_ci_low"].notna().to_numpy()
    value_cover = (rows["ci_low"] <= true) & (true <= rows["ci_high"])
    diff_cover = ((rows["diff_ci_low"] <= true_diff) & (true_diff <= rows["diff_ci_high"]))[shown]
    significant = (rows["p_adjusted"] < 0.05).to_numpy()
    null = np.isclose(true_diff, 0.0)
    outcome = {
        "values": float(rows["ci_low"].notna().sum()),
        "values_covered": float(value_cover.sum()),
        "differences": float(shown.sum()),
        "differences_covered": float(diff_cover.sum()),
        "all_differences_covered": float(diff_cover.all()),
        "false_significant": float((significant & null).any()),
        "false_flag": float((rows["flag"].to_numpy() & null).any()),
    }
    if planted is not None:
        outcome["planted_flagged"] = float(rows.loc[planted, "flag"])
        outcome["planted_significant"] = float(significant[rows.index.get_loc(planted)])
    return outcome


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
    decision: str = "flag",
    **options: object,
) -> dict[int | None, float]:
    """Share of ``runs`` simulated audits that flag at least one group, per family size.

    With ``planted`` a run counts only when it flags that group (the power to find a
    planted gap, not some other group's chance flag).

    Each run draws predictions with :func:`simulate_predictions` and audits
    ``s2f_gender_agreement`` by ``ethnicity``; ``options`` go to ``run_audit``. None
    counts the engine's own flags. A family size ``m`` adds ``m − k`` tests with no
    effect (uniform p-values) to the audit's k tests, as the other metrics and slices of
    a full audit do, and re-applies the rule (significant after that correction, and for
    a flag its interval beyond the threshold): the power of a planned audit. ``decision``
    is ``"flag"`` or ``"significant"`` (significant after correction, of any size).
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
            **options,
        )
        groups = result.by_group(SIM_METRIC, SIM_COLUMN)
        wanted = groups.index == planted if planted is not None else np.ones(len(groups), bool)
        tests = result.tests
        p = tests["p_value"].to_numpy(dtype=np.float64)
        for size in family_sizes:
            if size is None:
                significant = (groups["p_adjusted"] < alpha).to_numpy()
            else:
                extra = padding.uniform(size=max(0, size - len(p)))
                adjusted = adjust_pvalues(np.concatenate([p, extra]), method=correction)
                keyed = pd.Series(adjusted[: len(p)], index=tests["group"])
                keyed = keyed[tests["for_reference"].to_numpy()]
                significant = groups.index.map(keyed).to_numpy(dtype=np.float64) < alpha
            if decision == "flag":
                significant = significant & _interval_beyond(groups)
            flagged[size] += bool((significant & wanted).any())
    return {size: count / runs for size, count in flagged.items()}


def _interval_beyond(groups: pd.DataFrame) -> np.ndarray:
    """Whether each group's difference interval lies wholly beyond its threshold."""
    return (
        (groups["diff_ci_low"] >= groups["threshold"])
        | (groups["diff_ci_high"] <= -groups["threshold"])
    ).to_numpy()


CONDITION_WORLDS = ("recording", "group", "both")
"""Worlds of :func:`simulate_conditions`: the gap is only recording quality, only the
group, or both."""
SNR_MEAN_DB = 20.0


def _agreement_probability(snr_db: np.ndarray, offset: np.ndarray, *, slope: float) -> np.ndarray:
    """Each clip's chance of agreement: linear in its SNR around 20 dB, plus offsets."""
    return np.clip(0.75 + slope * (snr_db - SNR_MEAN_DB) + offset, 0.02, 0.98)


def simulate_conditions(
    world: str,
    *,
    groups: Sequence[str] = ("a", "b", "c", "d"),
    affected: str = "b",
    gap: float = 0.15,
    snr_shift_db: float = 10.0,
    slope: float = 0.015,
    speakers_per_group: int = 100,
    clips_per_speaker: int = 5,
    speaker_sd: float = 0.08,
    seed: int = 0,
    column: str = SIM_COLUMN,
) -> Predictions:
    """Predictions with an ``snr_db`` column, where S2F gender agreement falls with noise.

    Every clip's SNR is its speaker's mean (normal, s.d. 4 dB around 20 dB) plus a clip
    deviation (s.d. 3 dB); its chance of agreement is ``0.75 + slope·(snr − 20)`` plus a
    speaker effect (normal, s.d. ``speaker_sd``), clipped to [0.02, 0.98]. ``world``:

    - ``recording``: the ``affected`` group's speakers are recorded ``snr_shift_db`` lower,
      and agreement depends on SNR only: a raw gap with no gap at equal conditions;
    - ``group``: every group has the same SNR distribution, and the ``affected`` group
      agrees ``gap`` less at any SNR: the gap is the group's;
    - ``both``: the affected group is recorded lower *and* agrees ``gap`` less.
    """
    if world not in CONDITION_WORLDS:
        raise ValueError(f"world must be one of {CONDITION_WORLDS}, got {world!r}")
    rng = np.random.default_rng(seed)
    n_speakers = len(groups) * speakers_per_group
    hit = np.repeat(np.asarray(list(groups), dtype=object) == affected, speakers_per_group)
    shift = snr_shift_db if world in ("recording", "both") else 0.0
    speaker_snr = rng.normal(SNR_MEAN_DB, 4.0, n_speakers) - shift * hit
    speaker_offset = rng.normal(0.0, speaker_sd, n_speakers) - (
        gap * hit if world in ("group", "both") else 0.0
    )
    speaker = np.repeat(np.arange(n_speakers), clips_per_speaker)
    snr = speaker_snr[speaker] + rng.normal(0.0, 3.0, len(speaker))
    chance = _agreement_probability(snr, speaker_offset[speaker], slope=slope)
    agree = rng.random(len(speaker)) < chance
    speaker_gender = rng.choice(np.array(["female", "male"]), size=n_speakers)
    true_gender = speaker_gender[speaker]
    other = np.where(true_gender == "female", "male", "female")
    table = _table(list(groups), speakers_per_group, speaker, column)
    table.update(
        gender=true_gender,
        true_gender=true_gender,
        s2f_gender=np.where(agree, true_gender, other),
        snr_db=snr,
    )
    return Predictions(pd.DataFrame(table), features={}, meta={"model_id": f"{world}-{seed}"})


def equal_conditions_truth(
    *,
    groups: Sequence[str] = ("a", "b", "c", "d"),
    affected: str = "b",
    gap: float = 0.15,
    slope: float = 0.015,
    speaker_sd: float = 0.08,
    draws: int = 1_000_000,
) -> dict[str, float]:
    """True difference of each group from the overall value in the ``group`` world of
    :func:`simulate_conditions` (equal groups, one SNR distribution), by Monte Carlo over
    ``draws`` clips per group. With one SNR distribution for every group the stratified
    and raw estimands coincide, so this is the true adjusted difference too."""
    rng = np.random.default_rng(12345)
    snr = rng.normal(SNR_MEAN_DB, 5.0, draws)  # 4 dB speaker, 3 dB clip: √(16 + 9)
    offset = rng.normal(0.0, speaker_sd, draws)
    unaffected = float(_agreement_probability(snr, offset, slope=slope).mean())
    hit = float(_agreement_probability(snr, offset - gap, slope=slope).mean())
    means = {g: hit if g == affected else unaffected for g in groups}
    overall = float(np.mean(list(means.values())))
    return {g: value - overall for g, value in means.items()}
