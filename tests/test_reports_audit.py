"""The audit report, rendered from a real audit of predictions with planted effects."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from audit.engine import run_audit
from audit.result import AuditResult
from audit.simulate import simulate_predictions
from reports import _audit_figures, render_audit_report
from reports import _figures as figures
from reports._audit_view import AuditView
from reports._format import difference_formatter, interval, value_formatter
from reports.audit import audit_report_html
from tests.browser import chromium_page
from tests.report_artifacts import (
    HOSTILE,
    LOW_AGREEMENT_GROUP,
    TINY_LANGUAGE,
    planted_predictions,
)
from tests.report_browser import assert_clean, outline, screenshot, tables_wider_than_print
from tests.report_privacy import group_names, leaks, suppressed_rows

METRIC = "s2f_gender_agreement"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
SECTIONS = [
    "model",
    "data",
    "method",
    "flags",
    "groups",
    "confusion",
    "retrieval",
    "decomposition",
    "craniofacial",
    "duration",
    "caveats",
    "ethics",
]
AUDIT_OPTIONS = {
    "slices": ["gender", "ethnicity", "language", "duration_s"],
    "n_boot": 60,
    "fairlearn_views": False,
}


@pytest.fixture(scope="module")
def audit_folder(tmp_path_factory):
    """A saved audit of every metric, with its report written as ``s2f audit`` would."""
    folder = tmp_path_factory.mktemp("audit") / "audit"
    run_audit(planted_predictions(), **AUDIT_OPTIONS).save(folder)
    render_audit_report(AuditResult.load(folder), folder / "report.html")
    return folder


@pytest.fixture(scope="module")
def html(audit_folder):
    return (audit_folder / "report.html").read_text()


def test_sections_follow_the_model_card_with_findings_first(html):
    positions = [html.index(f'<section id="{anchor}">') for anchor in SECTIONS]
    assert positions == sorted(positions)
    assert html.index("What this report finds") < positions[0]


def test_user_strings_are_escaped_and_nothing_is_fetched(html):
    assert HOSTILE not in html
    assert html.count(ESCAPED) >= 3  # title, model id, language group
    assert "http://" not in html and "https://" not in html


def test_flagged_disparity_is_reported_with_its_groups_parquet_numbers(audit_folder, html):
    groups = AuditResult.load(audit_folder).groups
    row = groups[
        (groups["metric"] == "s2f_gender_agreement")
        & (groups["slice"] == "ethnicity")
        & (groups["group"] == LOW_AGREEMENT_GROUP)
    ].iloc[0]
    assert row["flag"]
    flags = html[html.index('<section id="flags">') : html.index('<section id="groups">')]
    expected_difference = difference_formatter("proportion")(row["difference"])
    expected_interval = interval(row["diff_ci_low"], row["diff_ci_high"], "proportion", signed=True)
    flagged_row = re.search(
        rf"<tr><td>s2f_gender_agreement</td><td>ethnicity</td><td>{LOW_AGREEMENT_GROUP}</td>"
        r".*?</tr>",
        flags,
    ).group(0)
    assert expected_difference in flagged_row and expected_interval in flagged_row
    assert f'data-value="{row["difference"]}"' in flagged_row


def test_inferred_labels_and_insufficient_groups_are_caveated(html):
    caveats = html[html.index('<section id="caveats">') : html.index('<section id="ethics">')]
    assert "Inferred labels: ethnicity" in caveats
    assert "ethnicity = group_d" in caveats  # 12 speakers: insufficient, listed, not hidden
    assert f"language = {TINY_LANGUAGE}" in caveats  # 3 speakers: suppressed, named only
    assert "average-looking face" in html


def test_tiny_group_values_are_suppressed_unless_configured():
    """language sw has 3 speakers: below k = 5 its numbers are hidden; k = 1 shows them."""
    result = run_audit(planted_predictions(), **{**AUDIT_OPTIONS, "metrics": [METRIC]})
    result = dataclasses.replace(result, confusion=result.confusion.iloc[:0])
    sw = result.groups[
        (result.groups["slice"] == "language") & (result.groups["group"] == TINY_LANGUAGE)
    ].iloc[0]
    hidden = _table_row(audit_report_html(result, source="a", privacy_k=5), TINY_LANGUAGE)
    shown = _table_row(audit_report_html(result, source="a", privacy_k=1), TINY_LANGUAGE)
    assert f'data-value="{sw["value"]}"' in shown and "3" in shown
    assert f'data-value="{sw["value"]}"' not in hidden and "suppressed" in hidden
    assert "&lt; 5" in hidden and ">3<" not in hidden


def _table_row(html: str, group: str) -> str:
    """The row of ``language = group`` in the per-group table of the forest-plotted metric."""
    table = html[html.index('<section id="groups">') :]
    return re.search(rf"<tr><td>language</td><td>{group}</td>.*?</tr>", table).group(0)


@pytest.mark.browser
def test_audit_report_in_chromium(audit_folder, tmp_path):
    with chromium_page(audit_folder / "report.html") as driver:
        page = outline(driver)
        assert_clean(page, SECTIONS)
        widths = page.image_widths
        assert len(widths) >= 15
        alts = driver.execute_script("return Array.from(document.images).map(i => i.alt)")
        assert "Forest plot of s2f_gender_agreement per group" in alts
        assert any(alt.startswith("recall@k per group") for alt in alts)
        cells = [c.text for c in driver.find_elements("css selector", "#data td")]
        assert HOSTILE in cells
        assert page.title == f"Audit of planted-{HOSTILE}"
        folded = "return Array.from(document.querySelectorAll('details')).map(d => d.open)"
        assert not any(driver.execute_script(folded))
        driver.execute_script("window.dispatchEvent(new Event('beforeprint'))")
        assert all(driver.execute_script(folded))  # printed, every table is open
        assert tables_wider_than_print(driver) == []  # printed, every table fits the page
        screenshot(driver, tmp_path / "audit_report.png")


def test_header_names_the_evaluated_duration_and_the_other_one(audit_folder, html):
    """The audit evaluates 6 s (the longest); the 3 s rows are pointed to a comparison."""
    assert AuditResult.load(audit_folder).duration_s == 6.0
    header = html[: html.index("<nav")]
    assert (
        '<p class="subtitle">Clips evaluated at 6 s of speech (the predictions also hold 3 s).'
        in header
    )
    duration = html[html.index('<section id="duration">') : html.index('<section id="caveats">')]
    assert "s2f audit PREDICTIONS --duration 3 --out AUDIT_3S" in duration
    assert "s2f compare AUDIT AUDIT_3S --out DURATIONS" in duration
    assert "Every number in this report is for the 6 s clips." in duration
    assert "This report therefore shows no 3 s value." in duration


def test_duration_section_gives_the_headline_values_of_the_audited_duration(audit_folder, html):
    """The 6 s column of a durations table: each headline metric over all clips, with its CI."""
    result = AuditResult.load(audit_folder)
    duration = html[html.index('<section id="duration">') : html.index('<section id="caveats">')]
    assert '<th scope="col">value at 6 s</th>' in duration
    specs = {m["name"]: m for m in result.summary["metrics"]}
    overall = result.groups[result.groups["slice"] == "overall"].set_index("metric")
    for metric in ("s2f_gender_agreement", "feature_cosine_score"):
        row, unit = overall.loc[metric], specs[metric]["unit"]
        found = re.search(rf"<tr><td>{metric}</td>.*?</tr>", duration).group(0)
        assert f">{value_formatter(unit)(row['value'])}<" in found
        assert interval(row["ci_low"], row["ci_high"], unit) in found
        assert f">{row['n_speakers']}<" in found


def test_header_without_a_recorded_duration_says_nothing_of_it(audit_folder):
    result = AuditResult.load(audit_folder)
    summary = {key: value for key, value in result.summary.items() if key != "duration_s"}
    html = audit_report_html(dataclasses.replace(result, summary=summary), source="a")
    assert 'class="subtitle"' not in html and '<section id="duration">' not in html


def test_minimal_audit_without_flags_leaves_out_sections_it_has_no_data_for():
    """Equal true rates (no disparity), gender columns only: no retrieval, no durations."""
    predictions = simulate_predictions(
        {"group_a": 0.8, "group_b": 0.8}, speakers_per_group=40, clips_per_speaker=3
    )
    html = audit_report_html(run_audit(predictions, n_boot=100, fairlearn_views=False), source="a")
    sections = re.findall(r'<section id="(\w+)">', html)
    assert sections == [
        "model",
        "data",
        "method",
        "flags",
        "groups",
        "confusion",
        "caveats",
        "ethics",
    ]
    assert "No disparity is flagged" in html
    assert "0 disparities flagged" in html


def test_no_number_of_a_suppressed_group_appears_anywhere(audit_folder, html):
    """Language sw (3 speakers) and intersections below k = 5: no count or value anywhere."""
    groups = AuditResult.load(audit_folder).groups
    hidden = suppressed_rows(groups, 5, value_columns=["value", "difference"])
    assert any(s.labels == ("language", TINY_LANGUAGE) for s in hidden)
    assert leaks(html, hidden, names=group_names(groups)) == []
    assert leaks(audit_report_html(AuditResult.load(audit_folder), source="a", privacy_k=1), hidden)


def test_every_metric_has_a_forest_plot(audit_folder, html):
    """Headline metrics get a full forest plot; every other one a panel of a folded grid."""
    metrics = set(AuditResult.load(audit_folder).metrics)
    alts = re.findall(r'<img alt="Forest plots? of ([^"]+) per group"', html)
    plotted = [name for alt in alts for name in alt.split(", ")]
    assert sorted(plotted) == sorted(metrics)  # each exactly once
    groups = html[html.index('<section id="groups">') : html.index('<section id="confusion">')]
    folded = groups[groups.index("Every other metric") :]
    assert folded.count("<details><summary>") == len(
        {m["family"] for m in AuditResult.load(audit_folder).summary["metrics"]}
    )


def test_flags_in_groups_below_privacy_k_are_counted_not_shown(audit_folder):
    result = AuditResult.load(audit_folder)
    flags = result.flags()
    k = int(flags["n_speakers"].max()) + 1  # every flagged group falls below k
    page = audit_report_html(result, source="a", privacy_k=k)
    text = re.sub(r"<[^>]+>", "", page)
    assert "0 disparities flagged" in text
    assert (
        f"{len(flags)} more flagged disparities are in or against groups of fewer than {k} "
        "speakers, not shown for privacy" in text
    )
    assert "No flagged disparity can be shown." in text and "No disparity is flagged" not in text


def test_a_reference_below_privacy_k_gives_no_difference(tmp_path):
    """A 3-speaker group named as the reference with ``--min-speakers 2``: every other
    group's difference from it would give its value (group_b 93.8%, "+93.8 pts against
    tiny3" reads tiny3 = 0%), so the report shows none of them and no flag against it."""
    predictions = planted_predictions()
    table = predictions.table.copy()
    tiny = table["speaker_id"].isin(
        table.loc[table["ethnicity"] == "group_a", "speaker_id"].unique()[:3]
    )
    table.loc[tiny, "ethnicity"] = "tiny3"
    table.loc[tiny, "s2f_gender"] = table.loc[tiny, "true_gender"].map(
        {"female": "male", "male": "female"}
    )
    table["snr_db"] = np.random.default_rng(0).uniform(5, 30, len(table))
    result = run_audit(
        dataclasses.replace(predictions, table=table),
        n_boot=50,
        min_speakers=2,
        reference={"ethnicity": "tiny3"},
        adjust_for=("snr_db",),
        fairlearn_views=False,
    )
    against = result.groups[(result.groups["reference"] == "tiny3")]
    assert against["difference"].notna().any() and against["adjusted_difference"].notna().any()
    assert (result.flags()["reference"] == "tiny3").any()
    view = AuditView.of(result, 5)
    shown = view.groups[view.groups["reference"] == "tiny3"]
    relative = ["difference", "diff_ci_low", "ratio", "p_adjusted", "adjusted_difference"]
    assert shown[relative].isna().all().all()
    assert not shown["flag"].any() and not shown["adjusted_flag"].fillna(False).any()
    html = audit_report_html(result, source="a", privacy_k=5)
    text = re.sub(r"<[^>]+>", " ", html)
    assert "against tiny3" not in text
    assert re.search(r"tiny3\s+[+−-]\d", text) is None  # no signed difference beside it
    assert "in or against groups of fewer than 5 speakers" in text


def test_method_table_gives_each_metric_its_threshold_in_its_units(audit_folder, html):
    thresholds = {m["name"]: m for m in AuditResult.load(audit_folder).summary["metrics"]}
    l1 = thresholds["feature_l1_error"]
    assert l1["threshold_rule"] == "10%"
    assert re.search(
        rf"<td>feature_l1_error</td>.*?<td>{l1['threshold']:.3f} \(10% of overall\)</td>", html
    )
    assert re.search(r"<td>s2f_gender_agreement</td>.*?<td>5\.0 pts</td></tr>", html)


def test_audit_of_two_speakers_saves_and_renders_with_nothing_to_test(tmp_path):
    """Nothing reaches min_speakers or privacy_k: no crash, no empty figure, no test."""
    predictions = planted_predictions()
    table = predictions.table
    keep = table["speaker_id"].isin(table["speaker_id"].unique()[:2]).to_numpy()
    tiny = dataclasses.replace(
        predictions,
        table=table[keep].reset_index(drop=True),
        features={name: matrix[keep] for name, matrix in predictions.features.items()},
    )
    result = run_audit(tiny, n_boot=20, fairlearn_views=False)
    assert result.summary["tests"]["n_tests"] == 0 and result.flags().empty
    assert result.groups["difference"].dtype == "float64"
    result.save(tmp_path / "audit")
    loaded = AuditResult.load(tmp_path / "audit")
    # Against the overall value every group has a point difference, but none is tested.
    assert loaded.groups[["p_value", "diff_ci_low", "diff_ci_high"]].isna().all().all()
    text = re.sub(r"<[^>]+>", "", audit_report_html(loaded, source="a"))
    assert "0 disparities flagged" in text
    assert "No group has a recall@k value to plot." in text
    assert "No group has a correlation to plot." in text


def test_reference_overall_forest_plots_draw_the_overall_value(monkeypatch):
    """``--reference overall``: every panel of every forest plot has its dashed line at the
    metric's overall value (groups.parquet slice overall, group all)."""
    predictions = simulate_predictions(
        {"group_a": 0.8, "group_b": 0.6}, speakers_per_group=40, clips_per_speaker=3
    )
    result = run_audit(predictions, n_boot=50, fairlearn_views=False, reference="overall")
    assert not (result.groups["status"] == "reference").any()
    drawn = []
    for name in ("forest_plot", "forest_grid"):
        original = getattr(figures, name)

        def record(*args, _original=original, _name=name, **kwargs):
            drawn.append((_name, args, kwargs, _original(*args, **kwargs)))
            return drawn[-1][3]

        monkeypatch.setattr(figures, name, record)
    view = AuditView.of(result, privacy_k=5)
    _audit_figures.groups_section(view)
    overall = result.groups[result.groups["slice"] == "overall"].set_index("metric")["value"]
    plots = [([kw["metric"]], fig) for name, _, kw, fig in drawn if name == "forest_plot"]
    grids = [
        ([m for m, _, _ in args[0]], fig) for name, args, _, fig in drawn if name == "forest_grid"
    ]
    assert plots and grids
    for metrics, figure in plots + grids:
        for metric in metrics:
            marks = figures.grid_marks(figure, metric)
            dashed = [c for c in marks if c.get_linestyle()[0][1] is not None]
            shown = view.rows_of_slices(metric, view.single_slices())["slice"].nunique()
            assert len(dashed) == shown  # one per slice
            xs = [x for c in dashed for segment in c.get_segments() for x in segment[:, 0]]
            assert xs == pytest.approx([overall[metric]] * len(xs))


def test_confusion_figures_follow_the_tables_suppression(monkeypatch):
    """A 3-speaker group is suppressed and the next-smallest (group_d, 12 speakers)
    withheld with it in the tables: neither gets a confusion panel."""
    predictions = planted_predictions()
    table = predictions.table.copy()
    tiny = table["speaker_id"].isin(
        table.loc[table["ethnicity"] == "group_a", "speaker_id"].unique()[:3]
    )
    table.loc[tiny, "ethnicity"] = "tiny3"
    result = run_audit(
        dataclasses.replace(predictions, table=table), n_boot=20, fairlearn_views=False
    )
    view = AuditView.of(result, 5)
    withheld = view.groups[view.groups["withheld"] & (view.groups["slice"] == "ethnicity")]
    assert "group_d" in set(withheld["group"])
    titles: list[str] = []
    draw = figures.confusion_grid

    def spy(panels, **kwargs):
        titles.extend(title for title, _ in panels)
        return draw(panels, **kwargs)

    monkeypatch.setattr(figures, "confusion_grid", spy)
    _audit_figures.confusion_section(view)
    assert "ethnicity = group_a" in titles
    assert not {"ethnicity = tiny3", "ethnicity = group_d"} & set(titles)
