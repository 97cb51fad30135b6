"""Common Voice: a release's TSV (``validated.tsv``, ``train.tsv``, …) and its clips.

Old releases have ``client_id, path, sentence, up_votes, down_votes, age,
gender, accent, locale, segment``; later ones ``accents`` instead of ``accent``,
and from release 17 also ``sentence_id, sentence_domain, variant``. Ages are
self-reported decades (``teens`` … ``nineties``, spelt ``fourties`` by the
dataset); genders ``male/female/other`` in old releases and ``male_masculine,
female_feminine, intersex, transgender, non-binary, do_not_wish_to_say`` in new
ones. The client id is the speaker; the clip's language is the release's
``locale`` reduced to its ISO 639 code (``zh-CN`` → ``zh``).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd

from speech2face.errors import InputError
from speech2face.importers._common import (
    assign_splits,
    keep_found,
    labelled,
    ordered,
    read_table,
    speaker_rows,
)
from speech2face.importers.vocabulary_map import label_from_table
from speech2face.manifest.schema import (
    AGE_GROUP,
    AUDIO_PATH,
    CLIP_ID,
    GENDER,
    LANGUAGE,
    LANGUAGE_PATTERN,
    SPEAKER_ID,
    SPLIT,
)
from speech2face.progress import progress
from speech2face.vocabulary import UNKNOWN

REQUIRED = ("client_id", "path", "locale")
FILE_TO_SPLIT = {"train": "train", "dev": "val", "test": "test"}
KEPT = {"accents": "accent", "accent": "accent", "variant": "variant", "segment": "segment"}
MISSING_COLUMNS = "{path}: not a Common Voice TSV: missing column(s) {columns}"
BAD_LOCALE = "{path}: row {row}: column locale: {value!r} does not start with an ISO 639 code"


def read_commonvoice_tsv(path: str | os.PathLike) -> pd.DataFrame:
    """A Common Voice TSV as strings (quotes in sentences are text, not quoting)."""
    path = Path(path)
    table = read_table(path, sep="\t", quoting=csv.QUOTE_NONE)
    missing = [column for column in REQUIRED if column not in table.columns]
    if missing:
        raise InputError(MISSING_COLUMNS.format(path=path, columns=missing))
    return table


def locale_to_language(locales: pd.Series, *, path: Path) -> pd.Series:
    """ISO 639 codes of Common Voice locales: ``en`` → ``en``, ``sv-SE`` → ``sv``."""
    codes = locales.str.strip().str.lower().str.split("-").str[0]
    for row, code in enumerate(codes):
        if code and not LANGUAGE_PATTERN.match(code):
            raise InputError(BAD_LOCALE.format(path=path, row=row, value=locales.iloc[row]))
    return codes.where(codes != "", UNKNOWN)


def import_commonvoice(
    tsv_path: str | os.PathLike,
    *,
    manifest_dir: str | os.PathLike,
    audio_root: str | os.PathLike | None = None,
    age_binning="paper",
    split: str | None = None,
    split_fractions="0.8,0.1,0.1",
    val_fraction: float = 0.0,
    metadata_only: bool = False,
) -> pd.DataFrame:
    """A voice manifest of the TSV's clips found under ``audio_root`` (default: ``clips/``).

    ``metadata_only``: one row per speaker (``client_id``) of the TSV, no audio looked for.

    ``train/dev/test.tsv`` keep their split (``dev`` is ``val``); any other TSV is
    split by speaker with ``split_fractions``.
    """
    tsv_path = Path(tsv_path)
    table = read_commonvoice_tsv(tsv_path)
    root = Path(audio_root) if audio_root is not None else tsv_path.parent / "clips"
    frame = pd.DataFrame(
        {
            CLIP_ID: table["path"].str.rsplit(".", n=1).str[0],
            SPEAKER_ID: table["client_id"],
        }
    )
    for source_name, target in KEPT.items():
        if source_name in table.columns and target not in frame.columns:
            frame[target] = table[source_name]
    labelled(
        frame,
        LANGUAGE,
        locale_to_language(table["locale"], path=tsv_path),
        original=table["locale"],
        source="annotated",
    )
    answers = {AGE_GROUP: "age", GENDER: "gender"}
    label_from_table(
        frame,
        "commonvoice",
        {column: table[name] for column, name in answers.items() if name in table.columns},
        source="self_reported",
        age_binning=age_binning,
    )
    if metadata_only:
        frame = speaker_rows(frame)
    else:
        frame = keep_found(
            frame,
            [
                root / name if (root / name).is_file() else None
                for name in progress(table["path"], desc="finding audio")
            ],
            column=AUDIO_PATH,
            manifest_dir=manifest_dir,
            dataset="commonvoice",
            root=root,
        )
    frame[SPLIT] = assign_splits(
        FILE_TO_SPLIT.get(tsv_path.stem.casefold()),
        frame[SPEAKER_ID],
        split=split,
        fractions=split_fractions,
        val_fraction=val_fraction,
    )
    return ordered(frame, source=tsv_path)
