"""Synthetic speakers: who is in each split, with which age, gender, ethnicity and language.

Group counts are allocated, not drawn: each split's count per group is the
largest-remainder apportionment of its share (so within one speaker of the
requested share), and groups are interleaved by a low-discrepancy sequence so
that intersections (ethnicity × gender, ethnicity × age) are spread evenly too.
Language follows ethnicity through each group's typical languages, except for
an exact share of speakers who speak a language typical of another group.
Languages held out of training (``unheard_languages``) move every speaker of theirs,
from train and val alike, to the test split: a model trained on the corpus never hears
them (the test split grows by those speakers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from speech2face.errors import InputError
from speech2face.synth.presets import ALLOWED_GROUPS, ATTRIBUTES, ImbalanceSpec
from speech2face.synth.sentences import LANGUAGES

AGE_GROUP_YEARS: Mapping[str, tuple[int, int]] = {
    "<20": (16, 19),
    "20-29": (20, 29),
    "30-39": (30, 39),
    "40-49": (40, 49),
    "50-59": (50, 59),
    "60-69": (60, 69),
    "70+": (70, 84),
}
"""Inclusive range of ages (years) drawn for each age group."""

SPEAKER_COLUMNS = (
    "speaker_id",
    "split",
    "age",
    "age_group",
    "gender",
    "ethnicity",
    "language",
    "language_mismatch",
    "gender_label",
    "ethnicity_label",
    "identity_seed",
)
"""speakers table: true attributes, the recorded (possibly noisy) labels, the latent identity."""

_IDENTITY_STREAM = 1
_SPLIT_STREAMS = {"train": 2, "val": 3, "test": 4}

BAD_FRACTIONS = (
    "--test-fraction {test} and --val-fraction {val} must be in [0, 1) and leave train speakers"
)
UNKNOWN_UNHEARD = "--unheard-languages: unknown language {value!r}; available: {allowed}"
NO_TRAIN_LEFT = "--unheard-languages {languages} leave no train speaker"
TOO_FEW_TEST_SPEAKERS = (
    "{n_test} test speakers cannot hold one speaker of each of the {n_groups} {attribute} groups; "
    "use more --speakers or a larger --test-fraction"
)


def apportion(total: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Largest-remainder counts summing to ``total``, each within one of ``share × total``."""
    groups = list(shares)
    quotas = np.array([shares[group] for group in groups], dtype=float) * total
    counts = np.floor(quotas + 1e-9).astype(int)
    order = sorted(range(len(groups)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for index in order[: total - counts.sum()]:
        counts[index] += 1
    return {group: int(count) for group, count in zip(groups, counts, strict=True)}


def spread(counts: Mapping[str, int]) -> list[str]:
    """A sequence holding each group ``counts[group]`` times, interleaved evenly.

    Step ``k`` takes the group furthest behind its proportional pace, so every
    window of the sequence holds each group close to its share.
    """
    groups = [group for group, count in counts.items() if count > 0]
    total = sum(counts[group] for group in groups)
    taken = dict.fromkeys(groups, 0)
    sequence = []
    for step in range(1, total + 1):
        open_groups = [group for group in groups if taken[group] < counts[group]]
        group = max(open_groups, key=lambda g: step * counts[g] / total - taken[g])
        taken[group] += 1
        sequence.append(group)
    return sequence


def split_sizes(n_speakers: int, *, test_fraction: float, val_fraction: float) -> dict[str, int]:
    """Speakers per split: test and val rounded from their fractions, train the rest."""
    valid = 0 <= val_fraction < 1 and 0 < test_fraction < 1 and test_fraction + val_fraction < 1
    n_test = round(n_speakers * test_fraction) if valid else 0
    n_val = round(n_speakers * val_fraction) if valid else 0
    if not valid or n_test < 1 or n_speakers - n_test - n_val < 1:
        raise InputError(BAD_FRACTIONS.format(test=test_fraction, val=val_fraction))
    return {"train": n_speakers - n_test - n_val, "val": n_val, "test": n_test}


def check_test_split(n_test: int, spec: ImbalanceSpec) -> None:
    """Raise unless the test split can hold one speaker of every group of every attribute."""
    for attribute in ATTRIBUTES:
        n_groups = sum(share > 0 for share in spec.test_shares[attribute].values())
        if n_test < n_groups:
            raise InputError(
                TOO_FEW_TEST_SPEAKERS.format(n_test=n_test, n_groups=n_groups, attribute=attribute)
            )


def sample_speakers(
    *,
    n_speakers: int,
    spec: ImbalanceSpec,
    seed: int,
    test_fraction: float,
    val_fraction: float,
    unheard_languages: Sequence[str] = (),
) -> pd.DataFrame:
    """The speakers table (:data:`SPEAKER_COLUMNS`), one row per speaker, ids in random order;
    every speaker of ``unheard_languages`` in the test split."""
    for language in unheard_languages:
        if language not in LANGUAGES:
            allowed = ", ".join(LANGUAGES)
            raise InputError(UNKNOWN_UNHEARD.format(value=language, allowed=allowed))
    sizes = split_sizes(n_speakers, test_fraction=test_fraction, val_fraction=val_fraction)
    check_test_split(sizes["test"], spec)
    frames = [
        _sample_split(
            split,
            size,
            spec=spec,
            rng=np.random.default_rng([seed, _SPLIT_STREAMS[split]]),
        )
        for split, size in sizes.items()
        if size > 0
    ]
    speakers = pd.concat(frames, ignore_index=True)
    speakers.loc[speakers["language"].isin(list(unheard_languages)), "split"] = "test"
    if not (speakers["split"] == "train").any():
        raise InputError(NO_TRAIN_LEFT.format(languages=",".join(unheard_languages)))
    rng = np.random.default_rng([seed, _IDENTITY_STREAM])
    speakers = speakers.iloc[rng.permutation(len(speakers))].reset_index(drop=True)
    speakers.insert(0, "speaker_id", [f"spk{index:05d}" for index in range(len(speakers))])
    speakers["identity_seed"] = rng.integers(0, 2**62, size=len(speakers), dtype=np.int64)
    return speakers.loc[:, list(SPEAKER_COLUMNS)]


def _sample_split(
    split: str, size: int, *, spec: ImbalanceSpec, rng: np.random.Generator
) -> pd.DataFrame:
    shares = spec.shares(split)
    cells = _allocate_cells(size, shares)
    low, high = np.array([AGE_GROUP_YEARS[group] for group in cells["age_group"]]).T
    cells["age"] = rng.integers(low, high + 1).astype(np.int64)
    cells["split"] = split
    cells["language_mismatch"] = [
        flag == "mismatch"
        for flag in spread(apportion(size, _two_way(spec.mismatch(split), "mismatch")))
    ]
    cells["language"] = _languages(cells, spec.typical_languages, rng)
    for attribute in ("gender", "ethnicity"):
        cells[f"{attribute}_label"] = _noisy_labels(
            cells[attribute], spec.label_noise.get(attribute, {}), ALLOWED_GROUPS[attribute], rng
        )
    return cells


def _two_way(rate: float, name: str) -> dict[str, float]:
    return {name: rate, "other": 1 - rate}


def _allocate_cells(size: int, shares: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Ethnicity in blocks, gender spread within them, age spread within ethnicity × gender."""
    ethnicity = [
        group for group, count in apportion(size, shares["ethnicity"]).items() for _ in range(count)
    ]
    gender = spread(apportion(size, shares["gender"]))
    cells = pd.DataFrame({"ethnicity": ethnicity, "gender": gender})
    cells = cells.sort_values(["ethnicity", "gender"], kind="stable").reset_index(drop=True)
    cells["age_group"] = spread(apportion(size, shares["age_group"]))
    return cells


def _languages(
    cells: pd.DataFrame, typical: Mapping[str, Sequence[str]], rng: np.random.Generator
) -> list[str]:
    """Each group cycles through its typical languages; a mismatched speaker takes another's."""
    languages = []
    turn = {group: int(rng.integers(len(langs))) for group, langs in typical.items()}
    for group, mismatched in zip(cells["ethnicity"], cells["language_mismatch"], strict=True):
        if mismatched:
            own = set(typical[group])
            others = sorted(
                {lang for other, langs in typical.items() for lang in langs if other != group} - own
            )
            languages.append(str(rng.choice(others)))
        else:
            own_languages = typical[group]
            languages.append(own_languages[turn[group] % len(own_languages)])
            turn[group] += 1
    return languages


def _noisy_labels(
    truth: pd.Series,
    noise: Mapping[str, float],
    groups: Sequence[str],
    rng: np.random.Generator,
) -> list[str]:
    """Recorded labels: for each group, exactly round(rate × n) speakers get another group's."""
    labels = truth.tolist()
    for group, rate in noise.items():
        members = np.flatnonzero(truth.to_numpy() == group)
        flipped = rng.choice(members, size=round(rate * len(members)), replace=False)
        others = [other for other in groups if other != group]
        for index in flipped:
            labels[index] = str(rng.choice(others))
    return labels
