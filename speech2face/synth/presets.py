"""Plantable bias: ``--imbalance`` presets and the JSON config file for anything else.

An :class:`ImbalanceSpec` says, for the synthetic corpus, which share of the
train split each group gets (per attribute: ethnicity, gender, age group), how
the test split is balanced, how often a speaker speaks a language typical of
another ethnicity group, which languages are typical of each group, and how
noisy each group's recorded labels are. Everything is validated here, before
a single clip is generated; every problem is a one-line :class:`InputError`.

Config file (JSON; every key optional, missing attributes stay balanced)::

    {
      "name": "few_group_d_women",
      "train": {"ethnicity": {"group_a": 0.4, "group_b": 0.3, "group_c": 0.2, "group_d": 0.1},
                "gender": {"female": 0.3, "male": 0.7}},
      "test": {"age_group": {"20-29": 0.5, "30-39": 0.5}},
      "language_mismatch_rate": {"train": 0.0, "test": 0.3},
      "label_noise": {"ethnicity": {"group_c": 0.2}},
      "typical_languages": {"group_a": ["en"], "group_b": ["es"], "group_c": ["hi"],
                            "group_d": ["cmn", "sw", "de"]}
    }
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from speech2face.errors import InputError
from speech2face.synth.sentences import LANGUAGES
from speech2face.vocabulary import AGE_DECADES, SYNTHETIC_ETHNICITIES

ATTRIBUTES = ("ethnicity", "gender", "age_group")
"""Attributes whose shares a spec sets; a speaker is one group of each."""

SYNTHETIC_GENDERS = ("female", "male")
"""Genders the voice and face generators model."""

DEFAULT_AGE_GROUPS = AGE_DECADES[1:]
"""Adult decades 20-29 … 70+; ``<20`` is available to a config file that names it."""

NOISY_LABEL_ATTRIBUTES = ("ethnicity", "gender")
"""Recorded labels a config may corrupt (``label_noise``); the truth stays in speakers.parquet."""

DEFAULT_MISMATCH_RATE = 0.1
SHARE_TOLERANCE = 1e-6

CONFIG_KEYS = (
    "name",
    "train",
    "test",
    "language_mismatch_rate",
    "label_noise",
    "typical_languages",
)
SPLIT_KEYS = ("train", "test")

UNKNOWN_PRESET = "unknown --imbalance preset {name!r}: use one of {presets} or a .json config file"
CONFIG_NOT_FOUND = "imbalance config {path}: file not found"
CONFIG_NOT_JSON = "imbalance config {path}: not valid JSON ({reason})"
NOT_AN_OBJECT = "imbalance config {where}: expected an object of name: value, got {value!r}"
CONFIG_UNKNOWN_KEY = "imbalance config {where}: unknown key {key!r}; allowed: {allowed}"
UNKNOWN_GROUP = "imbalance config {where}: unknown {attribute} group {group!r}; allowed: {allowed}"
SHARES_NOT_ONE = "imbalance config {where}: {attribute} shares sum to {total:.6g}, not 1"
SHARE_OUT_OF_RANGE = "imbalance config {where}: share of {group!r} is {share!r}, not in [0, 1]"
EMPTY_TEST_CELL = (
    "imbalance config {where}: {attribute} group {group!r} would be empty in the test split; "
    "every group must be measurable there"
)
MISSING_TEST_GROUP = (
    "imbalance config {where}: {attribute} group {group!r} has train speakers but no test share"
)
RATE_OUT_OF_RANGE = "imbalance config {where}: rate {rate!r} is not a number in [0, 1]"
UNKNOWN_LANGUAGE = "imbalance config {where}: unknown language {language!r}; available: {allowed}"
GROUP_WITHOUT_LANGUAGE = "imbalance config {where}: group {group!r} has no typical language"
NO_OTHER_LANGUAGE = (
    "imbalance config {where}: a mismatch rate above 0 needs languages typical of other groups "
    "for group {group!r}"
)


def _freeze(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(
        {
            key: _freeze(value) if isinstance(value, Mapping) else value
            for key, value in mapping.items()
        }
    )


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


def balanced_shares(groups: tuple[str, ...]) -> dict[str, float]:
    """Equal shares over ``groups``."""
    return {group: 1.0 / len(groups) for group in groups}


def default_typical_languages(
    languages: tuple[str, ...] = LANGUAGES,
) -> dict[str, tuple[str, ...]]:
    """Languages dealt round-robin to the ethnicity groups: each group gets its own set."""
    return {
        group: tuple(languages[index :: len(SYNTHETIC_ETHNICITIES)])
        for index, group in enumerate(SYNTHETIC_ETHNICITIES)
    }


def _default_shares() -> dict[str, dict[str, float]]:
    return {
        "ethnicity": balanced_shares(SYNTHETIC_ETHNICITIES),
        "gender": balanced_shares(SYNTHETIC_GENDERS),
        "age_group": balanced_shares(DEFAULT_AGE_GROUPS),
    }


@dataclass(frozen=True)
class ImbalanceSpec:
    """What the generator plants: group shares per split, language mismatch, label noise."""

    name: str
    train_shares: Mapping[str, Mapping[str, float]] = field(default_factory=_default_shares)
    test_shares: Mapping[str, Mapping[str, float]] = field(default_factory=_default_shares)
    mismatch_rate: Mapping[str, float] = field(
        default_factory=lambda: {split: DEFAULT_MISMATCH_RATE for split in SPLIT_KEYS}
    )
    label_noise: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    typical_languages: Mapping[str, tuple[str, ...]] = field(
        default_factory=default_typical_languages
    )

    def __post_init__(self) -> None:
        for name in ("train_shares", "test_shares", "mismatch_rate", "label_noise"):
            object.__setattr__(self, name, _freeze(getattr(self, name)))
        languages = {group: tuple(langs) for group, langs in self.typical_languages.items()}
        object.__setattr__(self, "typical_languages", MappingProxyType(languages))

    def shares(self, split: str) -> Mapping[str, Mapping[str, float]]:
        """Group shares of ``split``; ``val`` follows the train distribution."""
        return self.test_shares if split == "test" else self.train_shares

    def mismatch(self, split: str) -> float:
        """Share of ``split``'s speakers speaking a language typical of another group."""
        return self.mismatch_rate["test" if split == "test" else "train"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; ``spec_from_dict(spec.to_dict())`` gives it back."""
        return {
            "name": self.name,
            "train": _thaw(self.train_shares),
            "test": _thaw(self.test_shares),
            "language_mismatch_rate": _thaw(self.mismatch_rate),
            "label_noise": _thaw(self.label_noise),
            "typical_languages": _thaw(self.typical_languages),
        }


def _with(shares: Mapping[str, Mapping[str, float]] | None = None, **attributes: dict) -> dict:
    merged = {key: dict(value) for key, value in (shares or _default_shares()).items()}
    merged.update(attributes)
    return merged


PRESETS: Mapping[str, ImbalanceSpec] = MappingProxyType(
    {
        "balanced": ImbalanceSpec(name="balanced"),
        "paper_like": ImbalanceSpec(
            name="paper_like",
            train_shares=_with(
                gender={"female": 0.37, "male": 0.63},
                ethnicity={"group_a": 0.50, "group_b": 0.29, "group_c": 0.12, "group_d": 0.09},
                age_group={
                    "20-29": 0.25,
                    "30-39": 0.30,
                    "40-49": 0.20,
                    "50-59": 0.13,
                    "60-69": 0.08,
                    "70+": 0.04,
                },
            ),
        ),
        "missing_elders": ImbalanceSpec(
            name="missing_elders",
            train_shares=_with(age_group=balanced_shares(("20-29", "30-39", "40-49", "50-59"))),
        ),
        "language_mismatch": ImbalanceSpec(
            name="language_mismatch", mismatch_rate={"train": 0.0, "test": 0.3}
        ),
    }
)
"""Named ``--imbalance`` presets (see docs/synthetic-corpus.md)."""

ALLOWED_GROUPS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"ethnicity": SYNTHETIC_ETHNICITIES, "gender": SYNTHETIC_GENDERS, "age_group": AGE_DECADES}
)


def resolve_imbalance(name_or_path: str | Path) -> ImbalanceSpec:
    """The preset called ``name_or_path``, or the spec in that JSON config file."""
    text = str(name_or_path)
    if text in PRESETS:
        return PRESETS[text]
    path = Path(text)
    if path.suffix.lower() != ".json" and not path.exists():
        raise InputError(UNKNOWN_PRESET.format(name=text, presets=", ".join(PRESETS)))
    return load_imbalance_config(path)


def load_imbalance_config(path: str | Path) -> ImbalanceSpec:
    """Read and validate a JSON imbalance config file."""
    path = Path(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(CONFIG_NOT_FOUND.format(path=path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(CONFIG_NOT_JSON.format(path=path, reason=error)) from None
    if not isinstance(config, dict):
        raise InputError(NOT_AN_OBJECT.format(where=path, value=type(config).__name__))
    config.setdefault("name", path.stem)
    return spec_from_dict(config, source=str(path))


def spec_from_dict(config: Mapping[str, Any], *, source: str = "<dict>") -> ImbalanceSpec:
    """Validate a config mapping (the JSON file's content) and build its spec."""
    _check_keys(config, CONFIG_KEYS, source)
    train = _read_shares(config.get("train", {}), f"{source}: train", defaults=_default_shares())
    test_defaults = {attribute: balanced_shares(_positive(train[attribute])) for attribute in train}
    test = _read_shares(config.get("test", {}), f"{source}: test", defaults=test_defaults)
    _check_test_measures_every_group(train, test, f"{source}: test")
    typical = _read_typical_languages(config.get("typical_languages"), source)
    mismatch = _read_mismatch(config.get("language_mismatch_rate", DEFAULT_MISMATCH_RATE), source)
    if max(mismatch.values()) > 0:
        _check_mismatch_possible(typical, train["ethnicity"], test["ethnicity"], source=source)
    return ImbalanceSpec(
        name=str(config.get("name", "custom")),
        train_shares=train,
        test_shares=test,
        mismatch_rate=mismatch,
        label_noise=_read_label_noise(config.get("label_noise", {}), source),
        typical_languages=typical,
    )


def _positive(shares: Mapping[str, float]) -> tuple[str, ...]:
    return tuple(group for group, share in shares.items() if share > 0)


def _check_mapping(value: Any, where: str) -> None:
    if not isinstance(value, Mapping):
        raise InputError(NOT_AN_OBJECT.format(where=where, value=value))


def _check_keys(mapping: Any, allowed: tuple[str, ...], where: str) -> None:
    _check_mapping(mapping, where)
    for key in mapping:
        if key not in allowed:
            raise InputError(
                CONFIG_UNKNOWN_KEY.format(where=where, key=key, allowed=", ".join(allowed))
            )


def _check_groups(groups: Any, attribute: str, where: str) -> None:
    _check_mapping(groups, where)
    allowed = ALLOWED_GROUPS[attribute]
    for group in groups:
        if group not in allowed:
            raise InputError(
                UNKNOWN_GROUP.format(
                    where=where, attribute=attribute, group=group, allowed=", ".join(allowed)
                )
            )


def _rate(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InputError(RATE_OUT_OF_RANGE.format(where=where, rate=value))
    return float(value)


def _read_shares(
    config: Any, where: str, *, defaults: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, float]]:
    _check_keys(config, ATTRIBUTES, where)
    shares = {attribute: dict(defaults[attribute]) for attribute in ATTRIBUTES}
    for attribute, groups in config.items():
        _check_groups(groups, attribute, f"{where}.{attribute}")
        for group, share in groups.items():
            valid = not isinstance(share, bool) and isinstance(share, int | float)
            if not valid or not 0 <= share <= 1:
                raise InputError(
                    SHARE_OUT_OF_RANGE.format(
                        where=f"{where}.{attribute}", group=group, share=share
                    )
                )
        total = math.fsum(groups.values())
        if abs(total - 1) > SHARE_TOLERANCE:
            raise InputError(SHARES_NOT_ONE.format(where=where, attribute=attribute, total=total))
        shares[attribute] = {group: float(share) for group, share in groups.items()}
    return shares


def _check_test_measures_every_group(train: Mapping, test: Mapping, where: str) -> None:
    for attribute in ATTRIBUTES:
        for group, share in test[attribute].items():
            if share <= 0:
                raise InputError(
                    EMPTY_TEST_CELL.format(where=where, attribute=attribute, group=group)
                )
        for group in _positive(train[attribute]):
            if group not in test[attribute]:
                raise InputError(
                    MISSING_TEST_GROUP.format(where=where, attribute=attribute, group=group)
                )


def _read_mismatch(config: Any, source: str) -> dict[str, float]:
    where = f"{source}: language_mismatch_rate"
    if isinstance(config, Mapping):
        _check_keys(config, SPLIT_KEYS, where)
        return {
            split: _rate(config.get(split, DEFAULT_MISMATCH_RATE), f"{where}.{split}")
            for split in SPLIT_KEYS
        }
    rate = _rate(config, where)
    return {split: rate for split in SPLIT_KEYS}


def _read_label_noise(config: Any, source: str) -> dict[str, dict[str, float]]:
    where = f"{source}: label_noise"
    _check_keys(config, NOISY_LABEL_ATTRIBUTES, where)
    noise = {}
    for attribute, groups in config.items():
        _check_groups(groups, attribute, f"{where}.{attribute}")
        noise[attribute] = {
            group: _rate(rate, f"{where}.{attribute}.{group}") for group, rate in groups.items()
        }
    return noise


def _read_typical_languages(config: Any, source: str) -> dict[str, tuple[str, ...]]:
    if config is None:
        return default_typical_languages()
    where = f"{source}: typical_languages"
    _check_keys(config, SYNTHETIC_ETHNICITIES, where)
    typical = {}
    for group in SYNTHETIC_ETHNICITIES:
        languages = tuple(config.get(group, ()))
        if not languages:
            raise InputError(GROUP_WITHOUT_LANGUAGE.format(where=where, group=group))
        for language in languages:
            if language not in LANGUAGES:
                raise InputError(
                    UNKNOWN_LANGUAGE.format(
                        where=f"{where}.{group}", language=language, allowed=", ".join(LANGUAGES)
                    )
                )
        typical[group] = languages
    return typical


def _check_mismatch_possible(
    typical: Mapping[str, tuple[str, ...]], *shares: Mapping[str, float], source: str
) -> None:
    for group in {group for split in shares for group in _positive(split)}:
        others = {lang for other, langs in typical.items() if other != group for lang in langs}
        if not others - set(typical[group]):
            raise InputError(
                NO_OTHER_LANGUAGE.format(where=f"{source}: typical_languages", group=group)
            )
