"""Per-group recording conditions of the synthetic corpus (``s2f synth --conditions-by``).

A rule names a group of one column and the recording conditions of its speakers' clips::

    ethnicity=group_b:snr=10,bandwidth=3400,segment=2

``segment`` (s) keeps the clip's first seconds (a 20 ms fade-out); ``bandwidth`` (Hz)
low-passes it (an FFT brick wall: every bin above it zeroed), as a narrow-band channel
would; ``snr`` (dB) adds white noise, low-passed with the speech when a bandwidth is set
(noise recorded through the same channel), at that ratio to the mean power of the clip's
speech frames (30 ms frames within 40 dB of its loudest: the power ``s2f conditions``
compares with the noise). A file ``RULES.json`` holds the same as
``{"ethnicity=group_b": {"snr": 10, "bandwidth": 3400, "segment": 2}}``. A speaker in the
groups of two rules gets the stricter of each setting (the lower SNR, the narrower band,
the shorter segment). The noise is drawn from the speaker's own random stream, so a corpus
stays byte-identical for its settings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from speech2face.errors import InputError
from speech2face.synth.presets import SYNTHETIC_GENDERS
from speech2face.synth.sentences import LANGUAGES
from speech2face.vocabulary import AGE_DECADES, SYNTHETIC_ETHNICITIES

OPTION = "--conditions-by"
GROUPS = {
    "ethnicity": SYNTHETIC_ETHNICITIES,
    "gender": SYNTHETIC_GENDERS,
    "age_group": AGE_DECADES,
    "language": LANGUAGES,
}
"""Columns a rule may name (the speaker's true attribute) and their groups."""
SETTINGS = {"snr": "snr_db", "bandwidth": "bandwidth_hz", "segment": "segment_s"}
"""Keys of a rule and the names the ground truth records them under."""
LIMITS = {"snr": (-10.0, 60.0), "bandwidth": (300.0, 7999.0), "segment": (0.5, 8.0)}
"""Allowed range of each setting (inclusive): dB, Hz (below 8 kHz, the Nyquist frequency of
the 16 kHz clips), seconds (the clips are at most 8 s)."""
FRAME_S = 0.03
ACTIVE_DB = 40.0
FADE_S = 0.02

BAD_RULE = (
    OPTION + " {text!r}: expected COLUMN=GROUP:KEY=VALUE[,KEY=VALUE...] with keys "
    "snr (dB), bandwidth (Hz), segment (s), or a RULES.json file"
)
BAD_COLUMN = OPTION + " {text!r}: column {column!r} is not one of {allowed}"
BAD_GROUP = OPTION + " {text!r}: {column} has no group {group!r}; its groups: {allowed}"
BAD_KEY = OPTION + " {text!r}: unknown setting {key!r}; settings: snr, bandwidth, segment"
BAD_VALUE = OPTION + " {text!r}: {key} must be a number in [{low:g}, {high:g}], got {value!r}"
TWICE = OPTION + " names {selector} twice"
BAD_FILE = OPTION + " {path}: cannot read the rules: {reason}"
BAD_FILE_SHAPE = (
    OPTION + ' {path}: the rules must map "COLUMN=GROUP" to {{setting: value}}, e.g. '
    '{{"ethnicity=group_b": {{"snr": 10, "bandwidth": 3400, "segment": 2}}}}'
)


@dataclass(frozen=True)
class RecordingRule:
    """The recording conditions of one group's clips (None: as recorded)."""

    column: str
    group: str
    snr_db: float | None = None
    bandwidth_hz: float | None = None
    segment_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "group": self.group,
            "snr_db": self.snr_db,
            "bandwidth_hz": self.bandwidth_hz,
            "segment_s": self.segment_s,
        }


def parse_rules(values: Iterable[str] | None) -> tuple[RecordingRule, ...]:
    """Rules from ``--conditions-by`` values (each a rule or a ``.json`` file), checked."""
    rules: list[RecordingRule] = []
    for value in values or ():
        if value.endswith(".json"):
            rules.extend(_rules_from_file(Path(value)))
        else:
            selector, _, settings = value.partition(":")
            pairs = [item.partition("=") for item in settings.split(",")] if settings else []
            if not settings or any(not sep or not key for key, sep, _ in pairs):
                raise InputError(BAD_RULE.format(text=value))
            rules.append(_rule(value, selector, {key.strip(): v for key, _, v in pairs}))
    seen = set()
    for rule in rules:
        selector = f"{rule.column}={rule.group}"
        if selector in seen:
            raise InputError(TWICE.format(selector=selector))
        seen.add(selector)
    return tuple(rules)


def rules_from_dicts(rules: Sequence[Mapping[str, Any]]) -> tuple[RecordingRule, ...]:
    """Rules as :meth:`RecordingRule.to_dict` wrote them."""
    return tuple(RecordingRule(**rule) for rule in rules)


def _rules_from_file(path: Path) -> list[RecordingRule]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise InputError(BAD_FILE.format(path=path, reason=reason)) from None
    if not isinstance(config, dict) or not all(isinstance(v, dict) for v in config.values()):
        raise InputError(BAD_FILE_SHAPE.format(path=path))
    return [
        _rule(f"{path}: {selector}", selector, settings) for selector, settings in config.items()
    ]


def _rule(text: str, selector: str, settings: Mapping[str, Any]) -> RecordingRule:
    column, sep, group = selector.strip().partition("=")
    if not sep or not group or not settings:
        raise InputError(BAD_RULE.format(text=text))
    if column not in GROUPS:
        raise InputError(BAD_COLUMN.format(text=text, column=column, allowed=", ".join(GROUPS)))
    if group not in GROUPS[column]:
        allowed = ", ".join(GROUPS[column])
        raise InputError(BAD_GROUP.format(text=text, column=column, group=group, allowed=allowed))
    values = {}
    for key, raw in settings.items():
        if key not in SETTINGS:
            raise InputError(BAD_KEY.format(text=text, key=key))
        low, high = LIMITS[key]
        try:
            number = float(raw) if not isinstance(raw, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not low <= number <= high:
            raise InputError(BAD_VALUE.format(text=text, key=key, low=low, high=high, value=raw))
        values[SETTINGS[key]] = number
    return RecordingRule(column=column, group=group, **values)


def speaker_recording(
    speaker: Mapping[str, Any], rules: Sequence[RecordingRule]
) -> dict[str, float] | None:
    """The conditions of one speaker's clips (the stricter of each setting over the rules of
    its groups), or None when no rule names one of its groups."""
    matching = [rule for rule in rules if str(speaker.get(rule.column)) == rule.group]
    if not matching:
        return None
    out: dict[str, float] = {}
    for name, pick in (("snr_db", min), ("bandwidth_hz", min), ("segment_s", min)):
        given = [getattr(rule, name) for rule in matching if getattr(rule, name) is not None]
        if given:
            out[name] = float(pick(given))
    return out


def record(
    audio: np.ndarray, recording: Mapping[str, float], *, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """``audio`` cut to its segment, low-passed and with noise at its SNR; peaks below 1."""
    audio = np.asarray(audio, dtype=np.float64)
    segment = recording.get("segment_s")
    if segment is not None and len(audio) > round(segment * sample_rate):
        audio = audio[: round(segment * sample_rate)].copy()
        fade = round(FADE_S * sample_rate)
        audio[-fade:] *= np.linspace(1.0, 0.0, fade)
    bandwidth = recording.get("bandwidth_hz")
    if bandwidth is not None:
        audio = _low_pass(audio, bandwidth, sample_rate)
    snr = recording.get("snr_db")
    if snr is not None:
        noise = rng.standard_normal(len(audio))
        if bandwidth is not None:
            noise = _low_pass(noise, bandwidth, sample_rate)
        target = speech_power(audio, sample_rate) / 10 ** (snr / 10)
        audio = audio + noise * math.sqrt(target / np.mean(noise**2))
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak > 0.99:
        audio = audio * (0.99 / peak)
    return audio.astype(np.float32)


def speech_power(audio: np.ndarray, sample_rate: int) -> float:
    """Mean power of the 30 ms frames within 40 dB of the loudest (the speech, not pauses)."""
    size = round(FRAME_S * sample_rate)
    frames = audio[: len(audio) // size * size].reshape(-1, size)
    power = np.mean(frames**2, axis=1)
    return float(np.mean(power[power >= power.max() * 10 ** (-ACTIVE_DB / 10)]))


def _low_pass(audio: np.ndarray, bandwidth: float, sample_rate: int) -> np.ndarray:
    spectrum = np.fft.rfft(audio)
    spectrum[np.fft.rfftfreq(len(audio), 1 / sample_rate) > bandwidth] = 0
    return np.fft.irfft(spectrum, n=len(audio))
