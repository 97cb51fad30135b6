"""``s2f conditions``: one row per clip, cached by content, resumable, same for any --workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from s2f.cli import main
from speech2face.audio import conditions_table
from speech2face.audio.conditions import CONDITION_COLUMNS
from speech2face.audio.conditions_table import (
    TABLE_COLUMNS,
    build_conditions_table,
    parts_dir,
    read_conditions,
)


@pytest.fixture
def corpus(tmp_path):
    """A CSV manifest of 8 clips: tones in noise at 16 and 8 kHz, a window, a duplicate,
    an undecodable file and a missing one."""
    rng = np.random.default_rng(0)
    rows = []
    for index, (rate, level) in enumerate([(16000, 0.3), (16000, 0.05), (8000, 0.2), (8000, 0.5)]):
        t = np.arange(rate * 3) / rate
        wave = level * np.sin(2 * np.pi * 300 * t) * (t % 1 < 0.6) + 0.01 * rng.standard_normal(
            t.size
        )
        sf.write(tmp_path / f"c{index}.wav", wave, rate)
        rows.append((f"c{index}", f"c{index}.wav", "", ""))
    rows += [("window", "c0.wav", "0.5", "2.0"), ("same", "c1.wav", "", "")]
    (tmp_path / "bad.wav").write_bytes(b"not audio" * 50)
    rows += [("bad", "bad.wav", "", ""), ("gone", "gone.wav", "", "")]
    lines = ["clip_id,speaker_id,split,audio_path,start_s,end_s"]
    lines += [
        f"{clip},s{n},test,{audio},{start},{end}"
        for n, (clip, audio, start, end) in enumerate(rows)
    ]
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


@pytest.fixture
def counted(monkeypatch):
    """The number of clips measured in this process."""
    calls = []
    real = conditions_table.measure_clip

    def measure(path, **window):
        calls.append(path)
        return real(path, **window)

    monkeypatch.setattr(conditions_table, "measure_clip", measure)
    return calls


def _run(corpus, *extra):
    return main(
        [
            "conditions",
            str(corpus / "manifest.csv"),
            "--out",
            str(corpus / "c.parquet"),
            "--no-progress",
            *extra,
        ]
    )


def test_one_row_per_clip_with_reasons_for_bad_audio(corpus, counted, capsys):
    assert _run(corpus) == 0
    table = read_conditions(corpus / "c.parquet")
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert table["clip_id"].tolist() == ["c0", "c1", "c2", "c3", "window", "same", "bad", "gone"]
    assert table["sample_rate_original"].tolist()[:4] == [16000, 16000, 8000, 8000]
    good, bad = table.iloc[:6], table.set_index("clip_id").loc[["bad", "gone"]]
    assert (good["reason"] == "").all() and good[list(CONDITION_COLUMNS)].notna().all().all()
    assert bad[list(CONDITION_COLUMNS)].isna().all().all()
    assert "not a readable audio file" in bad.loc["bad", "reason"]
    assert "not found" in bad.loc["gone", "reason"]
    assert table.loc[4, "speech_s"] <= 1.5  # the 1.5 s window alone
    assert len(counted) == 6  # "same" shares c1's bytes and window; "gone" has no file
    assert "8 clips (2 undecodable)" in capsys.readouterr().out
    assert not parts_dir(corpus / "c.parquet").exists()


def test_a_rerun_measures_nothing_and_a_changed_file_alone(corpus, counted):
    assert _run(corpus) == 0
    first = read_conditions(corpus / "c.parquet")
    counted.clear()
    assert _run(corpus) == 0
    assert counted == []
    pd.testing.assert_frame_equal(read_conditions(corpus / "c.parquet"), first)
    sf.write(corpus / "c2.wav", np.full(8000, 0.99), 8000)
    assert _run(corpus) == 0
    assert [Path(path).name for path in counted] == ["c2.wav"]


def test_a_killed_run_resumes_from_its_parts(corpus, counted, monkeypatch):
    from speech2face.manifest.io import read_manifest

    manifest = read_manifest(corpus / "manifest.csv")
    out = corpus / "c.parquet"
    real = conditions_table._measure_windows

    def dies_on_third_batch(windows, *, vad):
        if len(counted) >= 4:
            raise KeyboardInterrupt
        return real(windows, vad=vad)

    monkeypatch.setattr(conditions_table, "_measure_windows", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        build_conditions_table(manifest, base_dir=corpus, out=out, batch_size=2)
    assert len(list(parts_dir(out).glob("part-*.parquet"))) == 2 and not out.exists()
    monkeypatch.setattr(conditions_table, "_measure_windows", real)
    counted.clear()
    resumed = build_conditions_table(manifest, base_dir=corpus, out=out, batch_size=2)
    assert len(counted) == 2
    fresh = build_conditions_table(manifest, base_dir=corpus, out=corpus / "fresh.parquet")
    pd.testing.assert_frame_equal(resumed, fresh)


def test_two_workers_write_the_same_table(corpus):
    from speech2face.manifest.io import read_manifest

    manifest = read_manifest(corpus / "manifest.csv")
    one = build_conditions_table(
        manifest, base_dir=corpus, out=corpus / "one.parquet", batch_size=2
    )
    two = build_conditions_table(
        manifest, base_dir=corpus, out=corpus / "two.parquet", batch_size=2, workers=2
    )
    pd.testing.assert_frame_equal(one, two)


@pytest.mark.parametrize(
    ("manifest", "out", "extra", "message"),
    [
        ("missing.csv", "c.parquet", (), "no such manifest"),
        ("no_split.csv", "c.parquet", (), "split"),
        ("manifest.csv", "c.parquet", ("--workers", "0"), "--workers must be at least 1"),
        ("manifest.csv", "c.csv", (), "written as Parquet"),
        ("manifest.csv", "folder.parquet", (), "is a folder"),
        ("manifest.csv", "garbage.parquet", (), "cannot be read"),
        ("manifest.csv", "other.parquet", (), "not a conditions table"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(corpus, capsys, manifest, out, extra, message):
    (corpus / "no_split.csv").write_text("clip_id,speaker_id,audio_path\na,s,c0.wav\n")
    (corpus / "folder.parquet").mkdir()
    (corpus / "garbage.parquet").write_bytes(b"not parquet")
    pd.DataFrame({"x": [1]}).to_parquet(corpus / "other.parquet")
    status = main(["conditions", str(corpus / manifest), "--out", str(corpus / out), *extra])
    error = capsys.readouterr().err
    assert status == 2 and message in error and len(error.strip().splitlines()) == 1
