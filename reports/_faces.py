"""Example true faces of flagged groups, embedded as small thumbnails.

Faces are read from the ``face_path`` of the audited clips: a predictions artifact
that carries the column, or else the manifest its ``meta.json`` names, or a manifest
given directly. Synthetic faces (a corpus made by ``s2f synth``) may always be shown;
faces of real people only when the caller asks (``include_faces``). Speakers are
chosen from the audit's own per-clip slice labels (``components.parquet``), so the
examples belong to exactly the group the audit measured; groups below the privacy
threshold never get faces (they are not shown at all).
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup
from PIL import Image

from audit.artifacts import SEPARATOR, SLICE_PREFIX
from reports._audit_view import AuditView, visible_flags
from speech2face.artifacts import PREDICTIONS_TABLE_FILE
from speech2face.errors import InputError
from speech2face.manifest.io import read_manifest
from speech2face.prediction.artifact import read_meta
from speech2face.synth.provenance import all_synthetic

FACE_COLUMN = "face_path"
THUMBNAIL_PX = 72
MAX_THUMBNAIL_BYTES = 8_000
SPEAKERS_PER_GROUP = 4
MAX_GROUPS = 8

NO_FACE_COLUMN = (
    "{source}: no face_path column (in the predictions table or the manifest named by its "
    "meta.json), so no face can be shown"
)


@dataclass(frozen=True)
class FaceSource:
    """Each clip's face image (absolute paths by ``clip_id``); whether the faces are synthetic."""

    paths: pd.Series
    synthetic: bool
    source: str

    @classmethod
    def read(cls, source: str | os.PathLike) -> FaceSource:
        """Faces of a predictions artifact (folder) or of a manifest (file)."""
        source = Path(source)
        if source.is_dir():
            return cls._from_predictions(source)
        return cls._from_table(read_manifest(source), source.parent, source=source)

    @classmethod
    def _from_predictions(cls, folder: Path) -> FaceSource:
        table_file = folder / PREDICTIONS_TABLE_FILE
        if not table_file.is_file():
            raise InputError(f"{folder}: not a predictions artifact (no {PREDICTIONS_TABLE_FILE})")
        meta = read_meta(folder)
        table = pd.read_parquet(table_file)
        if FACE_COLUMN in table.columns:
            return cls._from_table(table, folder, source=folder)
        if not meta.get("manifest"):
            raise InputError(NO_FACE_COLUMN.format(source=folder))
        manifest = Path(meta["manifest"])
        return cls._from_table(read_manifest(manifest), manifest.parent, source=folder)

    @classmethod
    def _from_table(cls, table: pd.DataFrame, base: Path, *, source: Path) -> FaceSource:
        if FACE_COLUMN not in table.columns:
            raise InputError(NO_FACE_COLUMN.format(source=source))
        rows = table.dropna(subset=[FACE_COLUMN]).drop_duplicates("clip_id")
        paths = [
            str(path if path.is_absolute() else base / path)
            for path in map(Path, rows[FACE_COLUMN].astype(str))
        ]
        return cls(
            paths=pd.Series(paths, index=rows["clip_id"].astype(str).to_numpy()),
            synthetic=all_synthetic(paths),
            source=str(source),
        )


def example_faces(
    components: pd.DataFrame,
    faces: FaceSource,
    *,
    slice_columns: list[str],
    group: str,
    seed: int,
) -> list[tuple[str, str]]:
    """``(speaker_id, data URI)`` of up to ``SPEAKERS_PER_GROUP`` speakers of one group.

    Speakers are drawn with ``seed`` among those of the group whose first clip has a
    readable face image; each thumbnail is at most ``THUMBNAIL_PX`` pixels a side.
    """
    members = pd.Series(True, index=components.index)
    for column, label in zip(slice_columns, group.split(SEPARATOR), strict=True):
        members &= components[SLICE_PREFIX + column].astype(str) == label
    clips = components.loc[members, ["speaker_id", "clip_id"]].astype(str)
    first = clips.drop_duplicates("speaker_id").sort_values("speaker_id")
    order = np.random.default_rng(seed).permutation(len(first))
    out = []
    for speaker, clip in first.iloc[order].itertuples(index=False):
        path = faces.paths.get(clip)
        uri = thumbnail(path) if path else None
        if uri:
            out.append((speaker, uri))
        if len(out) == SPEAKERS_PER_GROUP:
            break
    return out


def thumbnail(path: str | os.PathLike) -> str | None:
    """A JPEG data URI of the image at ``path``, shrunk to fit; None if it cannot be read."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    except (OSError, ValueError):
        return None
    for quality in (85, 70, 50):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        if buffer.tell() <= MAX_THUMBNAIL_BYTES:
            break
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def face_strip(title: str, examples: list[tuple[str, str]], *, synthetic: bool) -> Markup:
    """One flagged group's example faces in a row, each captioned with its speaker id."""
    kind = "synthetic" if synthetic else "true"
    images = Markup("").join(
        Markup(
            '<figure class="face"><img alt="{} face of speaker {}" src="{}">'
            "<figcaption>{}</figcaption></figure>"
        ).format(kind, speaker, Markup(uri), speaker)
        for speaker, uri in examples
    )
    return Markup('<div class="faces"><p class="note">{}</p>{}</div>').format(title, images)


INCLUDE_FACES_NEEDS_SOURCE = (
    "include_faces needs the faces to show: pass faces= a predictions folder or a manifest "
    "with face_path"
)


@dataclass(frozen=True)
class Gallery:
    """The example faces of flagged groups, and the caveat saying what was embedded."""

    html: Markup
    note: str


def flagged_faces(
    audit: AuditView, faces: str | os.PathLike | None, *, include_faces: bool
) -> Gallery:
    """Example faces of the flagged groups that may be shown (synthetic, or asked for)."""
    if faces is None:
        if include_faces:
            raise InputError(INCLUDE_FACES_NEEDS_SOURCE)
        return Gallery(Markup(""), "No face image is embedded (no face images were given).")
    try:
        source = FaceSource.read(faces)
    except InputError:
        if include_faces:
            raise
        return Gallery(Markup(""), "No face image is embedded (the predictions name none).")
    if not (source.synthetic or include_faces):
        return Gallery(
            Markup(""),
            "No face image is embedded: the faces of these speakers are photographs of real "
            "people, shown only with include_faces (s2f audit --include-faces).",
        )
    columns = {s["name"]: s["columns"] for s in audit.summary["slices"]}
    speakers = audit.groups.drop_duplicates(["slice", "group"]).set_index(["slice", "group"])
    groups = dict.fromkeys(
        (row.slice, row.group)
        for row in visible_flags(audit).itertuples()
        if speakers.loc[(row.slice, row.group), "n_speakers"] >= audit.privacy_k
    )
    strips, images = [], 0
    for slice_name, group in list(groups)[:MAX_GROUPS]:
        examples = example_faces(
            audit.result.components,
            source,
            slice_columns=columns[slice_name],
            group=group,
            seed=audit.summary["bootstrap"]["seed"],
        )
        if examples:
            strips.append(
                face_strip(f"{slice_name} = {group}", examples, synthetic=source.synthetic)
            )
            images += len(examples)
    kind = "synthetic faces" if source.synthetic else "photographs of real people"
    if not strips:
        return Gallery(Markup(""), f"No face image is embedded: no flagged group has {kind}.")
    shown = "" if source.synthetic else ", shown because include_faces was given"
    intro = Markup(
        "<h3>Example faces of flagged groups</h3><p>The true face of up to {} speakers of "
        "each flagged group, drawn with the audit's seed from <code>{}</code>, so a reader "
        "sees whom a disparity concerns. These are {}{}.</p>"
    ).format(SPEAKERS_PER_GROUP, source.source, kind, shown)
    note = f"{images} face image(s) of {len(strips)} flagged group(s) are embedded ({kind})"
    if not source.synthetic:
        note += ", because include_faces was given"
    return Gallery(intro + Markup("").join(strips), note + ".")
