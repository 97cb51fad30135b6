"""The comparison report, rendered from a real paired comparison of two audited models."""

from __future__ import annotations

import dataclasses
import re

import pytest
from markupsafe import escape
from selenium.common.exceptions import NoAlertPresentException

from audit.compare import ComparisonResult, compare_audits
from audit.engine import run_audit
from reports import render_comparison_report
from reports._format import difference_formatter, interval
from reports.comparison import comparison_report_html
from tests.browser import chromium_page
from tests.report_artifacts import (
    HOSTILE,
    REGRESSED_GROUP,
    TINY_LANGUAGE,
    planted_predictions,
    retrained_predictions,
)
from tests.report_browser import assert_clean, outline, screenshot, tables_wider_than_print
from tests.report_privacy import group_names, leaks, suppressed_rows

SECTIONS = ["regressions", "disparities", "changes", "models", "method", "caveats", "ethics"]
OPTIONS = {
    "slices": ["gender", "ethnicity", "language"],
    "metrics": ["s2f_gender_agreement", "f2f_gender_agreement", "feature_cosine_score"],
    "n_boot": 100,
    "fairlearn_views": False,
}


@pytest.fixture(scope="module")
def audits():
    baseline = planted_predictions()
    return [run_audit(p, **OPTIONS) for p in (baseline, retrained_predictions(baseline))]


@pytest.fixture(scope="module")
def comparison_folder(tmp_path_factory, audits):
    folder = compare_audits(audits).save(tmp_path_factory.mktemp("compare") / "comparison")
    render_comparison_report(ComparisonResult.load(folder), folder / "report.html")
    return folder


@pytest.fixture(scope="module")
def html(comparison_folder):
    return (comparison_folder / "report.html").read_text()


def test_regressions_come_first_with_the_paired_change_and_its_interval(comparison_folder, html):
    comparison = ComparisonResult.load(comparison_folder)
    changes, candidate = comparison.changes, comparison.summary["models"][1]["model_id"]
    row = changes[
        (changes["metric"] == "s2f_gender_agreement")
        & (changes["slice"] == "ethnicity")
        & (changes["group"] == REGRESSED_GROUP)
    ].iloc[0]
    assert row["regression"]
    positions = [html.index(f'<section id="{anchor}">') for anchor in SECTIONS]
    assert positions == sorted(positions)
    regressions = html[positions[0] : positions[1]]
    found = re.search(
        rf"<tr><td[^>]*>{re.escape(str(escape(candidate)))}</td><td>s2f_gender_agreement</td>"
        rf"<td>ethnicity</td>"
        rf"<td>{REGRESSED_GROUP}</td>.*?</tr>",
        regressions,
    ).group(0)
    assert difference_formatter("proportion")(row["delta"]) in found
    assert interval(row["delta_ci_low"], row["delta_ci_high"], "proportion", signed=True) in found
    assert "regression" in found


def test_unchanged_group_is_not_a_regression_and_tiny_group_is_not_shown(html):
    """group_a's own agreement did not change: at most its gap to the reference moved."""
    regressions = html[: html.index('<section id="disparities">')]
    rows = re.findall(
        r"<td>s2f_gender_agreement</td><td>ethnicity</td><td>group_a</td>.*?</tr>", regressions
    )
    assert not any('"badge flag">regression<' in row for row in rows)
    assert f"<td>{TINY_LANGUAGE}</td>" not in html
    assert HOSTILE not in html and "&lt;script&gt;" in html


def test_every_shown_change_is_tabulated_per_metric_with_its_interval(comparison_folder, html):
    """Not only regressions and moved gaps: each metric has a folded table of every group's
    paired change (f2f_gender_agreement has no figure and no regression, but its table)."""
    comparison = ComparisonResult.load(comparison_folder)
    changes, models = comparison.changes, comparison.summary["models"]
    shown = changes[changes["n_speakers"] >= 5]
    section = html[html.index('<section id="changes">') : html.index('<section id="models">')]
    for metric, rows in shown.groupby("metric"):
        start = section.index(f"<caption>changes.parquet rows with metric = {metric}</caption>")
        table = section[start : section.index("</table>", start)]
        summary = section[:start].rsplit("<summary>", 1)[1]
        assert summary.startswith(f"Table: {metric} for every group and intersection")
        assert table.count("<tr><td") == len(rows)  # every row, overall and intersections too
        unit = comparison.spec(metric)["unit"]
        for row in rows.itertuples():
            found = re.search(
                rf"<tr><td[^>]*>{re.escape(str(escape(models[row.model]['model_id'])))}</td>"
                rf"<td>{re.escape(str(escape(row.slice)))}</td>"
                rf"<td>{re.escape(str(escape(row.group)))}</td>.*?</tr>",
                table,
            ).group(0)
            assert f'data-value="{row.delta}"' in found
            ci = interval(row.delta_ci_low, row.delta_ci_high, unit, signed=True)
            assert ci in found
    assert section.count("<details><summary>Table: ") == shown["metric"].nunique()


@pytest.mark.browser
def test_comparison_report_in_chromium(comparison_folder, tmp_path):
    with chromium_page(comparison_folder / "report.html") as driver:
        page = outline(driver)
        assert_clean(page, SECTIONS)
        widths = page.image_widths
        assert len(widths) == 2  # s2f agreement and cosine, one model
        rows = driver.find_elements("css selector", "#regressions tbody tr")
        assert "overall all" in rows[0].text  # overall first, then the largest group change
        assert f"ethnicity {REGRESSED_GROUP}" in rows[1].text
        assert page.title == f"Comparison: planted-{HOSTILE} vs retrained"
        models = [c.text for c in driver.find_elements("css selector", "#models td")]
        assert f"planted-{HOSTILE}" in models  # the hostile model id, shown as text
        assert tables_wider_than_print(driver) == []  # printed, every table fits the page
        groups = [c.text for c in driver.find_elements("css selector", "#changes td")]
        assert HOSTILE in groups  # the hostile language group, as cell text of an open table
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert  # noqa: B018 - the hostile name ran no script
        screenshot(driver, tmp_path / "comparison_report.png")


def test_no_number_of_a_suppressed_group_appears_anywhere(comparison_folder, html):
    changes = ComparisonResult.load(comparison_folder).changes
    hidden = suppressed_rows(
        changes, 5, value_columns=["value", "value_baseline", "delta", "gap_change_toward_parity"]
    )
    assert any(s.labels == ("language", TINY_LANGUAGE) for s in hidden)
    assert leaks(html, hidden, names=group_names(changes)) == []


def test_caveats_and_ethics_as_in_the_audit_report(comparison_folder, audits, html):
    """The comparison records the baseline audit's label provenance; inferred labels get the
    audit report's caveat; a comparison saved without provenance says so."""
    caveats = html[html.index('<section id="caveats">') : html.index('<section id="ethics">')]
    comparison = ComparisonResult.load(comparison_folder)
    provenance = audits[0].summary["label_provenance"]
    assert comparison.summary["label_provenance"] == provenance
    assert "ethnicity = group_d" in caveats  # 12 speakers: insufficient, listed by name
    assert f"language = {TINY_LANGUAGE}" in caveats  # 3 speakers: suppressed, named only
    assert "Attribute classifier domain gap" in caveats
    assert "average-looking face" in html[html.index('<section id="ethics">') :]
    inferred = provenance["ethnicity"]["inferred"]
    assert f"Inferred labels: ethnicity.</strong> {inferred} of" in caveats
    findings = html[: html.index('<section id="regressions">')]
    assert f"ethnicity labels are inferred for {inferred} of" in findings
    assert "Label provenance not recorded" not in html
    unrecorded = dict(comparison.summary)
    del unrecorded["label_provenance"]
    old = comparison_report_html(dataclasses.replace(comparison, summary=unrecorded), source="c")
    assert "Label provenance not recorded" in old


def test_header_names_the_duration_and_durations_that_differ(comparison_folder, html):
    assert '<p class="subtitle">Clips evaluated at 6 s of speech.</p>' in html
    comparison = ComparisonResult.load(comparison_folder)
    models = [dict(m) for m in comparison.summary["models"]]
    models[1]["duration_s"] = 3.0
    changed = dataclasses.replace(comparison, summary={**comparison.summary, "models": models})
    assert (
        "evaluated at different durations: planted-&lt;script&gt;alert(1)&lt;/script&gt; at 6 s, "
        "retrained at 3 s (the first is the baseline)."
    ) in comparison_report_html(changed, source="c")
