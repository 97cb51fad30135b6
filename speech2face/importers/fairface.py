"""FairFace: the label CSV (``file,age,gender,race,service_test``) and its images.

Ages are bins (``0-2, 3-9, 10-19, …, 60-69, more than 70``), races seven classes,
genders ``Male``/``Female``; the labels were annotated by people. Copies of the
CSV that passed through Excel carry the bins ``3-9`` and ``10-19`` as dates
(``03-Sep``/``9-Mar``, ``Oct-19``/``19-Oct``): they are repaired with a warning.
FairFace has no identities, so each image is its own speaker. The output is a
face manifest (``face_path``, no ``audio_path``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from speech2face.errors import InputError
from speech2face.importers._common import (
    assign_splits,
    keep_found,
    ordered,
    read_table,
    warn,
)
from speech2face.importers.vocabulary_map import label_from_table
from speech2face.manifest.schema import (
    AGE_GROUP,
    CLIP_ID,
    ETHNICITY,
    FACE_PATH,
    GENDER,
    SPEAKER_ID,
    SPLIT,
    original_column,
)

REQUIRED = ("file", "age", "gender", "race")
MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
EXCEL_DATE = re.compile(r"^(?:(\d{1,2})-([a-z]{3})|([a-z]{3})-(\d{1,2}))$", re.IGNORECASE)
AGE_BINS = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70")
FOLDER_TO_SPLIT = {"train": "train", "val": "val", "test": "test"}
MISSING_COLUMNS = "{path}: not a FairFace label file: missing column(s) {columns}"
REPAIRED = "fairface: repaired Excel-mangled age bin(s): {repairs}"


def repair_excel_age(value: str) -> str | None:
    """The FairFace age bin that Excel turned into a date (``03-Sep`` → ``3-9``), else None."""
    match = EXCEL_DATE.match(str(value).strip())
    if match is None:
        return None
    number = int(match[1] or match[4])
    month = MONTHS.get((match[2] or match[3]).casefold())
    if month is None:
        return None
    low, high = sorted((number, month))
    candidate = f"{low}-{high}"
    return candidate if candidate in AGE_BINS else None


def read_fairface_labels(path: str | os.PathLike) -> pd.DataFrame:
    """The label CSV as strings, Excel-mangled age bins repaired (with a warning)."""
    path = Path(path)
    table = read_table(path)
    table.columns = [column.strip() for column in table.columns]
    missing = [column for column in REQUIRED if column not in table.columns]
    if missing:
        raise InputError(MISSING_COLUMNS.format(path=path, columns=missing))
    table = table.apply(lambda column: column.str.strip())
    repaired = table["age"].map(repair_excel_age)
    changed = repaired.notna()
    if changed.any():
        pairs = pd.DataFrame({"from": table.loc[changed, "age"], "to": repaired[changed]})
        counts = pairs.value_counts(sort=False)
        warn(
            REPAIRED.format(
                repairs=", ".join(f"{a!r} → {b!r} ({n} rows)" for (a, b), n in counts.items())
            )
        )
    table["age_bin"] = repaired.where(changed, table["age"])
    return table


def import_fairface(
    csv_path: str | os.PathLike,
    *,
    manifest_dir: str | os.PathLike,
    image_root: str | os.PathLike | None = None,
    age_binning="paper",
    split: str | None = None,
    val_fraction: float = 0.0,
) -> pd.DataFrame:
    """A face manifest of the labelled images found under ``image_root`` (default: CSV's folder).

    The split is the image's folder (``train/``, ``val/``) or, failing that, the CSV's
    name (``fairface_label_val.csv``).
    """
    csv_path = Path(csv_path)
    table = read_fairface_labels(csv_path)
    root = Path(image_root) if image_root is not None else csv_path.parent
    frame = pd.DataFrame({CLIP_ID: table["file"].str.rsplit(".", n=1).str[0]})
    frame[SPEAKER_ID] = frame[CLIP_ID]
    label_from_table(
        frame,
        "fairface",
        {AGE_GROUP: table["age_bin"], GENDER: table["gender"], ETHNICITY: table["race"]},
        source="annotated",
        age_binning=age_binning,
    )
    frame[original_column(AGE_GROUP)] = table["age"]
    if "service_test" in table.columns:
        frame["fairface_service_test"] = table["service_test"].str.casefold().eq("true")
    given = _given_splits(table["file"], csv_path)
    frame[SPLIT] = assign_splits(given, frame[SPEAKER_ID], split=split, val_fraction=val_fraction)
    found = [root / name if (root / name).is_file() else None for name in table["file"]]
    frame = keep_found(
        frame, found, column=FACE_PATH, manifest_dir=manifest_dir, dataset="fairface", root=root
    )
    return ordered(frame, source=csv_path)


def _given_splits(files: pd.Series, csv_path: Path) -> np.ndarray | None:
    folders = files.str.split("/").str[0].str.casefold().map(FOLDER_TO_SPLIT)
    by_name = next((s for s in ("train", "val", "test") if s in csv_path.stem.casefold()), None)
    given = folders.fillna(by_name) if by_name is not None else folders
    return None if given.isna().all() else given.to_numpy(dtype=object)
