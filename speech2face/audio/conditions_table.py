"""The conditions table of a manifest: one row per clip, cached by content, resumable, parallel.

Columns (:data:`TABLE_COLUMNS`): ``clip_id``, ``audio_path`` (as in the manifest),
``start_s``, ``end_s`` (NaN: the file's start or end), ``content_sha256`` (of the audio
file), ``measure_key`` (:data:`~speech2face.audio.conditions.MEASURE_VERSION` and the VAD),
the measures (:data:`~speech2face.audio.conditions.CONDITION_COLUMNS`) and ``reason``
(empty, or why the audio could not be decoded; the measures are then NaN).

A clip whose file bytes, window and measure key are unchanged since the table was last
written is not measured again; nor is a second clip with the same file and window. As in
the faces table (:mod:`speech2face.backends.face_table`), each finished batch is written
once as its own Parquet part in ``OUT.parts/``; the table is assembled at the end and the
parts removed, so a killed run leaves its parts for the next run to reuse. A missing file
has no content to key on: it is reported, never cached.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from speech2face.artifacts import read_table
from speech2face.atomic import atomic_write
from speech2face.audio.conditions import (
    CONDITION_COLUMNS,
    MEASURE_VERSION,
    Conditions,
    default_vad,
    measure_clip,
)
from speech2face.audio.io import MISSING_FILE
from speech2face.backends.face_pool import BAD_WORKERS
from speech2face.backends.face_table import parts_dir
from speech2face.errors import InputError
from speech2face.hashing import file_sha256
from speech2face.manifest.io import PARQUET_SUFFIXES, resolve_path
from speech2face.manifest.schema import AUDIO_PATH, CLIP_ID, END_S, START_S
from speech2face.outputs import OUT_IS_FOLDER

KEY_COLUMNS = ("content_sha256", START_S, END_S, "measure_key")
TABLE_COLUMNS = (CLIP_ID, AUDIO_PATH, *KEY_COLUMNS, *CONDITION_COLUMNS, "reason")
DEFAULT_BATCH_SIZE = 64

NOT_A_CONDITIONS_TABLE = "{path}: not a conditions table (missing column(s) {columns})"
NOT_PARQUET = "--out {path}: a conditions table is written as Parquet; name it *.parquet"
NO_AUDIO_COLUMN = "the manifest has no audio_path column: conditions are measured from audio"

_Key = tuple[str, float | None, float | None, str]


@dataclass(frozen=True)
class _Clip:
    clip_id: str
    audio_path: str
    path: Path
    start_s: float | None
    end_s: float | None


def measure_key(vad: str | None = None) -> str:
    """``1/webrtcvad``: the measure version and VAD a cached row was measured with."""
    return f"{MEASURE_VERSION}/{vad or default_vad()}"


def read_conditions(path: str | Path) -> pd.DataFrame:
    """A conditions table (or one of its parts), checked for its columns."""
    table = read_table(path)
    missing = [column for column in TABLE_COLUMNS if column not in table.columns]
    if missing:
        raise InputError(NOT_A_CONDITIONS_TABLE.format(path=path, columns=missing))
    return table[list(TABLE_COLUMNS)]


MISSING_CONDITIONS = (
    "{count} clip(s) are not in the conditions table {path}, e.g. clip_id {clip!r}; "
    "measure the same manifest with s2f conditions"
)
DUPLICATE_CONDITIONS = "{path}: clip_id {clip!r} appears twice in the conditions table"


def conditions_for(path: str | Path, clip_ids: pd.Series) -> pd.DataFrame:
    """The measures (``CONDITION_COLUMNS``) of each of ``clip_ids``, in their order.

    Every clip must have a row (a clip that could not be measured has a row of NaNs);
    a missing clip or a clip id twice in the table is an InputError.
    """
    table = read_conditions(path)
    ids = table["clip_id"].astype(str)
    if ids.duplicated().any():
        raise InputError(DUPLICATE_CONDITIONS.format(path=path, clip=ids[ids.duplicated()].iloc[0]))
    wanted = clip_ids.astype(str)
    missing = ~wanted.isin(ids).to_numpy()
    if missing.any():
        raise InputError(
            MISSING_CONDITIONS.format(
                count=int(missing.sum()), path=path, clip=wanted[missing].iloc[0]
            )
        )
    measures = table.set_index(ids)[list(CONDITION_COLUMNS)].reindex(wanted)
    return measures.reset_index(drop=True)


def check_request(out: str | Path, workers: int) -> None:
    """Refuse an ``out`` that is not a Parquet file name, or fewer than one worker
    (before any file is read or bar drawn)."""
    out = Path(out)
    if out.suffix.lower() not in PARQUET_SUFFIXES:
        raise InputError(NOT_PARQUET.format(path=out))
    if out.is_dir():
        raise InputError(OUT_IS_FOLDER.format(out=out, kind="conditions table"))
    if workers < 1:
        raise InputError(BAD_WORKERS.format(workers=workers))


def build_conditions_table(
    manifest: pd.DataFrame,
    *,
    base_dir: str | Path,
    out: str | Path,
    workers: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    vad: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Measure every clip of ``manifest`` into ``out`` (Parquet), reusing earlier rows.

    ``workers`` > 1 measures batches in forked processes; the table is the same for any
    number. ``progress`` is called with the number of clips each step finished.
    """
    check_request(out, workers)
    if AUDIO_PATH not in manifest.columns:
        raise InputError(NO_AUDIO_COLUMN)
    out = Path(out)
    vad = vad or default_vad()
    clips = _clips(manifest, Path(base_dir))
    digests = {path: file_sha256(path) for path in {c.path for c in clips} if path.is_file()}
    keys = [_key(digests.get(c.path, ""), c.start_s, c.end_s, vad) for c in clips]
    parts = parts_dir(out)
    done = _reusable_rows(out, parts, measure_key(vad))
    finished = set(_row_keys(done))
    todo = {key: clip for clip, key in zip(clips, keys, strict=True) if key[0]}
    todo = {key: clip for key, clip in todo.items() if key not in finished}
    clips_of = Counter(keys)
    if progress is not None:
        progress(len(clips) - sum(clips_of[key] for key in todo))
    jobs = list(todo.items())
    batches = [jobs[start : start + batch_size] for start in range(0, len(jobs), batch_size)]
    tables = [done] if len(done) else []
    for batch, measured in zip(batches, _measure_batches(batches, workers, vad), strict=True):
        fresh = _rows([clip for _, clip in batch], [key for key, _ in batch], measured)
        _write_atomic(fresh, parts / f"part-{_batch_name(batch)}.parquet")
        tables.append(fresh)
        if progress is not None:
            progress(sum(clips_of[key] for key, _ in batch))
    table = _assemble(clips, keys, tables)
    _write_atomic(table, out)
    shutil.rmtree(parts, ignore_errors=True)
    return table


def summary(table: pd.DataFrame) -> str:
    """``12 clips (1 undecodable); median speech_s 5.1, snr_db 21.3, …``: what a table holds."""
    decoded = table[table["reason"] == ""]
    medians = ", ".join(f"{column} {decoded[column].median():.4g}" for column in CONDITION_COLUMNS)
    held = f"{len(table)} clips ({len(table) - len(decoded)} undecodable)"
    return f"{held}; median {medians}" if len(decoded) else held


def _clips(manifest: pd.DataFrame, base_dir: Path) -> list[_Clip]:
    starts, ends = (
        pd.to_numeric(manifest[column], errors="coerce").to_numpy(dtype=float)
        if column in manifest.columns
        else np.full(len(manifest), np.nan)
        for column in (START_S, END_S)
    )
    return [
        _Clip(str(clip_id), str(audio), resolve_path(base_dir, str(audio)), *_window(start, end))
        for clip_id, audio, start, end in zip(
            manifest[CLIP_ID], manifest[AUDIO_PATH], starts, ends, strict=True
        )
    ]


def _window(start: float, end: float) -> tuple[float | None, float | None]:
    return tuple(None if math.isnan(value) else float(value) for value in (start, end))


def _key(digest: str, start: float | None, end: float | None, vad: str) -> _Key:
    return digest, start, end, measure_key(vad)


def _measure_batches(
    batches: Sequence[Sequence[tuple[_Key, _Clip]]], workers: int, vad: str
) -> Iterator[list[Conditions]]:
    """Each batch's measures, in batch order: here, or in ``workers`` forked processes.

    Forked, not spawned (unlike the face pool): measuring runs no thread pool (numpy, scipy,
    soxr, webrtcvad only), and a spawned worker would first spend seconds importing torch,
    which ``speech2face.audio`` imports.
    """
    work = [[(str(clip.path), clip.start_s, clip.end_s) for _, clip in batch] for batch in batches]
    measure = partial(_measure_windows, vad=vad)
    if workers == 1 or len(batches) < 2:
        yield from map(measure, work)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(min(workers, len(batches)), mp_context=context) as pool:
        yield from pool.map(measure, work)


def _measure_windows(
    windows: Sequence[tuple[str, float | None, float | None]], *, vad: str
) -> list[Conditions]:
    return [measure_clip(path, start_s=start, end_s=end, vad=vad) for path, start, end in windows]


def _rows(
    clips: Sequence[_Clip], keys: Sequence[_Key], measured: Sequence[Conditions]
) -> pd.DataFrame:
    """Table rows of measured clips."""
    records = [
        (clip.clip_id, clip.audio_path, *key, *astuple(conditions))
        for clip, key, conditions in zip(clips, keys, measured, strict=True)
    ]
    table = pd.DataFrame.from_records(records, columns=list(TABLE_COLUMNS))
    table[[START_S, END_S]] = table[[START_S, END_S]].astype(float)
    return table


def _reusable_rows(out: Path, parts: Path, key: str) -> pd.DataFrame:
    """Rows measured with ``key`` in an earlier ``out`` and in leftover parts, one per key."""
    tables = [read_conditions(out)] if out.is_file() else []
    if parts.is_dir():
        tables += [read_conditions(part) for part in sorted(parts.glob("part-*.parquet"))]
    if not tables:
        return pd.DataFrame(columns=list(TABLE_COLUMNS))
    table = pd.concat(tables, ignore_index=True)
    table = table[(table["measure_key"] == key) & (table["content_sha256"] != "")]
    return table.drop_duplicates(list(KEY_COLUMNS), keep="last")


def _row_keys(table: pd.DataFrame) -> list[_Key]:
    """Each row's cache key (a missing window end is None)."""
    starts, ends = (
        [None if math.isnan(value) else value for value in table[column].astype(float)]
        for column in (START_S, END_S)
    )
    return list(zip(table["content_sha256"], starts, ends, table["measure_key"], strict=True))


def _assemble(
    clips: Sequence[_Clip], keys: Sequence[_Key], tables: list[pd.DataFrame]
) -> pd.DataFrame:
    """One row per clip, in manifest order; clips without a file are reported here."""
    lost = [(clip, key) for clip, key in zip(clips, keys, strict=True) if not key[0]]
    if lost:
        reports = [
            Conditions(
                *[math.nan] * len(CONDITION_COLUMNS), reason=MISSING_FILE.format(path=clip.path)
            )
            for clip, _ in lost
        ]
        tables = [*tables, _rows(*zip(*lost, strict=True), reports)]
    if not tables:
        return pd.DataFrame(columns=list(TABLE_COLUMNS))
    pool = pd.concat(tables, ignore_index=True)
    row_of = {key: row for row, key in enumerate(_row_keys(pool)) if key[0]}
    next_lost = iter(range(len(pool) - len(lost), len(pool)))
    rows = [row_of[key] if key[0] else next(next_lost) for key in keys]
    table = pool.iloc[rows].reset_index(drop=True)
    table[CLIP_ID] = [clip.clip_id for clip in clips]
    table[AUDIO_PATH] = [clip.audio_path for clip in clips]
    return table[list(TABLE_COLUMNS)]


def _batch_name(batch: Sequence[tuple[_Key, _Clip]]) -> str:
    """A part's name, from the keys it holds (parts are never rewritten)."""
    return hashlib.sha256(repr([key for key, _ in batch]).encode()).hexdigest()[:16]


def _write_atomic(table: pd.DataFrame, out: Path) -> None:
    with atomic_write(out) as handle:
        table.to_parquet(handle, index=False)
