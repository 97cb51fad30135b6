"""The audit's options, each declared once: its default, its check and its help.

:class:`AuditConfig` is what :func:`audit.engine.run_audit` computes (saved in
``audit.json`` so an audit can be repeated); :class:`CompareConfig` is what
:func:`audit.compare.compare_audits` does with the audits. A field's metadata holds its
help text and check (and, where the default will not do, its flag and metavar);
``s2f audit`` and ``s2f compare`` generate their options from it. Every check runs in
``__post_init__`` and raises :class:`~speech2face.errors.InputError` naming the option by
its command-line flag. Standard library only: ``s2f --help`` imports this module.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from speech2face.errors import InputError
from speech2face.limits import SEED_LIMIT
from speech2face.vocabulary import MIN_GROUP_SPEAKERS, SPLITS

if TYPE_CHECKING:
    from audit._metrics import MetricSpec

HOLM = "holm"
BH = "bh"
CORRECTIONS = (HOLM, BH)
FAMILY_ALL = "all"
FAMILY_METRIC = "metric"
FAMILIES = (FAMILY_ALL, FAMILY_METRIC)
"""Scope of a correction: every test of the audit, or the tests of each metric apart."""
BEST = "best"
OVERALL_REFERENCE = "overall"
NONE = "none"
ALL_SPLITS = "all"
SPLIT_CHOICES = (*SPLITS, ALL_SPLITS)
DISTANCES = ("cosine", "l2", "l1")
DEFAULT_GALLERY_SIZE = 5000
STRICT = "strict"
INTERSECTION = "intersection"
ALIGNMENTS = (STRICT, INTERSECTION)

BAD_OPTION = "{flag} must be {expected}, got {value!r}"
UNKNOWN_OPTION = "unknown {kind} option {name!r}; known options: {known}"

Check = Callable[[Any], Any]
"""Returns the option's value in its canonical form; raises TypeError/ValueError if bad."""
C = TypeVar("C", bound="Options")


def option(default: Any, help: str, check: Check, expected: str, **cli: Any) -> Any:
    """A config field: its default, its help, its check and what the check expects.

    ``cli`` holds command-line details: ``flag`` (default ``--field-name``), ``metavar``.
    """
    metadata = {"help": help, "check": check, "expected": expected, **cli}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=dict, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def flag_of(field: dataclasses.Field) -> str:
    """The command-line spelling of a config field: ``n_boot`` is ``--n-boot``."""
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def integer(low: int, high: float = math.inf) -> Check:
    """An integer in [low, high) (not a bool, not a float)."""

    def check(value: Any) -> int:
        if isinstance(value, bool):
            raise TypeError(value)
        number = operator.index(value)
        if not low <= number < high:
            raise ValueError(value)
        return number

    return check


def number(low: float = 0.0, high: float = math.inf, *, open_low: bool = False) -> Check:
    """A finite number in [low, high) (or (low, high) with ``open_low``)."""

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(value)
        amount = float(value)
        if not (low < amount if open_low else low <= amount) or not amount < high:
            raise ValueError(value)
        return amount

    return check


def choice(choices: tuple[str, ...]) -> Check:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(value)
        return value

    return check


def names(allowed: tuple[str, ...] | None = None) -> Check:
    """A non-empty tuple of names, from a sequence or comma-separated text."""

    def check(value: Any) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else list(value)
        if not all(isinstance(item, str) for item in items):
            raise TypeError(value)
        items = [item.strip() for item in items if item.strip()]
        if not items or (allowed is not None and not set(items) <= set(allowed)):
            raise ValueError(value)
        return tuple(items)

    return check


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(value)
    return value


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(value)
    return value


def path(value: Any) -> str:
    """A file path (``str`` or ``os.PathLike``), kept as text."""
    if not isinstance(value, str) and not hasattr(value, "__fspath__"):
        raise TypeError(value)
    return text(str(value))


def optional(check: Check) -> Check:
    """``check``, or None."""
    return lambda value: None if value is None else check(value)


def columns_or_none(value: Any) -> tuple[str, ...]:
    """Column names (as :func:`names`), or ``none`` (``()``): none of them."""
    if value == NONE or (isinstance(value, tuple | list) and not value):
        return ()
    return names()(value)


def pairs(value: Any) -> dict[str, str]:
    """``{"a": "x"}`` or ``"a=x,b=y"`` as a mapping of non-empty names."""
    if isinstance(value, str):
        items = [part.split("=", 1) for part in value.split(",") if part.strip()]
        if any(len(item) != 2 for item in items):
            raise ValueError(value)
        value = {key.strip(): val.strip() for key, val in items}
    if not isinstance(value, Mapping) or not value:
        raise TypeError(value)
    if not all(isinstance(k, str) and k and v != "" for k, v in value.items()):
        raise ValueError(value)
    return dict(value)


def reference_groups(value: Any) -> str | dict[str, str]:
    """``best``, ``overall``, or groups by column (``{"gender": "male"}``, ``gender=male``)."""
    if value in (BEST, OVERALL_REFERENCE):
        return value
    groups = pairs(value)
    if not all(isinstance(group, str) for group in groups.values()):
        raise TypeError(value)
    return groups


def threshold_rules(value: Any) -> dict[str, float | str]:
    """Practical thresholds by metric name, family or unit: numbers or ``"N%"``."""
    from audit._metrics import check_threshold  # numpy: only when a config is built

    if isinstance(value, Mapping) and not value:
        return {}
    return {key: check_threshold(key, rule) for key, rule in pairs(value).items()}


class Options:
    """Checks every field of a config dataclass and stores its canonical value."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            try:
                checked = field.metadata["check"](value)
            except InputError as error:
                raise InputError(f"{flag_of(field)}: {error}") from None
            except (TypeError, ValueError):
                expected = field.metadata["expected"]
                message = BAD_OPTION.format(flag=flag_of(field), expected=expected, value=value)
                raise InputError(message) from None
            object.__setattr__(self, field.name, checked)

    @classmethod
    def from_options(cls: type[C], base: C | None = None, /, **options: Any) -> C:
        """``base`` (or the defaults) with ``options`` replacing its values; unknown names
        are an InputError."""
        known = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
        for name in options:
            if name not in known:
                kind = cls.__name__.removesuffix("Config").lower()
                raise InputError(
                    UNKNOWN_OPTION.format(kind=kind, name=name, known=", ".join(known))
                )
        return cls(**options) if base is None else dataclasses.replace(base, **options)

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON values (tuples become lists)."""
        return {
            field.name: _jsonable(getattr(self, field.name))
            for field in dataclasses.fields(self)  # type: ignore[arg-type]
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return dict(value) if isinstance(value, dict) else value


def _one_of(choices: tuple[str, ...]) -> str:
    return " or ".join(choices) if len(choices) == 2 else "one of " + ", ".join(choices)


NON_NEGATIVE = "a non-negative number"


@dataclass(frozen=True, kw_only=True)
class AuditConfig(Options):
    """What an audit computes; saved in ``audit.json`` so the audit can be repeated."""

    slices: tuple[str, ...] | None = option(
        None,
        "comma-separated columns to slice by "
        "(default: age_group,gender,ethnicity,language where present)",
        optional(names()),
        "comma-separated column names",
        metavar="COLUMNS",
    )
    intersections: int = option(
        2, "highest order of intersections of slices", integer(1), "an integer of at least 1"
    )
    metrics: tuple[str, ...] | None = option(
        None,
        "only these metrics, comma-separated (default: every metric the predictions allow)",
        optional(names()),
        "comma-separated metric names",
        metavar="METRICS",
    )
    n_boot: int = option(1000, "bootstrap replicates", integer(2), "an integer of at least 2")
    seed: int = option(
        0,
        "seed of the bootstrap and the retrieval galleries",
        integer(0, SEED_LIMIT),
        "an integer in [0, 2**32)",
    )
    min_speakers: int = option(
        MIN_GROUP_SPEAKERS,
        "speakers below which a cell is insufficient",
        integer(2),
        "an integer of at least 2",
    )
    reference: str | dict[str, str] = option(  # noqa: RUF009 (option() is a field)
        OVERALL_REFERENCE,
        "overall (each group against the whole population; default), column=group pairs "
        "such as gender=male (slices of other columns use overall), or best (the best group, "
        "chosen from the data: simultaneous intervals over every pair, wider)",
        reference_groups,
        "'best', 'overall' or column=group pairs",
    )
    correction: str = option(
        HOLM,
        "multiple-testing correction: holm (family-wise) or bh (false discovery rate)",
        choice(CORRECTIONS),
        _one_of(CORRECTIONS),
        metavar="{" + ",".join(CORRECTIONS) + "}",
    )
    family: str = option(
        FAMILY_ALL,
        "correct over all tests of the audit or within each metric",
        choice(FAMILIES),
        _one_of(FAMILIES),
        metavar="{" + ",".join(FAMILIES) + "}",
    )
    threshold: float = option(
        0.05,
        "practical threshold of proportions (agreement, accuracy, recall; 0.05 = 5 points)",
        number(),
        NON_NEGATIVE,
    )
    age_threshold: float = option(
        2.0, "practical threshold of age errors, in years", number(), NON_NEGATIVE
    )
    thresholds: dict[str, float | str] = option(  # noqa: RUF009 (option() is a field)
        {},
        "practical thresholds by metric name, family or unit, in the metric's units or as N% "
        "of its overall value (defaults: correlation=0.1, similarity=0.05, distance=10%); "
        "e.g. feature_l1_error=5%,correlation=0.2",
        threshold_rules,
        "KEY=VALUE pairs",
        metavar="KEY=VALUE,...",
    )
    level: float = option(
        0.95,
        "confidence level of intervals (1 - level is the tests' alpha)",
        number(0.0, 1.0, open_low=True),
        "between 0 and 1 (exclusive)",
    )
    exclude_invalid: bool = option(
        False,
        "leave clips with non-finite features out of feature metrics instead of failing",
        boolean,
        "true or false",
    )
    gallery_size: int = option(
        DEFAULT_GALLERY_SIZE, "retrieval gallery size G", integer(2), "an integer of at least 2"
    )
    retrieval_distances: tuple[str, ...] = option(
        DISTANCES,
        "comma-separated retrieval distances",
        names(DISTANCES),
        "comma-separated names from " + ", ".join(DISTANCES),
        metavar="DISTANCES",
    )
    matched_gallery: tuple[str, ...] | None = option(
        None,
        "columns whose recall@k is compared across groups on matched galleries (each query "
        "ranked among faces of its own group, every group's gallery of one size); default: "
        "every sliced column whose speakers each have one group; none: mixed gallery only, "
        "whose recall is never tested across groups",
        optional(columns_or_none),
        "comma-separated column names, or none",
        metavar="COLUMNS",
    )
    duration: float | None = option(
        None,
        "audit the predictions of S seconds of speech (default: the longest present, the "
        "paper's 6 s); compare two audits for 3 s versus 6 s",
        optional(number(open_low=True)),
        "a positive number of seconds",
        metavar="S",
    )
    split: str | None = option(
        None,
        "rows of this split of a 'split' column (default: test; all: every row)",
        optional(choice(SPLIT_CHOICES)),
        _one_of(SPLIT_CHOICES),
        metavar="{" + ",".join(SPLIT_CHOICES) + "}",
    )
    include_training_speakers: bool = option(
        False,
        "audit also the clips of speakers the model trained or validated on (column "
        "seen_in_training, else speakers with train/val rows); the report then opens with a "
        "banner saying so (default: they are left out, whatever the split column says)",
        boolean,
        "true or false",
    )
    manifest: str | None = option(
        None,
        "join this manifest's columns on clip_id, so any of them can be a slice "
        "(e.g. --slices accent)",
        optional(path),
        "a manifest path",
        metavar="M",
    )

    adjust_for: tuple[str, ...] | None = option(
        None,
        "also report each disparity adjusted for these numeric per-clip columns (recording "
        "conditions, e.g. snr_db,speech_s; from the predictions or --conditions): "
        "standardised over crossed quantile bins to the overall population's distribution "
        "(docs/conditions.md)",
        optional(names()),
        "comma-separated column names",
        metavar="COLUMNS",
    )
    conditions: str | None = option(
        None,
        "join this conditions table (s2f conditions) on clip_id, for --adjust-for",
        optional(path),
        "a conditions table path",
        metavar="CONDITIONS",
    )
    adjust_bins: int = option(
        3,
        "quantile bins of each --adjust-for column (the strata are their crossings)",
        integer(2, 21),
        "an integer from 2 to 20",
    )
    support_limit: float = option(
        0.2,
        "largest share outside a group's common support (strata where it has no speakers) "
        "for which its adjusted difference is tested",
        number(0.0, 1.0 + 1e-12),
        "a number between 0 and 1",
    )

    def threshold_rule(self, spec: MetricSpec) -> float | str:
        """A metric's practical threshold rule: the most specific override, else the default
        of its unit (``threshold`` for proportions, ``age_threshold`` for years)."""
        from audit._metrics import DEFAULT_THRESHOLDS, PROPORTION, YEARS

        for key in (spec.name, spec.family, spec.unit):
            if key in self.thresholds:
                return self.thresholds[key]
        if spec.unit == PROPORTION:
            return self.threshold
        if spec.unit == YEARS:
            return self.age_threshold
        return DEFAULT_THRESHOLDS.get(spec.unit, self.threshold)

    def threshold_for(self, spec: MetricSpec, overall: float = math.nan) -> float:
        """The practical threshold in the metric's units (a relative rule scales ``overall``)."""
        from audit._metrics import threshold_value

        return threshold_value(self.threshold_rule(spec), overall)


@dataclass(frozen=True, kw_only=True)
class CompareConfig(Options):
    """How audits are compared; correction and threshold default to the baseline audit's."""

    align: str = option(
        STRICT,
        "strict: refuse audits of different clips; intersection: compare on the clips "
        "all audits share",
        choice(ALIGNMENTS),
        _one_of(ALIGNMENTS),
        metavar="{" + ",".join(ALIGNMENTS) + "}",
    )
    correction: str | None = option(
        None,
        "multiple-testing correction (default: the baseline audit's)",
        optional(choice(CORRECTIONS)),
        _one_of(CORRECTIONS),
        metavar="{" + ",".join(CORRECTIONS) + "}",
    )
    threshold: float | None = option(
        None,
        "practical threshold of proportions (default: the baseline audit's)",
        optional(number()),
        NON_NEGATIVE,
    )
