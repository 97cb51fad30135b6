"""Report figures draw exactly the rows they are given, marked as the legend says."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from reports import _figures as figures
from reports._format import group_order
from reports._page import figure_html

MATH = r"$\frac{1}{0"  # mathtext that would fail to parse


def embedded_svg(figure) -> str:
    """The SVG that ``figure_html`` embeds, decoded."""
    data = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', figure_html(figure, alt="x"))
    return base64.b64decode(data.group(1)).decode()


def forest_rows(groups, values, *, flag=None, status=None) -> pd.DataFrame:
    n = len(groups)
    return pd.DataFrame(
        {
            "group": groups,
            "value": values,
            "ci_low": np.asarray(values) - 0.05,
            "ci_high": np.asarray(values) + 0.05,
            "status": status or ["ok"] * n,
            "flag": flag or [False] * n,
            "reference": [groups[0]] * n,
        }
    )


def test_forest_plot_one_panel_per_slice_with_reference_line_and_flag_colour():
    gender = forest_rows(
        ["female", "male"], [0.8, 0.6], flag=[False, True], status=["reference", "ok"]
    )
    ethnicity = forest_rows(
        ["a", "b", MATH], [0.7, 0.75, 0.5], status=["reference", "ok", "insufficient"]
    )
    figure = figures.forest_plot(
        [("gender", gender), ("ethnicity", ethnicity)],
        metric="s2f_gender_agreement",
        unit="proportion",
    )
    (axes,) = figure.axes  # one axes: a band per slice, under its title
    labels = [t.get_text() for t in axes.get_yticklabels()]
    assert labels == ["female", "male", "a", "b", MATH]  # top to bottom
    positions = dict(zip(labels, axes.get_yticks(), strict=True))
    titles = [t.get_text() for t in axes.texts]
    assert titles == ["gender  (reference: female)", "ethnicity  (reference: a)"]
    intervals, dots, diamonds, *dashed = figures.grid_marks(figure, "s2f_gender_agreement")
    spans = np.array([s[:, 0] for s in intervals.get_segments()])
    assert spans == pytest.approx(
        np.array([[0.75, 0.85], [0.55, 0.65], [0.65, 0.75], [0.7, 0.8], [0.45, 0.55]])
    )
    assert list(dots.get_offsets()[:, 1]) == [positions[label] for label in labels]
    faces = [to_hex(c) for c in dots.get_facecolors()]
    accent, flag = figures.ACCENT.lower(), figures.FLAG.lower()
    assert faces == [accent, flag, accent, accent, "#ffffff"]  # male flagged, MATH hollow
    assert sorted(diamonds.get_offsets()[:, 0]) == pytest.approx([0.7, 0.8])
    lines = np.array([c.get_segments()[0] for c in dashed])  # x, y of each line's two ends
    assert lines[:, :, 0] == pytest.approx(np.array([[0.8, 0.8], [0.7, 0.7]]))  # the references
    spans = [(positions["female"], positions["male"]), (positions["a"], positions[MATH])]
    assert [sorted(ends) for ends in lines[:, :, 1]] == [  # across their slice's rows
        pytest.approx([top - 0.4, bottom + 0.4]) for top, bottom in spans
    ]
    assert MATH in embedded_svg(figure)  # math text stays literal


def test_forest_plot_reference_overall_draws_the_overall_value_dashed():
    """``--reference overall``: no group is the reference, the line is the overall value."""
    gender = forest_rows(["female", "male"], [0.8, 0.6]).assign(reference="overall")
    figure = figures.forest_plot(
        [("gender", gender)], metric="s2f_gender_agreement", unit="proportion", overall=0.7
    )
    _, _, diamonds, *dashed = figures.grid_marks(figure, "s2f_gender_agreement")
    assert len(diamonds.get_offsets()) == 0
    assert [list(c.get_segments()[0][:, 0]) for c in dashed] == [[0.7, 0.7]]
    unknown = figures.forest_plot([("gender", gender)], metric="m", unit="proportion")
    assert len(figures.grid_marks(unknown, "m")) == 3  # intervals, dots, diamonds: no line


def test_count_heatmap_marks_empty_thin_and_private_cells():
    matrix = pd.DataFrame([[0, 3], [12, 40]], index=["r1", "r2"], columns=["c1", "c2"])
    figure = figures.count_heatmap(
        [("test", matrix)], min_speakers=30, privacy_k=5, rows_label="rows", columns_label="columns"
    )
    texts = sorted(t.get_text() for t in figure.axes[0].texts)
    assert texts == ["12", "40", "<5", "empty"]
    borders = [
        p for p in figure.axes[0].patches if to_hex(p.get_edgecolor()) == figures.WARN.lower()
    ]
    assert len(borders) == 2  # 3 and 12 speakers are thin; 0 is empty, 40 is enough
    shown = figure.axes[0].images[0].get_array()
    assert np.ma.is_masked(shown[0, 1]) or np.isnan(shown[0, 1])  # colour hides the count


def test_confusion_grid_one_tile_per_group_with_its_shares():
    matrix = pd.DataFrame(
        [[0.75, 0.25], [0.1, 0.9]], index=["female", "male"], columns=["female", "male"]
    )
    panels = [(f"group {i}", matrix * (1 if i else 0.5)) for i in range(5)]
    figure = figures.confusion_grid(panels, true_label="true", predicted_label="predicted")
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert [t for t in texts if t.startswith("group ")] == [f"group {i}" for i in range(5)]
    assert texts.count("0.75") == 4 and texts.count("0.38") == 1  # group 0 is halved
    mosaic = figure.axes[0].images[0].get_array()
    tiles = np.asarray(mosaic.filled(np.nan) if np.ma.isMaskedArray(mosaic) else mosaic)
    assert np.isfinite(tiles).sum() == 5 * 4  # five 2 x 2 tiles, gaps blank
    assert np.isclose(np.nansum(tiles), 4 * 2.0 + 1.0)  # rows sum to 1 (group 0: 0.5)


def test_recall_curves_draw_chance_at_k_over_g():
    frame = pd.DataFrame(
        {
            "group": ["a"] * 2,
            "k": [1, 10],
            "value": [0.2, 0.6],
            "ci_low": [0.1, 0.5],
            "ci_high": [0.3, 0.7],
        }
    )
    figure = figures.recall_curves([("overall", frame)], {1: 0.01, 10: 0.1})
    chance = [line for line in figure.axes[0].lines if line.get_label() == "chance k/G"]
    assert list(chance[0].get_ydata()) == [1.0, 10.0]  # percent


def test_groups_follow_their_natural_order():
    decades = ["70+", "<20", "30-39", "20-29", "30-39"]
    assert group_order(decades) == ["<20", "20-29", "30-39", "70+"]
    assert group_order(["group_b", "unknown", "group_a"]) == ["group_a", "group_b", "unknown"]


def test_forest_grid_one_panel_per_metric_with_rows_per_slice_group():
    gender = forest_rows(
        ["female", "male"], [0.8, 0.6], flag=[False, True], status=["reference", "ok"]
    )
    ethnicity = forest_rows(["a", MATH], [0.7, 0.5], status=["reference", "insufficient"])
    frame = pd.concat(
        [gender.assign(slice="gender"), ethnicity.assign(slice="ethnicity")], ignore_index=True
    )
    figure = figures.forest_grid(
        [("m1", "proportion", frame), ("m2", "proportion", frame.iloc[:2])],
        slices=["gender", "ethnicity"],
    )
    texts = [t.get_text() for t in figure.texts]
    labels = ["gender = female", "gender = male", "ethnicity = a", f"ethnicity = {MATH}"]
    assert texts[:4] == labels  # once per row of panels, first group on top
    heights = [t.get_position()[1] for t in figure.texts[:4]]
    assert heights == sorted(heights, reverse=True)
    assert {"m1", "m2"} <= set(texts)
    intervals, dots, diamonds, *references = figures.grid_marks(figure, "m1")
    spans = np.array([s[:, 0] for s in intervals.get_segments()])
    assert spans == pytest.approx(
        np.array([[0.75, 0.85], [0.55, 0.65], [0.65, 0.75], [0.45, 0.55]])
    )
    faces = [to_hex(c) for c in dots.get_facecolors()]
    assert faces == [
        figures.ACCENT.lower(),
        figures.FLAG.lower(),
        figures.ACCENT.lower(),
        "#ffffff",
    ]
    assert sorted(diamonds.get_offsets()[:, 0]) == pytest.approx([0.7, 0.8])
    assert all(c.get_linestyle()[0][1] is not None for c in references)
    assert len(references) == 2  # one dashed reference line per slice
    assert len(figures.grid_marks(figure, "m2")[1].get_offsets()) == 2  # m2: gender rows only
    assert MATH in embedded_svg(figure)  # math text stays literal


def test_forest_grid_wraps_panels_into_rows_of_columns():
    frame = forest_rows(["a", "b"], [0.7, 0.5]).assign(slice="gender")
    metrics = [(f"m{i}", "proportion", frame) for i in range(6)]
    figure = figures.forest_grid(metrics, slices=["gender"], columns=4)
    texts = [t.get_text() for t in figure.texts]
    assert texts.count("gender = a") == 2  # two rows of panels, each labelled
    assert all(len(figures.grid_marks(figure, m)) == 3 for m, _, _ in metrics)  # no reference line


def test_forest_grid_reference_overall_draws_each_metrics_overall_value_per_slice():
    gender = forest_rows(["female", "male"], [0.8, 0.6]).assign(slice="gender")
    ethnicity = forest_rows(["a", "b"], [0.7, 0.5]).assign(slice="ethnicity")
    frame = pd.concat([gender, ethnicity], ignore_index=True).assign(reference="overall")
    figure = figures.forest_grid(
        [("m1", "proportion", frame), ("m2", "proportion", frame)],
        slices=["gender", "ethnicity"],
        overall={"m1": 0.65, "m2": 0.55},
    )
    for metric, expected in (("m1", 0.65), ("m2", 0.55)):
        marks = figures.grid_marks(figure, metric)
        dashed = [c for c in marks if c.get_linestyle()[0][1] is not None]
        assert len(dashed) == 2  # one per slice
        for collection in dashed:
            xs = {float(x) for segment in collection.get_segments() for x in segment[:, 0]}
            assert xs == {expected}


def test_share_bars_draw_no_bar_and_no_count_for_a_suppressed_group():
    frame = pd.DataFrame(
        {
            "split": ["train", "train", "test", "test"],
            "group": ["a", "b", "a", "b"],
            "n_speakers": [40, 3, 20, 8],
            "speaker_share": [40 / 43, 3 / 43, 20 / 28, 8 / 28],
        }
    )
    figure = figures.share_bars(frame, column="ethnicity", privacy_k=5)
    axes = figure.axes[0]
    texts = [t.get_text() for t in axes.texts]
    assert texts == ["< 5 speakers"]  # the threshold, never the count
    widths = [bar.get_width() for bar in axes.patches]
    assert np.isnan(widths).sum() == 1  # b in train: no bar
    assert sorted(w for w in widths if np.isfinite(w)) == pytest.approx(
        sorted([40 / 43 * 100, 20 / 28 * 100, 8 / 28 * 100])
    )


def test_intervals_that_exclude_their_estimate_are_drawn_as_they_are():
    """A percentile bootstrap interval need not contain its estimate (skewed statistics)."""
    correlations = pd.DataFrame(
        {
            "group": ["a", "a"],
            "measure": ["nose_width", "jaw_width"],
            "value": [0.10, 0.50],
            "ci_low": [0.15, 0.20],  # above the estimate
            "ci_high": [0.40, 0.70],
        }
    )
    figure = figures.correlation_plot([("overall", correlations)])
    segments = figure.axes[0].collections[0].get_segments()
    assert sorted((s[0][0], s[1][0]) for s in segments) == [(0.15, 0.4), (0.2, 0.7)]
    agreement = pd.DataFrame(
        {
            "group": ["a"],
            "value_f2f": [0.9],
            "ci_low_f2f": [0.92],
            "ci_high_f2f": [0.97],
            "value_s2f": [0.6],
            "ci_low_s2f": [0.5],
            "ci_high_s2f": [0.58],
        }
    )
    figure = figures.decomposition_bars(agreement, attribute="gender")
    spans = [tuple(s[:, 0]) for c in figure.axes[0].collections for s in c.get_segments()]
    assert sorted(spans) == [pytest.approx((50.0, 58.0)), pytest.approx((92.0, 97.0))]
