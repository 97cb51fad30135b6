"""UTKFace: labels in the image file names, ``age_gender_race_datetime.jpg``.

``age`` is in years, ``gender`` 0 (male) or 1 (female), ``race`` 0 White,
1 Black, 2 Asian, 3 Indian, 4 Others; the aligned-and-cropped release appends
``.chip.jpg``. The labels were estimated and then checked by people
(``annotated``). A few released names lack a field: what is there is kept, the
rest is ``unknown`` (with a warning). UTKFace has no identities and no splits:
each image is its own speaker and the split is drawn by image.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from speech2face.errors import InputError
from speech2face.importers._common import (
    assign_splits,
    labelled,
    manifest_path_value,
    ordered,
    warn,
)
from speech2face.importers.vocabulary_map import label_from_table
from speech2face.manifest.age import age_to_group
from speech2face.manifest.schema import (
    AGE,
    AGE_GROUP,
    CLIP_ID,
    ETHNICITY,
    FACE_PATH,
    GENDER,
    SPEAKER_ID,
    SPLIT,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
INCOMPLETE_NAMES = (
    "utkface: {count} file name(s) lack label fields, kept as unknown (first: {example})"
)
NO_IMAGES = "{path}: no UTKFace images (*.jpg) in this folder or below"


def parse_utkface_name(name: str) -> dict[str, str]:
    """The labels in a UTKFace file name; fields it lacks are empty strings.

    A name with only three fields (``39_1_20170116174525125.jpg.chip.jpg``) keeps
    its age: whether the middle field is gender or race cannot be told.
    """
    fields = name.split(".")[0].split("_")
    if len(fields) == 4 and all(field.isdigit() for field in fields[:3]):
        return {"age": fields[0], "gender": fields[1], "race": fields[2]}
    if len(fields) == 3 and fields[0].isdigit():
        return {"age": fields[0], "gender": "", "race": ""}
    return {"age": "", "gender": "", "race": ""}


def import_utkface(
    image_dir: str | os.PathLike,
    *,
    manifest_dir: str | os.PathLike,
    age_binning="paper",
    split: str | None = None,
    split_fractions="0.8,0.1,0.1",
) -> pd.DataFrame:
    """A face manifest of every image in ``image_dir`` (searched recursively)."""
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise InputError(f"{image_dir}: not a folder of UTKFace images")
    paths = sorted(
        path
        for path in image_dir.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    )
    if not paths:
        raise InputError(NO_IMAGES.format(path=image_dir))
    labels = pd.DataFrame([parse_utkface_name(path.name) for path in paths])
    incomplete = (labels == "").any(axis=1).to_numpy()
    if incomplete.any():
        example = paths[int(np.flatnonzero(incomplete)[0])].name
        warn(INCOMPLETE_NAMES.format(count=int(incomplete.sum()), example=example))
    clip_ids = [path.relative_to(image_dir).as_posix().split(".")[0] for path in paths]
    frame = pd.DataFrame({CLIP_ID: clip_ids, SPEAKER_ID: clip_ids})
    frame[FACE_PATH] = [manifest_path_value(path, Path(manifest_dir)) for path in paths]
    years = pd.to_numeric(labels["age"], errors="coerce")
    labelled(frame, AGE, years.to_numpy(), original=None, source="annotated")
    labelled(
        frame,
        AGE_GROUP,
        age_to_group(years.to_numpy(), binning=age_binning),
        original=None,
        source="annotated",
    )
    label_from_table(
        frame,
        "utkface",
        {GENDER: labels["gender"], ETHNICITY: labels["race"]},
        source="annotated",
    )
    frame[SPLIT] = assign_splits(None, frame[SPEAKER_ID], split=split, fractions=split_fractions)
    return ordered(frame, source=image_dir)
