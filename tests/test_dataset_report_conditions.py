"""``s2f dataset-report --conditions``: recording conditions per group, private, re-rendered."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from audit.imbalance import DatasetAnalysis
from reports.dataset import dataset_report_html
from s2f.cli import main
from s2f.commands.dataset_report import analysis_path
from speech2face.audio.conditions_table import TABLE_COLUMNS

# ethnicity: speakers per group; group_c is below the privacy threshold (5) and group_a,
# the next smallest, is withheld with it so that group_c cannot be recovered from the rest
SPEAKERS = {"group_a": 8, "group_b": 10, "group_c": 3, "group_d": 12}
NOISY = "group_b"


def _manifest_and_conditions() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    rows, measured = [], []
    speaker = 0
    for group, n in SPEAKERS.items():
        for _ in range(n):
            gender = ["female", "male"][speaker % 2]
            for clip in range(2):
                clip_id = f"s{speaker}c{clip}"
                rows.append(
                    {
                        "clip_id": clip_id,
                        "speaker_id": f"s{speaker}",
                        "audio_path": f"a/{clip_id}.wav",
                        "split": "test" if speaker % 3 == 0 else "train",
                        "gender": gender,
                        "ethnicity": group,
                        "language": "en",
                    }
                )
                snr = rng.uniform(5, 12) if group == NOISY else rng.uniform(25, 40)
                measured.append(
                    {
                        "clip_id": clip_id,
                        "audio_path": f"a/{clip_id}.wav",
                        "content_sha256": f"{speaker:064d}",
                        "start_s": np.nan,
                        "end_s": np.nan,
                        "measure_key": "1/test",
                        "speech_s": rng.uniform(3, 6),
                        "snr_db": snr,
                        "loudness_lufs": rng.uniform(-26, -20),
                        "clipping_fraction": 0.0,
                        "bandwidth_hz": 3400.0 if group == NOISY else rng.uniform(5000, 7000),
                        "sample_rate_original": 16000,
                        "reason": "",
                    }
                )
            speaker += 1
    return pd.DataFrame(rows), pd.DataFrame(measured)[list(TABLE_COLUMNS)]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conditions_report")
    manifest, conditions = _manifest_and_conditions()
    manifest.to_parquet(folder / "manifest.parquet")
    conditions.to_parquet(folder / "conditions.parquet")
    report = folder / "report.html"
    argv = ["dataset-report", str(folder / "manifest.parquet"), "--out", str(report)]
    argv += ["--conditions", str(folder / "conditions.parquet"), "--no-check-files"]
    assert main(argv) == 0
    return report, manifest, conditions


def _section(html: str) -> str:
    start = html.index('<section id="conditions">')
    return html[start : html.index("</section>", start)]


def _row(section: str, group: str) -> str:
    match = re.search(rf"<tr><td>{group}</td>.*?</tr>", section)
    assert match, f"no row for {group}"
    return match.group(0)


def test_section_shows_each_groups_median_and_iqr_and_the_finding(rendered):
    report, manifest, conditions = rendered
    section = _section(report.read_text())
    assert "Recording conditions per group" in report.read_text()
    snr = conditions.set_index("clip_id")["snr_db"]
    for group in ("group_b", "group_d"):  # shown: 10 and 12 speakers
        values = snr[manifest.loc[manifest["ethnicity"] == group, "clip_id"]].to_numpy()
        q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
        assert f"{median:.1f} [{q1:.1f}–{q3:.1f}]" in _row(section, group)
    # group_b's SNR and bandwidth are far below the rest's: findings, marked, in the summary too
    assert "snr_db of ethnicity=group_b clips: median" in section
    assert "bandwidth_hz of ethnicity=group_b clips: median 3400 Hz" in section
    snr_cell = re.findall(r"<td>(.*?)</td>", _row(section, "group_b"))[2]  # speech_s, snr_db
    assert snr_cell.endswith(" ▼ " + f"{_smd(manifest, snr, 'group_b'):+.2f}")
    findings = report.read_text().split('<section id="overview">')[0]
    assert "snr_db of ethnicity=group_b clips" in findings


def _smd(manifest, values, group):
    inside = manifest["ethnicity"] == group
    a = values[manifest.loc[inside, "clip_id"]].to_numpy()
    b = values[manifest.loc[~inside, "clip_id"]].to_numpy()
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    return (a.mean() - b.mean()) / np.sqrt(pooled)


def test_saved_analysis_keeps_the_summary_and_rerenders_identically(rendered):
    report, _, _ = rendered
    analysis = DatasetAnalysis.load(analysis_path(report))
    assert len(analysis.conditions) and analysis.settings["conditions"]["n_clips_unmeasured"] == 0
    assert len(analysis.settings["conditions"]["sha256"]) == 64
    again = dataset_report_html(analysis, source=report.parent / "manifest.parquet")
    strip = lambda html: re.sub(r"Rendered [^<]* UTC", "", html)  # noqa: E731
    assert strip(again) == strip(report.read_text())


def test_no_number_of_a_suppressed_or_withheld_group_appears(rendered):
    """group_c (3 speakers) shows none of its numbers, nor does group_a (withheld so that
    group_c is not the only hidden group); with the threshold at 1 they are shown."""
    report, manifest, conditions = rendered
    html = report.read_text()
    section = _section(html)
    assert "&lt; 5 speakers" in _row(section, "group_c")
    assert "withheld" in _row(section, "group_a")
    measured = conditions.set_index("clip_id")
    for group in ("group_c", "group_a"):
        row = _row(section, group).replace(group, "").replace("&lt; 5 speakers", "")
        assert not re.search(r"\d", row)
        values = measured.loc[manifest.loc[manifest["ethnicity"] == group, "clip_id"]]
        for measure in ("snr_db", "speech_s", "loudness_lufs", "bandwidth_hz"):
            q1, median, q3 = np.quantile(values[measure], [0.25, 0.5, 0.75])
            digits = ".0f" if measure == "bandwidth_hz" else ".1f"
            cell = f"{median:{digits}} [{q1:{digits}}–{q3:{digits}}]"
            sentence = f"median {median:{digits}}"
            assert cell not in html and f"{sentence} (IQR" not in html, (group, measure)
    opened = _section(
        dataset_report_html(DatasetAnalysis.load(analysis_path(report)), source="m", privacy_k=1)
    )
    assert "[" in _row(opened, "group_c") and "[" in _row(opened, "group_a")


@pytest.mark.parametrize("problem", ["missing", "garbage", "other_table"])
def test_a_bad_conditions_table_is_a_one_line_error(tmp_path, capsys, problem):
    manifest, conditions = _manifest_and_conditions()
    manifest.to_parquet(tmp_path / "manifest.parquet")
    table = tmp_path / "conditions.parquet"
    if problem == "missing":
        conditions.iloc[3:].to_parquet(table)
    elif problem == "garbage":
        table.write_bytes(b"not parquet" * 20)
    else:
        manifest.to_parquet(table)
    argv = ["dataset-report", str(tmp_path / "manifest.parquet"), "--out"]
    argv += [str(tmp_path / "r.html"), "--conditions", str(table), "--no-check-files"]
    assert main(argv) == 2
    error = [line for line in capsys.readouterr().err.splitlines() if "analysing" not in line]
    assert len(error) == 1 and str(table) in error[0]
    if problem == "missing":
        assert "3 clip(s) are not in the conditions table" in error[0]
    assert not (tmp_path / "r.html").exists()
