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

Every decision is the engine's own (adjusted p-values, intervals, flags). ``--reference
best`` audits with the best group as reference.

    python bench/bench_validity.py [--quick] [--audits N] [--n-boot B] [--reference R]
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
    simulate_age_errors,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few audits (a smoke run)")
    parser.add_argument("--audits", type=int, default=None, help="audits per world")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--reference", default="overall")
    args = parser.parse_args()
    audits = args.audits or (20 if args.quick else 200)
    n_boot = 200 if args.quick and args.n_boot == 1000 else args.n_boot
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


if __name__ == "__main__":
    main()
