"""Validity of the audit's statistics by simulation with known truth (issue 15).

Six groups, a speaker random effect, 1 + Poisson(4) clips per speaker. For each world it
prints, with the number of simulated audits and the Monte Carlo standard error:

- skewed age error (lognormal, skewness about 2), null (every group 8 years) and
  alternative (one group 11 years), at ICC 0.1, 0.17 and 0.3, 30 and 100 speakers per
  group: coverage of group values and of differences from the reference, simultaneous
  coverage of every difference of an audit, and the family-wise rates of a falsely
  significant (after correction) and a falsely flagged group;
- agreement at ICC 0.17, 100 speakers per group, one group 10 points below the five
  others (80% vs 70%): the power to find it significant after correction and to flag it
  (significant, its interval beyond the 5-point threshold).

- recording conditions (issue 18; ``audit.simulate.simulate_conditions``, four groups of
  100 speakers × 5 clips, agreement falling 1.5 points per dB of SNR): in the
  ``recording`` world group b's gap is only its 10 dB lower SNR, in ``group`` only the
  group (15 points less at any SNR), in ``both`` both. Per world: how often b is flagged
  raw and adjusted for ``snr_db`` (3 quantile bins), how often its adjusted interval covers
  0, the coverage of every group's adjusted and raw difference of the ``group`` world
  (whose truth is known: one SNR distribution for all), and the share of audits with any
  adjusted flag on a group other than b.

Every decision is the engine's own (adjusted p-values, intervals, flags). ``--reference
best`` audits with the best group as reference; ``--only conditions`` runs the last part.

    python bench/bench_validity.py [--quick] [--audits N] [--n-boot B] [--reference R]
                                   [--only conditions]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from audit.engine import run_audit
from audit.simulate import (
    AGE_METRIC,
    SIM_COLUMN,
    SIM_METRIC,
    audit_outcomes,
    concentration_for,
    equal_conditions_truth,
    simulate_age_errors,
    simulate_conditions,
    simulate_predictions,
)
from speech2face.prediction.artifact import Predictions

GROUPS = [f"g{i}" for i in range(6)]


def run_world(
    draw: Callable[[int], Predictions],
    truth: dict[str, float],
    metric: str,
    *,
    audits: int,
    n_boot: int,
    reference: str,
    planted: str | None = None,
) -> dict[str, float]:
    """Sum of ``audit_outcomes`` over ``audits`` simulated audits."""
    total: dict[str, float] = {}
    for run in range(audits):
        result = run_audit(
            draw(run),
            metrics=[metric],
            slices=[SIM_COLUMN],
            n_boot=n_boot,
            seed=run,
            reference=reference,
            fairlearn_views=False,
        )
        for key, value in audit_outcomes(result, truth, metric=metric, planted=planted).items():
            total[key] = total.get(key, 0.0) + value
    return total


def rate(hits: float, n: float) -> str:
    """``p (± Monte Carlo s.e.)`` in percent."""
    p = hits / n if n else float("nan")
    return f"{100 * p:5.1f} ±{100 * np.sqrt(p * (1 - p) / max(n, 1)):4.1f}"


def conditions_worlds(audits: int, n_boot: int) -> None:
    """Raw versus condition-adjusted flags of group b, and adjusted coverage (issue 18)."""
    truth = equal_conditions_truth()
    print(
        f"recording conditions: {audits} audits per world, {n_boot} replicates, four groups "
        "of 100 speakers x 5 clips, --adjust-for snr_db (3 bins); rates in % (± MC s.e.)"
    )
    header = (
        f"{'world':<10} | {'b raw flag':>12} {'b adj flag':>12} {'b adj covers 0':>15} "
        f"{'adj cover':>12} {'raw cover':>12} {'other adj flag':>15} | {'s':>4}"
    )
    print(header)
    print("-" * len(header))
    for world in ("recording", "group", "both"):
        start = time.perf_counter()
        counts = dict.fromkeys(["raw", "adjusted", "covers0", "cover", "raw_cover", "other"], 0.0)
        shown = 0
        for run in range(audits):
            result = run_audit(
                simulate_conditions(world, seed=900_000 + run),
                metrics=[SIM_METRIC],
                slices=[SIM_COLUMN],
                n_boot=n_boot,
                seed=run,
                fairlearn_views=False,
                adjust_for=["snr_db"],
            )
            rows = result.by_group(SIM_METRIC, SIM_COLUMN)
            flagged = rows["adjusted_flag"].fillna(False).astype(bool)
            b = rows.loc["b"]
            counts["raw"] += bool(b["flag"])
            counts["adjusted"] += bool(flagged["b"])
            counts["covers0"] += bool(b["adjusted_ci_low"] <= 0 <= b["adjusted_ci_high"])
            counts["other"] += bool(flagged.drop("b").any())
            if world == "group":
                true = rows.index.map(truth).to_numpy(dtype=float)
                low, high = rows["adjusted_ci_low"], rows["adjusted_ci_high"]
                counts["cover"] += float(((low <= true) & (true <= high)).sum())
                low, high = rows["diff_ci_low"], rows["diff_ci_high"]
                counts["raw_cover"] += float(((low <= true) & (true <= high)).sum())
                shown += len(rows)
        cover = rate(counts["cover"], shown) if shown else "–"
        raw_cover = rate(counts["raw_cover"], shown) if shown else "–"
        print(
            f"{world:<10} | {rate(counts['raw'], audits):>12} "
            f"{rate(counts['adjusted'], audits):>12} {rate(counts['covers0'], audits):>15} "
            f"{cover:>12} {raw_cover:>12} {rate(counts['other'], audits):>15} | "
            f"{time.perf_counter() - start:4.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few audits (a smoke run)")
    parser.add_argument("--audits", type=int, default=None, help="audits per world")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--reference", default="overall")
    parser.add_argument("--only", choices=["conditions"], default=None)
    args = parser.parse_args()
    audits = args.audits or (20 if args.quick else 200)
    n_boot = 200 if args.quick and args.n_boot == 1000 else args.n_boot
    if args.only == "conditions":
        conditions_worlds(audits, n_boot)
        return
    print(
        f"{audits} audits per world, {n_boot} replicates, reference {args.reference}, "
        "six groups, 1 + Poisson(4) clips per speaker; rates in % (± Monte Carlo s.e.)"
    )
    header = (
        f"{'world':<6}{'ICC':>5}{'spk':>5} | {'value cover':>12} {'diff cover':>12} "
        f"{'all diffs':>12} {'FW signif':>12} {'FW flag':>12} | {'s':>4}"
    )
    print(header)
    print("-" * len(header))
    null = dict.fromkeys(GROUPS, 8.0)
    alternative = {**null, "g5": 11.0}
    for name, means in (("null", null), ("alt", alternative)):
        for icc in (0.1, 0.17, 0.3):
            for speakers in (30, 100):
                start = time.perf_counter()
                total = run_world(
                    lambda run, means=means, icc=icc, speakers=speakers: simulate_age_errors(
                        means, speakers_per_group=speakers, icc=icc, seed=10_000 * speakers + run
                    ),
                    means,
                    AGE_METRIC,
                    audits=audits,
                    n_boot=n_boot,
                    reference=args.reference,
                )
                print(
                    f"{name:<6}{icc:>5.2f}{speakers:>5} | "
                    f"{rate(total['values_covered'], total['values']):>12} "
                    f"{rate(total['differences_covered'], total['differences']):>12} "
                    f"{rate(total['all_differences_covered'], audits):>12} "
                    f"{rate(total['false_significant'], audits):>12} "
                    f"{rate(total['false_flag'], audits):>12} | "
                    f"{time.perf_counter() - start:4.0f}"
                )
    rates = {**dict.fromkeys(GROUPS, 0.8), "g5": 0.7}
    kappa = concentration_for(0.17)
    total = run_world(
        lambda run: simulate_predictions(
            rates,
            speakers_per_group=100,
            clips_per_speaker=5,
            concentration=kappa,
            poisson_clips=True,
            seed=777_000 + run,
        ),
        rates,
        SIM_METRIC,
        audits=audits,
        n_boot=n_boot,
        reference=args.reference,
        planted="g5",
    )
    print(
        f"power, agreement 80% vs 70% (ICC 0.17, 100 speakers per group, {audits} audits): "
        f"significant after correction {rate(total['planted_significant'], audits)}, "
        f"flagged {rate(total['planted_flagged'], audits)}, "
        f"other groups falsely significant {rate(total['false_significant'], audits)}"
    )
    conditions_worlds(audits, n_boot)


if __name__ == "__main__":
    main()
