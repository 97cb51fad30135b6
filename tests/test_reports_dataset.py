"""The dataset report, rendered from a real analysis of a manifest, through the CLI too."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape

from audit.imbalance import DatasetAnalysis, analyze_dataset, findings_for
from reports.dataset import dataset_report_html
from s2f.cli import main
from s2f.commands.dataset_report import BAD_REFERENCE_SHAPE, analysis_path
from tests.browser import chromium_page
from tests.report_artifacts import HOSTILE, planted_manifest
from tests.report_browser import assert_clean, outline, screenshot, tables_wider_than_print
from tests.report_privacy import group_names, leaks, suppressed_rows

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
SECTIONS = [
    "overview",
    "composition",
    "intersections",
    "imbalance",
    "shift",
    "reference",
    "language",
    "provenance",
    "power",
    "method",
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """``s2f dataset-report`` on a planted manifest with a reference population."""
    folder = tmp_path_factory.mktemp("dataset_report")
    manifest = folder / "manifest.parquet"
    planted_manifest().to_parquet(manifest)
    shares = folder / "shares.json"
    shares.write_text('{"gender": {"female": 0.5, "male": 0.5}}')
    report = folder / "report.html"
    status = main(
        [
            "dataset-report",
            str(manifest),
            "--out",
            str(report),
            "--reference-population",
            str(shares),
            "--no-check-files",
        ]
    )
    assert status == 0
    return report


def test_command_saves_the_analysis_beside_the_report(rendered):
    analysis = DatasetAnalysis.load(analysis_path(rendered))
    expected = analyze_dataset(
        planted_manifest(), reference_population={"gender": {"female": 0.5, "male": 0.5}}
    )
    assert analysis.findings == expected.findings
    html = rendered.read_text()
    shown = [str(escape(finding)) for finding in findings_for(expected, privacy_k=5)[:4]]
    # train <20 (8 speakers) is withheld: with test <20 below k, all − train would give it
    withheld = [finding for finding in shown if "train speakers (8)" in finding]
    assert withheld and not any(finding in html for finding in withheld)
    assert "finding(s) left out" in html
    assert all(finding in html for finding in shown if finding not in withheld)


def test_report_rerenders_identically_from_the_saved_analysis(rendered):
    analysis = DatasetAnalysis.load(analysis_path(rendered))
    again = dataset_report_html(analysis, source=rendered.parent / "manifest.parquet")
    strip = lambda html: re.sub(r"Rendered [^<]* UTC", "", html)  # noqa: E731
    assert strip(again) == strip(rendered.read_text())


def test_sections_in_datasheet_order_and_nothing_fetched(rendered):
    html = rendered.read_text()
    positions = [html.index(f'<section id="{anchor}">') for anchor in SECTIONS]
    assert positions == sorted(positions)
    assert html.index("What this report finds") < positions[0]
    assert HOSTILE not in html and ESCAPED in html
    assert "http://" not in html and "https://" not in html


def test_groups_below_the_privacy_threshold_show_no_counts(rendered):
    """group_d has 3 test speakers: its row says < 5, unless the threshold is lowered."""
    analysis = DatasetAnalysis.load(analysis_path(rendered))
    html = dataset_report_html(analysis, source="m.parquet")
    row = _row(html, "test", "ethnicity", "group_d")
    assert "&lt; 5" in row and "suppressed" in row and 'data-value="3.0"' not in row
    imbalance = html[html.index('<section id="imbalance">') : html.index('<section id="shift">')]
    smallest = re.search(r"<tr><td>test</td><td>ethnicity</td>.*?</tr>", imbalance).group(0)
    assert "<td>group_d</td>" in smallest and 'data-value="nan"' in smallest  # share hidden
    shown = _row(
        dataset_report_html(analysis, source="m.parquet", privacy_k=1),
        "test",
        "ethnicity",
        "group_d",
    )
    assert 'data-value="3.0"' in shown or 'data-value="3"' in shown


def _row(html: str, split: str, slice_name: str, group: str) -> str:
    pattern = rf"<tr><td>{split}</td><td>{slice_name}</td><td>{group}</td>.*?</tr>"
    match = re.search(pattern, html)
    assert match, f"no row {split}/{slice_name}/{group}"
    return match.group(0)


def test_bad_reference_population_is_one_line_exit_2(tmp_path, capsys):
    manifest = tmp_path / "manifest.parquet"
    planted_manifest().to_parquet(manifest)
    shares = tmp_path / "shares.json"
    shares.write_text('{"gender": ["female", "male"]}')
    status = main(
        [
            "dataset-report",
            str(manifest),
            "--out",
            str(tmp_path / "r.html"),
            "--reference-population",
            str(shares),
            "--no-check-files",
        ]
    )
    error = capsys.readouterr().err
    assert status == 2
    assert BAD_REFERENCE_SHAPE.format(path=shares).split(",")[0] in error
    assert not (tmp_path / "r.html").exists()


@pytest.mark.browser
def test_dataset_report_in_chromium(rendered, tmp_path):
    with chromium_page(rendered) as driver:
        page = outline(driver)
        assert_clean(page, SECTIONS)
        widths = page.image_widths
        # 4 share charts, 6 intersection heatmaps, 1 reference chart, 1 detectable difference
        assert len(widths) == 12
        cells = [c.text for c in driver.find_elements("css selector", "td")]
        assert HOSTILE in cells
        assert page.title.startswith("Dataset composition")
        assert tables_wider_than_print(driver) == []  # printed, every table fits the page
        screenshot(driver, tmp_path / "dataset_report.png")


def test_no_number_of_a_suppressed_group_appears_anywhere(rendered):
    """Findings, tables, captions and alt text: a group below k = 5 shows no count or share."""
    analysis = DatasetAnalysis.load(analysis_path(rendered))
    hidden = suppressed_rows(
        analysis.counts,
        5,
        value_columns=["speaker_share", "clip_share", "min_detectable_difference"],
        split=True,
    )
    assert any(s.labels == ("ethnicity", "group_d") and s.split == "test" for s in hidden)
    html = rendered.read_text()
    assert leaks(html, hidden, names=group_names(analysis.counts)) == []
    finding = next(f for f in findings_for(analysis, privacy_k=5) if "ethnicity group_d" in f)
    assert "with fewer than 5 test speakers" in finding
    unfiltered = "".join(f"<li>{escape(f)}</li>" for f in findings_for(analysis, privacy_k=1))
    assert any("'3' in 'with 3 test speakers" in leak for leak in leaks(unfiltered, hidden))


def test_a_lone_suppressed_group_cannot_be_recovered_by_subtraction(rendered):
    """test/ethnicity hides only group_d (3 speakers): the next-smallest group (the hostile
    name, 6) is withheld too, so the split total minus the groups shown is 9, not 3."""
    analysis = DatasetAnalysis.load(analysis_path(rendered))
    html = dataset_report_html(analysis, source="m.parquet")
    assert "&lt; 5" in _row(html, "test", "ethnicity", "group_d")
    hostile = _row(html, "test", "ethnicity", re.escape(ESCAPED))
    assert "withheld" in hostile and 'data-value="6' not in hostile and "18" not in hostile
    counts = analysis.counts
    test = counts[(counts["split"] == "test") & (counts["slice"] == "ethnicity")]
    shown = {"speakers": 0, "clips": 0}
    hidden = 0
    for group in test["group"]:
        row = _row(html, "test", "ethnicity", re.escape(str(escape(group))))
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        if cells[3].replace(",", "").isdigit():
            shown["speakers"] += int(cells[3].replace(",", ""))
            shown["clips"] += int(cells[4].replace(",", ""))
        else:
            hidden += 1
    assert hidden >= 2
    total = test[["n_speakers", "n_clips"]].sum()
    assert total["n_speakers"] - shown["speakers"] == 9  # group_d's 3 with the hostile 6
    assert total["n_clips"] - shown["clips"] == 27
    # the share chart and the findings give no number for the withheld group either
    assert all(ESCAPED not in f or "test" not in f for f in re.findall(r"<li>.*?</li>", html))


def test_a_suppressed_split_cannot_be_recovered_from_the_other_splits(rendered):
    """group_d has 11 speakers: 8 in train, 3 in test. With ``all`` and ``train`` shown,
    test = 11 - 8; so a group's split rows are a line too, and no group shows every row
    but one."""
    analysis = DatasetAnalysis.load(analysis_path(rendered))
    html = dataset_report_html(analysis, source="m.parquet")
    counts = analysis.counts
    assert set(counts["split"]) == {"all", "train", "test"}
    one_column = counts[~counts["slice"].str.contains(" & ")]
    for (slice_name, group), rows in one_column.groupby(["slice", "group"]):
        hidden = 0
        for split in rows["split"]:
            row = _row(html, split, slice_name, re.escape(str(escape(group))))
            speakers = re.findall(r"<td[^>]*>(.*?)</td>", row)[3]
            hidden += not speakers.replace(",", "").isdigit()
        assert hidden != 1, f"{slice_name}/{group}: one split hidden, recoverable"
    assert "withheld" in _row(html, "train", "ethnicity", "group_d")


def test_protected_lines_across_splits():
    import pandas as pd

    from reports._format import protected

    counts = pd.DataFrame(
        {
            "split": ["all", "train", "test", "all", "train", "test"],
            "slice": ["e"] * 6,
            "group": ["d", "d", "d", "a", "a", "a"],
            "n_speakers": [11, 8, 3, 130, 90, 40],
        }
    )
    within = protected(counts, by=["split", "slice"], privacy_k=5)
    assert within.tolist() == [False, False, True, False, False, True]
    across = protected(counts, by=["split", "slice"], privacy_k=5, across=["split"])
    assert across.tolist() == [False, True, True, False, True, True]


def test_complementary_suppression_covers_rows_and_columns_of_intersections():
    """One small cell of a 2 × 2 intersection: its row, its column and its slice each hide
    a second cell, and lines are re-checked until every one hides two or none."""
    import pandas as pd

    from reports._format import protected

    cells = pd.DataFrame(
        {
            "slice": ["gender & age"] * 4 + ["gender"] * 2,
            "group": ["f & 20", "f & 30", "m & 20", "m & 30", "f", "m"],
            "n_speakers": [2, 50, 40, 60, 52, 100],
        }
    )
    hidden = protected(cells, by=["slice"], privacy_k=5)
    assert hidden.tolist() == [True, True, True, True, False, False]
    single = pd.DataFrame({"slice": ["g"] * 3, "group": ["a", "b", "c"], "n_speakers": [3, 2, 9]})
    # two groups below k hide only 5 speakers together: still one more (the smallest shown)
    assert protected(single, by=["slice"], privacy_k=6).tolist() == [True, True, True]
    assert protected(single, by=["slice"], privacy_k=5).tolist() == [True, True, False]
    none = single.assign(n_speakers=[30, 20, 0])
    assert not protected(none, by=["slice"], privacy_k=5).any()
