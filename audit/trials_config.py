"""The trials audit's options, each declared once (``s2f audit-trials`` generates its flags).

Standard library only: ``s2f --help`` imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.config import (
    CORRECTIONS,
    HOLM,
    OVERALL_REFERENCE,
    SEED_LIMIT,
    Options,
    choice,
    integer,
    names,
    number,
    option,
    optional,
    pairs,
)
from speech2face.vocabulary import MIN_GROUP_SPEAKERS


def _reference(value: object) -> str | dict[str, str]:
    """``overall`` or groups by column (``gender=female``); never chosen from the data."""
    return OVERALL_REFERENCE if value == OVERALL_REFERENCE else pairs(value)


@dataclass(frozen=True, kw_only=True)
class TrialsConfig(Options):
    """What a trials audit computes; saved in ``audit.json`` so it can be repeated."""

    slices: tuple[str, ...] | None = option(
        None,
        "comma-separated voice-speaker columns to slice by (default: age_group,gender,"
        "ethnicity,language where present)",
        optional(names()),
        "comma-separated column names",
        metavar="COLUMNS",
    )
    heard_languages: tuple[str, ...] | None = option(
        None,
        "languages heard in training, e.g. en,ur: every metric is also split heard/unheard "
        "with the cross-lingual gap (default: the trials' meta 'heard_languages', if any)",
        optional(names()),
        "comma-separated language codes",
        metavar="LANGS",
    )
    reference: str | dict[str, str] = option(  # noqa: RUF009 (option() is a field)
        OVERALL_REFERENCE,
        "overall, or column=group pairs such as gender=female",
        _reference,
        "'overall' or column=group pairs",
    )
    correction: str = option(
        HOLM,
        "multiple-testing correction: holm or bh",
        choice(CORRECTIONS),
        " or ".join(CORRECTIONS),
        metavar="{" + ",".join(CORRECTIONS) + "}",
    )
    n_boot: int = option(1000, "bootstrap replicates", integer(2), "an integer of at least 2")
    seed: int = option(0, "bootstrap seed", integer(0, SEED_LIMIT), "an integer in [0, 2**32)")
    level: float = option(
        0.95,
        "confidence level (1 - level is the tests' alpha)",
        number(0.0, 1.0, open_low=True),
        "between 0 and 1 (exclusive)",
    )
    min_speakers: int = option(
        MIN_GROUP_SPEAKERS,
        "voice or face speakers below which a group is insufficient (never tested)",
        integer(1),
        "a positive integer",
    )
    threshold: float = option(
        0.02,
        "practical threshold of a difference (a flag needs its interval beyond it)",
        number(),
        "a non-negative number",
    )
    score_threshold: float | None = option(
        None,
        "global score threshold of FMR/FNMR (default: the EER threshold of all trials)",
        optional(number(-float("inf"))),
        "a finite number",
        metavar="T",
    )
    p_target: float = option(
        0.05, "minDCF prior of a target", number(0.0, 1.0, open_low=True), "in (0, 1)"
    )
    c_miss: float = option(1.0, "minDCF cost of a miss", number(open_low=True), "positive")
    c_fa: float = option(1.0, "minDCF cost of a false alarm", number(open_low=True), "positive")
    jobs: int = option(2, "threads", integer(1), "a positive integer")
