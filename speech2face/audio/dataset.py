"""Spectrograms of manifest clips as a torch Dataset, with bad clips raised or skipped.

With ``on_error="skip"`` a clip that cannot be decoded yields a `BadClip`
instead of features; `collate_clips` separates them out of each batch and
`iterate_batches` writes every one to a CSV (clip_id, path, reason), so no clip
is lost silently, even from DataLoader worker processes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from speech2face.atomic import write_csv
from speech2face.audio.frontend import PAPER_CONFIG, SpectrogramConfig, fit_duration, spectrogram
from speech2face.audio.io import load_audio
from speech2face.errors import InputError

ON_ERROR_CHOICES = ("raise", "skip")
BAD_ON_ERROR = "on_error must be one of {choices}, got {value!r}"
MISSING_COLUMNS = "manifest lacks column(s) {columns} needed to load audio"
ROW_ERROR = "manifest row {row} (clip_id {clip_id}): {reason}"
SKIP_NEEDS_CSV = "on_error='skip' needs skipped_csv to record the skipped clips"
BAD_CLIP_COLUMNS = ("clip_id", "path", "reason")


@dataclass(frozen=True)
class BadClip:
    """A clip that could not be turned into features, and why."""

    clip_id: str
    path: str
    reason: str


@dataclass(frozen=True)
class _ClipRow:
    row: object
    clip_id: str
    path: Path
    start_s: float | None
    end_s: float | None


class ClipDataset(Dataset):
    """Compressed spectrograms (frames, bins, 2) of the clips in a manifest.

    ``rows`` needs ``clip_id`` and ``audio_path`` (relative paths resolve against
    ``base_dir``); ``start_s``/``end_s`` select a segment when present. Each item
    is ``{"clip_id": str, "features": Tensor}``, or a `BadClip` when
    ``on_error="skip"`` and the clip is unusable.
    """

    def __init__(
        self,
        rows: pd.DataFrame,
        *,
        base_dir: str | Path = ".",
        config: SpectrogramConfig = PAPER_CONFIG,
        on_error: Literal["raise", "skip"] = "raise",
    ) -> None:
        if on_error not in ON_ERROR_CHOICES:
            raise ValueError(BAD_ON_ERROR.format(choices=ON_ERROR_CHOICES, value=on_error))
        missing = [c for c in ("clip_id", "audio_path") if c not in rows.columns]
        if missing:
            raise InputError(MISSING_COLUMNS.format(columns=", ".join(missing)))
        self.config = config
        self.on_error = on_error
        base = Path(base_dir)
        self._rows = [
            _ClipRow(
                row=index,
                clip_id=str(record["clip_id"]),
                path=base / str(record["audio_path"]),
                start_s=_optional_seconds(record.get("start_s")),
                end_s=_optional_seconds(record.get("end_s")),
            )
            for index, record in zip(rows.index, rows.to_dict("records"), strict=True)
        ]

    def __len__(self) -> int:
        return len(self._rows)

    def _load(self, row: _ClipRow) -> np.ndarray:
        return load_audio(
            row.path, sample_rate=self.config.sample_rate, start_s=row.start_s, end_s=row.end_s
        )

    def bad_clip(self, index: int) -> BadClip | None:
        """The `BadClip` of clip ``index`` when its audio cannot be decoded, else None."""
        row = self._rows[index]
        try:
            self._load(row)
        except InputError as error:
            return BadClip(row.clip_id, str(row.path), str(error))
        return None

    def __getitem__(self, index: int) -> dict[str, object] | BadClip:
        row = self._rows[index]
        try:
            wave = self._load(row)
        except InputError as error:
            if self.on_error == "skip":
                return BadClip(row.clip_id, str(row.path), str(error))
            message = ROW_ERROR.format(row=row.row, clip_id=row.clip_id, reason=error)
            raise InputError(message) from error
        wave = fit_duration(
            wave, seconds=self.config.duration_s, sample_rate=self.config.sample_rate
        )
        features = spectrogram(torch.from_numpy(wave), self.config)
        return {"clip_id": row.clip_id, "features": features}


def collate_clips(items: Sequence[dict[str, object] | BadClip]) -> dict[str, object]:
    """Stack good items into ``features`` (batch, frames, bins, 2); list bad ones in ``skipped``."""
    good = [item for item in items if not isinstance(item, BadClip)]
    features = torch.stack([item["features"] for item in good]) if good else None
    return {
        "clip_id": [item["clip_id"] for item in good],
        "features": features,
        "skipped": [item for item in items if isinstance(item, BadClip)],
    }


def iterate_batches(
    dataset: ClipDataset,
    *,
    batch_size: int,
    num_workers: int = 0,
    skipped_csv: str | Path | None = None,
) -> Iterator[dict[str, object]]:
    """Yield collated batches of good clips in manifest order.

    Skipped clips are written to ``skipped_csv`` (atomically, also when iteration
    stops early); without a path, skipping is refused up front so none is lost.
    """
    if dataset.on_error == "skip" and skipped_csv is None:
        raise ValueError(SKIP_NEEDS_CSV)
    loader = DataLoader(
        dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_clips
    )
    skipped: list[BadClip] = []
    try:
        for batch in loader:
            skipped.extend(batch["skipped"])
            if batch["clip_id"]:
                yield batch
    finally:
        if skipped_csv is not None:
            write_bad_clips(skipped_csv, skipped)


class _Checks(Dataset):
    def __init__(self, dataset: ClipDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[int, BadClip | None]:
        return index, self.dataset.bad_clip(index)


def find_bad_clips(dataset: ClipDataset, *, num_workers: int = 0) -> dict[int, BadClip]:
    """Decode every clip of ``dataset`` once (no spectrograms): the bad ones by index."""
    loader = DataLoader(_Checks(dataset), batch_size=64, num_workers=num_workers, collate_fn=list)
    return {index: bad for batch in loader for index, bad in batch if bad is not None}


def read_bad_clips(path: str | Path) -> list[BadClip]:
    """The clips listed in a CSV that `write_bad_clips` wrote."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return [BadClip(*record) for record in table[list(BAD_CLIP_COLUMNS)].itertuples(index=False)]


def write_bad_clips(path: str | Path, bad_clips: Sequence[BadClip]) -> None:
    """Write ``bad_clips`` as CSV (clip_id, path, reason) atomically, safe to open."""
    table = pd.DataFrame([vars(clip) for clip in bad_clips], columns=list(BAD_CLIP_COLUMNS))
    write_csv(path, table)


def _optional_seconds(value: object) -> float | None:
    if value is None:
        return None
    seconds = float(value)
    return None if math.isnan(seconds) else seconds
