"""Report figures as matplotlib ``Figure`` objects (never pyplot), drawn from saved tables.

Every function takes rows exactly as they are stored (``groups.parquet``, the dataset
analysis, a comparison's ``changes.parquet``) with suppressed groups already removed,
and only draws: no figure computes a statistic.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.markers import MarkerStyle
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Affine2D, IdentityTransform, blended_transform_factory

from audit.privacy import is_suppressed
from reports._page import visible_controls

INK = "#1d2430"
MUTED = "#8a93a3"
ACCENT = "#2f5d8a"
FLAG = "#b3261e"
WARN = "#c08400"
OK = "#256b3a"
SOFT = "#eef1f5"
PALETTE = ("#2f5d8a", "#d1843a", "#4f9a6b", "#8b5fa8", "#b3261e", "#6b7b8f", "#c9a227")
ANNOTATED_CLASSES = 4
"""Confusion matrices with more classes than this show shares as shade only (in grids)."""
ROW_HEIGHT = 0.24
"""Inches per row of a forest plot."""
LABEL_LIMIT = 28


def plain_text(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Draw with mathtext off, so a group named ``$x$`` or ``\\frac{`` stays literal text."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs) -> Figure:
        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height))
    figure.set_facecolor("white")
    return figure


def _stacked_grid(figure: Figure, sizes: Sequence[int]):
    """Vertically stacked panels as tall as their rows, with room for each panel's title
    (margins as fractions, cropped when saved)."""
    mean_height = ROW_HEIGHT * (sum(sizes) / len(sizes) + 1.6)
    return figure.add_gridspec(
        len(sizes),
        1,
        height_ratios=[s + 1.6 for s in sizes],
        hspace=0.5 / mean_height,
        left=0.25,
        right=0.97,
        top=0.97,
        bottom=0.04,
    )


def _style(axes) -> None:
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(labelsize=8, colors=INK)
    axes.grid(axis="x", color=SOFT, linewidth=0.8)
    axes.set_axisbelow(True)


def _short(label: object, limit: int = LABEL_LIMIT) -> str:
    """A label as drawn: NUL and bidi characters written out as on the page (a group named
    with a right-to-left override would otherwise draw reversed), cut to ``limit``."""
    text = visible_controls(str(label))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class _Marks:
    """Sizes of a forest plot's marks: interval width (points), dot and diamond areas
    (points²), marker edge width (points)."""

    interval: float
    dot: float
    diamond: float
    edge: float


FOREST_MARKS = _Marks(interval=1.6, dot=25, diamond=36, edge=1.3)
GRID_MARKS = _Marks(interval=1.2, dot=14, diamond=18, edge=1.0)
TITLE_ROWS = 2.0
"""Rows of a forest plot between two slices: room for the next slice's title."""
FOREST_LEFT, FOREST_WIDTH = 1.95, 5.1
"""Inches left of a forest plot's axes (group names up to ``LABEL_LIMIT`` characters), and
of the axes."""


@plain_text
def forest_plot(
    panels: Sequence[tuple[str, pd.DataFrame]],
    *,
    metric: str,
    unit: str,
    overall: float | None = None,
) -> Figure:
    """One panel per slice: each group's value with its CI, the reference as a dashed line.

    Each frame holds ``group``, ``value``, ``ci_low``, ``ci_high``, ``status``, ``flag``
    and ``reference`` (the reference group's name or ``overall``), and may hold a row
    for the reference group itself. A panel whose reference is ``overall`` has no such
    row: its dashed line is drawn at ``overall`` (the metric's value over all clips).
    Flagged groups are red, groups with insufficient evidence hollow.

    The panels are bands of one axes, each under its title (one set of ticks for the
    figure); the marks are :func:`forest_grid`'s, larger, named ``metric``
    (:func:`grid_marks`). Margins are placed here (render with ``figure_html(...,
    tight=False)``).
    """
    slices = [slice_name for slice_name, _ in panels]
    frame = pd.concat([f.assign(slice=name) for name, f in panels], ignore_index=True)
    data = _grid_columns(frame)
    rows = _grid_rows([(metric, unit, data)], slices, gap=TITLE_ROWS)
    top, bottom = -TITLE_ROWS + 0.3, max(rows.values(), default=0) + 0.7
    height = ROW_HEIGHT * (bottom - top) + 0.6
    figure = _figure(FOREST_LEFT + FOREST_WIDTH + 0.15, height)
    axes = figure.add_axes(
        (
            FOREST_LEFT / figure.get_figwidth(),
            0.5 / height,
            FOREST_WIDTH / figure.get_figwidth(),
            ROW_HEIGHT * (bottom - top) / height,
        )
    )
    _style(axes)
    low, high, _ = _panel_range(data, overall)
    axes.set_xlim(low, high)
    axes.set_ylim(bottom, top)
    axes.set_yticks(list(rows.values()), [_short(group) for _, group in rows])
    _forest_marks(figure, metric, data, rows, axes.transData, overall, FOREST_MARKS)
    title_at = blended_transform_factory(axes.transAxes, axes.transData)
    for index, (slice_name, (first, name)) in enumerate(_slice_titles(rows, data).items()):
        title = slice_name if name is None else f"{slice_name}  (reference: {name})"
        axes.text(
            0.01,  # clear of the spine
            first - 1.0,
            _short(title, LABEL_LIMIT if len(title) > 70 else 70),
            fontsize=9,
            color=INK,
            transform=title_at,
        )
        if index:  # a rule above every slice but the first
            axes.axhline(first - TITLE_ROWS, color=MUTED, lw=0.6)
    axes.set_xlabel(f"{metric} ({unit})", fontsize=8, color=INK)
    return figure


def _slice_titles(
    rows: Mapping[tuple[str, str], float], data: Mapping[str, np.ndarray]
) -> dict[str, tuple[float, str | None]]:
    """Each slice's first row and its reference group's name (None when it has none)."""
    titles: dict[str, tuple[float, str | None]] = {}
    for (slice_name, _), position in rows.items():
        if slice_name not in titles:
            reference = [
                r
                for r in data["reference"][data["slice"] == slice_name]
                if r is not None and not pd.isna(r)
            ]
            titles[slice_name] = (position, str(reference[0]) if reference else None)
    return titles


def _reference_x(
    status: np.ndarray, value: np.ndarray, reference: np.ndarray | None, overall: float | None
) -> float | None:
    """Where a slice's dashed reference line goes: the reference group's value, or the
    overall value when the slice's reference is ``overall``; None when neither is known."""
    values = value[status == "reference"]
    if len(values):
        return float(values[0])
    if (
        overall is not None
        and np.isfinite(overall)
        and reference is not None
        and any(r is not None and not pd.isna(r) and str(r) == OVERALL_REFERENCE for r in reference)
    ):
        return float(overall)
    return None


OVERALL_REFERENCE = "overall"
"""The ``reference`` of groups compared with the value over all clips (``--reference overall``)."""


def forest_legend_note() -> str:
    return (
        "Dots: group value; bars: 95% speaker-clustered bootstrap interval; diamond and dashed "
        "line: the reference group (dashed line only: the value over all clips, when the "
        "reference is overall); red: flagged disparity; hollow: insufficient evidence."
    )


@plain_text
def count_heatmap(
    panels: Sequence[tuple[str, pd.DataFrame] | tuple[str, pd.DataFrame, pd.DataFrame]],
    *,
    min_speakers: int,
    privacy_k: int,
    rows_label: str,
    columns_label: str,
) -> Figure:
    """Speaker counts of a two-column intersection, one panel per split.

    Each frame is a rows × columns matrix of speaker counts. Empty cells are hatched
    and say "empty"; thin cells (below ``min_speakers``) have an amber border; cells
    below ``privacy_k`` show "<k" instead of their count. An optional third item per
    panel, a boolean matrix of the same shape, marks cells withheld by complementary
    suppression: uncoloured, they say "withheld".
    """
    n_rows, n_columns = panels[0][1].shape
    width = min(3.2 + 0.62 * n_columns * len(panels), 11)
    figure = _figure(width, 0.9 + 0.36 * n_rows)
    axes_list = figure.subplots(1, len(panels), squeeze=False, gridspec_kw={"wspace": 0.35})[0]
    masks = [
        panel[2].to_numpy(dtype=bool) if len(panel) > 2 else np.zeros(panel[1].shape, bool)
        for panel in panels
    ]
    top = max(
        float(np.where(mask, 0, panel[1].to_numpy(dtype=float)).max())
        for panel, mask in zip(panels, masks, strict=True)
    )
    top = top or 1.0
    for axes, panel, withheld in zip(axes_list, panels, masks, strict=True):
        split, frame = panel[0], panel[1]
        values = frame.to_numpy(dtype=float)
        shown = np.where(is_suppressed(values, privacy_k) | withheld, np.nan, values)
        axes.imshow(shown, cmap="Blues", vmin=0, vmax=top, aspect="auto")
        for (i, j), count in np.ndenumerate(values):
            if count == 0:
                axes.add_patch(_cell_patch(i, j, hatch="///", edge=MUTED))
                text, color = "empty", MUTED
            elif withheld[i, j]:
                text, color = "withheld", MUTED
            else:
                text = f"<{privacy_k}" if is_suppressed(count, privacy_k) else f"{int(count)}"
                color = "white" if count > 0.6 * top else INK
                if count < min_speakers:
                    axes.add_patch(_cell_patch(i, j, hatch=None, edge=WARN))
            axes.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
        axes.set_xticks(
            range(n_columns),
            [_short(c) for c in frame.columns],
            rotation=35,
            ha="right",
            fontsize=7,
        )
        axes.set_yticks(range(n_rows), [_short(r) for r in frame.index], fontsize=7)
        axes.set_title(_short(split, 70), fontsize=9, loc="left")
        axes.set_xlabel(columns_label, fontsize=8)
    axes_list[0].set_ylabel(rows_label, fontsize=8)
    return figure


def _cell_patch(i: int, j: int, *, hatch: str | None, edge: str):
    return Rectangle(
        (j - 0.5, i - 0.5),
        1,
        1,
        fill=hatch is not None,
        facecolor="white",
        hatch=hatch,
        edgecolor=edge,
        linewidth=1.4,
    )


@plain_text
def share_bars(frame: pd.DataFrame, *, column: str, privacy_k: int) -> Figure:
    """Speaker share of each group per split (grouped horizontal bars)."""
    splits = list(dict.fromkeys(frame["split"]))
    groups = list(dict.fromkeys(frame["group"]))
    figure = _figure(6.4, 0.7 + 0.22 * len(groups) * max(len(splits), 1) ** 0.5 + 0.3)
    axes = figure.subplots()
    _style(axes)
    height = 0.8 / len(splits)
    y = np.arange(len(groups))[::-1]
    drawn = []
    for index, split in enumerate(splits):
        part = frame[frame["split"] == split].set_index("group").reindex(groups)
        shares = part["speaker_share"].to_numpy(dtype=float)
        hidden = is_suppressed(part["n_speakers"], privacy_k)
        withheld = (
            part["withheld"].fillna(False).astype(bool)
            if "withheld" in part
            else pd.Series(False, index=part.index)
        )
        shares = np.where((hidden | withheld).to_numpy(), np.nan, shares)
        drawn.extend(shares[np.isfinite(shares)])
        offset = (index - (len(splits) - 1) / 2) * height
        axes.barh(
            y - offset,
            shares * 100,
            height=height * 0.92,
            label=split,
            color=PALETTE[index % len(PALETTE)],
        )
        for position in (y - offset)[hidden.to_numpy()]:
            axes.text(
                0.3, position, f"< {privacy_k} speakers", va="center", fontsize=6.5, color=MUTED
            )
        for position in (y - offset)[withheld.to_numpy()]:
            axes.text(0.3, position, "withheld", va="center", fontsize=6.5, color=MUTED)
    axes.set_yticks(y, [_short(g) for g in groups])
    # shares are 0-100 %: with every bar hidden, autoscaling would give an axis of ±0.04
    axes.set_xlim(0, max(drawn, default=1.0) * 100 * 1.08 if drawn else 100)
    axes.set_xlabel(f"share of speakers (%) by {column}", fontsize=8)
    axes.legend(
        fontsize=7, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=len(splits)
    )
    return figure


@plain_text
def reference_bars(frame: pd.DataFrame, *, column: str) -> Figure:
    """Observed speaker share against the reference population's share, per group."""
    groups = list(frame["group"])
    figure = _figure(6.0, 0.8 + 0.34 * len(groups))
    axes = figure.subplots()
    _style(axes)
    y = np.arange(len(groups))[::-1]
    axes.barh(y + 0.2, frame["observed_share"] * 100, height=0.38, color=ACCENT, label="observed")
    axes.barh(
        y - 0.2,
        frame["reference_share"] * 100,
        height=0.38,
        color=MUTED,
        label="reference population",
    )
    axes.set_yticks(y, [_short(g) for g in groups])
    axes.set_xlabel(f"share of known {column} (%)", fontsize=8)
    axes.legend(fontsize=7, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2)
    return figure


@plain_text
def confusion_grid(
    panels: Sequence[tuple[str, pd.DataFrame]], *, true_label: str, predicted_label: str
) -> Figure:
    """Row-normalised confusion matrices, one panel per group (the paper's Fig. 5).

    Each frame is a true-class × predicted-class matrix of shares (rows sum to 1), the
    same classes in every panel. The panels are tiles of one image (one axes: fast to
    draw however many groups); shares are written in the cells when the matrices are
    small (at most 4 classes, or at most 2 panels), otherwise the shade alone shows them.
    Margins are placed here (render with ``figure_html(..., tight=False)``).
    """
    n_true, n_predicted = panels[0][1].shape
    columns = min(len(panels), 4)
    rows = int(np.ceil(len(panels) / columns))
    gap_x, gap_y = 1, 2  # cells between tiles; a tile's title sits in the gap above it
    step_x, step_y = n_predicted + gap_x, n_true + gap_y
    mosaic = np.full((rows * step_y - 1, columns * step_x - gap_x), np.nan)
    cell = 0.42 if n_true > 3 else 0.55
    true_names = [_short(label) for label in panels[0][1].index]
    predicted_names = [_short(label) for label in panels[0][1].columns]
    label_offset = 0.6 + 0.13 * max(map(len, true_names))  # cells left of the tiles
    drop = 0.5 + 0.09 * max(map(len, predicted_names))  # cells below the tiles
    # Margins in inches (the figure is saved uncropped): class names and the rotated
    # label on the left, names and label below, the last column's title and border right.
    margin_left = 0.3 + 0.07 * max(map(len, true_names))
    margin_bottom = (drop - 0.1) * cell + 0.2
    margin_right = gap_x * cell
    width, height = mosaic.shape[1] * cell, mosaic.shape[0] * cell
    figure = _figure(margin_left + width + margin_right, margin_bottom + height)
    size = figure.get_size_inches()
    axes = figure.add_axes(
        (margin_left / size[0], margin_bottom / size[1], width / size[0], height / size[1])
    )
    annotate = n_true <= ANNOTATED_CLASSES or len(panels) <= 2
    title_limit = max(12, int(step_x * cell / 0.065))  # characters of 8 pt text per tile
    origins = []
    for index, (title, frame) in enumerate(panels):
        top = (index // columns) * step_y + 1
        left = (index % columns) * step_x
        values = frame.to_numpy(dtype=float)
        mosaic[top : top + n_true, left : left + n_predicted] = values
        origins.append((top, left))
        axes.text(left - 0.5, top - 0.7, _short(title, title_limit), fontsize=8, color=INK)
        axes.add_patch(
            Rectangle(
                (left - 0.5, top - 0.5),
                n_predicted,
                n_true,
                fill=False,
                lw=0.8,
                edgecolor=INK,
                clip_on=False,
            )
        )
        if annotate:
            for (i, j), share in np.ndenumerate(values):
                if np.isfinite(share):
                    axes.text(
                        left + j,
                        top + i,
                        f"{share:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6.5,
                        color="white" if share > 0.6 else INK,
                    )
    colormap = matplotlib.colormaps["Blues"].with_extremes(bad="white")
    axes.imshow(mosaic, cmap=colormap, vmin=0, vmax=1, interpolation="nearest")
    for index, (top, left) in enumerate(origins):
        if index % columns == 0:
            for i, name in enumerate(true_names):
                axes.text(left - 0.6, top + i, name, ha="right", va="center", fontsize=6.5)
            axes.text(
                left - label_offset,
                top + (n_true - 1) / 2,
                true_label,
                rotation=90,
                ha="right",
                va="center",
                fontsize=7,
            )
        if index + columns >= len(panels):
            for j, name in enumerate(predicted_names):
                axes.text(
                    left + j,
                    top + n_true - 0.4,
                    name,
                    rotation=45,
                    ha="right",
                    va="top",
                    fontsize=6.5,
                )
            axes.text(
                left + (n_predicted - 1) / 2,
                top + n_true - 0.4 + drop,
                predicted_label,
                ha="center",
                va="top",
                fontsize=7,
            )
    axes.set_axis_off()
    return figure


def _panel_grid(figure: Figure, n: int, *, columns: int = 2, **grid_kw):
    """``n`` axes in rows of ``columns``; spare cells hidden."""
    rows = int(np.ceil(n / columns))
    grid = figure.subplots(rows, min(columns, n), squeeze=False, gridspec_kw=grid_kw)
    for axes in grid.flat[n:]:
        axes.set_visible(False)
    return list(grid.flat[:n])


@plain_text
def recall_curves(
    panels: Sequence[tuple[str, pd.DataFrame]], chance: Mapping[int, float] | None
) -> Figure:
    """recall@k against k, one panel per slice and one line per group with its CI band.

    Each frame holds ``group``, ``k``, ``value``, ``ci_low``, ``ci_high``; chance k/G
    is dotted. Every label is inside the default margins (render with
    ``figure_html(..., tight=False)``).
    """
    columns = min(len(panels), 2)
    rows = int(np.ceil(len(panels) / columns))
    figure = _figure(4.0 * columns + 0.4, 3.0 * rows)
    all_axes = _panel_grid(figure, len(panels), columns=columns, wspace=0.25, hspace=0.45)
    for axes, (title, frame) in zip(all_axes, panels, strict=True):
        _style(axes)
        axes.grid(axis="y", color=SOFT, linewidth=0.8)
        for index, (group, part) in enumerate(frame.groupby("group", sort=False)):
            part = part.sort_values("k")
            color = PALETTE[index % len(PALETTE)]
            axes.plot(
                part["k"], part["value"] * 100, "o-", color=color, ms=3, lw=1.3, label=_short(group)
            )
            axes.fill_between(
                part["k"],
                part["ci_low"] * 100,
                part["ci_high"] * 100,
                color=color,
                alpha=0.12,
                lw=0,
            )
        if chance:
            ks = sorted(chance)
            axes.plot(ks, [chance[k] * 100 for k in ks], ":", color=INK, lw=1.3, label="chance k/G")
        axes.set_xscale("log")
        ks = sorted(frame["k"].unique())
        axes.set_xticks(ks, [str(k) for k in ks])
        axes.minorticks_off()
        axes.set_title(_short(title, 70), fontsize=9, loc="left", y=1.0)  # placed: no search
        axes.set_xlabel("k", fontsize=8)
        axes.set_ylabel("recall@k (%)", fontsize=8)
        axes.legend(fontsize=6.5, frameon=False, loc="upper left", ncols=2)
    return figure


@plain_text
def decomposition_bars(frame: pd.DataFrame, *, attribute: str) -> Figure:
    """Per group: agreement of the face-to-face pipeline (F2F) and of voice-to-face (S2F).

    The gap between the bars is the error the voice adds on top of the face
    classifier's own error. ``frame`` holds ``group`` and, per face, ``value`` /
    ``ci_low`` / ``ci_high`` columns suffixed ``_f2f`` and ``_s2f``. Margins are placed
    here (render with ``figure_html(..., tight=False)``).
    """
    height = 0.9 + 0.42 * len(frame)
    figure = _figure(FOREST_LEFT + 4.5, height)
    axes = figure.add_axes(  # room for group names left, the legend above, the label below
        (
            FOREST_LEFT / figure.get_figwidth(),
            0.45 / height,
            4.3 / figure.get_figwidth(),
            (height - 0.8) / height,
        )
    )
    _style(axes)
    y = np.arange(len(frame))[::-1]
    for offset, face, color in ((0.19, "f2f", MUTED), (-0.19, "s2f", ACCENT)):
        value = frame[f"value_{face}"].to_numpy(dtype=float) * 100
        axes.barh(
            y + offset,
            value,
            height=0.36,
            color=color,
            label=f"{face.upper()} agreement with true face",
        )
        axes.hlines(
            y + offset,
            frame[f"ci_low_{face}"].to_numpy(dtype=float) * 100,
            frame[f"ci_high_{face}"].to_numpy(dtype=float) * 100,
            color=INK,
            lw=0.9,
        )
    axes.set_yticks(y, [_short(g) for g in frame["group"]])
    axes.set_xlim(0, 100)
    axes.set_xlabel(f"{attribute} agreement (%)", fontsize=8)
    axes.legend(fontsize=7, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2)
    return figure


@plain_text
def change_plot(panels: Sequence[tuple[str, pd.DataFrame]], *, metric: str) -> Figure:
    """Paired change (candidate − baseline) per group with its CI; zero is no change.

    Each frame holds ``group``, ``delta``, ``delta_ci_low``, ``delta_ci_high``,
    ``regression`` and ``improvement``.
    """
    sizes = [max(len(frame), 1) for _, frame in panels]
    figure = _figure(7.0, ROW_HEIGHT * sum(sizes) + 0.55 * len(panels) + 0.5)
    grid = _stacked_grid(figure, sizes)
    shared = None
    for index, (title, frame) in enumerate(panels):
        axes = figure.add_subplot(grid[index], sharex=shared)
        shared = shared or axes
        _style(axes)
        frame = frame.reset_index(drop=True)
        y = np.arange(len(frame))[::-1]
        for row, position in zip(frame.itertuples(index=False), y, strict=True):
            color = FLAG if row.regression else (OK if row.improvement else ACCENT)
            axes.plot(
                [row.delta_ci_low, row.delta_ci_high], [position, position], color=color, lw=1.6
            )
            axes.plot(row.delta, position, "o", ms=5, color=color)
        axes.axvline(0, color=INK, lw=0.9, ls="--", alpha=0.7)
        axes.set_yticks(y, [_short(g) for g in frame["group"]])
        axes.set_ylim(-0.7, len(frame) - 0.3)
        axes.set_title(_short(title, 70), fontsize=9, loc="left")
        axes.tick_params(labelbottom=index == len(panels) - 1)
    figure.axes[-1].set_xlabel(f"change of {metric} (candidate − baseline)", fontsize=8)
    figure.legend(
        handles=[
            Patch(color=FLAG, label="regression"),
            Patch(color=OK, label="significant gain"),
            Patch(color=ACCENT, label="no significant change"),
        ],
        fontsize=7,
        frameon=False,
        loc="lower right",
        bbox_to_anchor=(0.97, 0.98),
        ncols=3,
    )
    return figure


@plain_text
def correlation_plot(panels: Sequence[tuple[str, pd.DataFrame]]) -> Figure:
    """Pearson r per measure (rows), one panel per slice, one dot and CI per group.

    Each frame holds ``measure``, ``group``, ``value``, ``ci_low``, ``ci_high``. The
    margins hold the measure names (render with ``figure_html(..., tight=False)``).
    """
    measures = list(dict.fromkeys(panels[0][1]["measure"]))
    columns = min(len(panels), 2)
    rows = int(np.ceil(len(panels) / columns))
    width = 4.2 * columns + 1.2
    figure = _figure(width, rows * (1.0 + 0.38 * len(measures)))
    label_inches = 0.3 + 0.07 * max(len(m) for m in measures)  # 8 pt measure names
    all_axes = _panel_grid(
        figure,
        len(panels),
        columns=columns,
        wspace=0.12,
        hspace=0.75,
        left=max(0.125, label_inches / width),
    )
    y = np.arange(len(measures))[::-1]
    for position, (axes, (title, frame)) in enumerate(zip(all_axes, panels, strict=True)):
        _style(axes)
        groups = list(dict.fromkeys(frame["group"]))
        spread = 0.7 / max(len(groups), 1)
        for index, group in enumerate(groups):
            part = frame[frame["group"] == group].set_index("measure").reindex(measures)
            offset = (index - (len(groups) - 1) / 2) * spread
            color = PALETTE[index % len(PALETTE)]
            # Lines from ci_low to ci_high: a percentile interval need not contain its estimate.
            axes.hlines(y - offset, part["ci_low"], part["ci_high"], color=color, lw=1)
            axes.plot(part["value"], y - offset, "o", ms=3, color=color, label=_short(group))
        axes.axvline(0, color=INK, lw=0.8, ls=":")
        axes.set_xlim(-1, 1)
        axes.set_xticks([-1, -0.5, 0, 0.5, 1])
        labels = [m.replace("_", " ") for m in measures] if position % columns == 0 else []
        axes.set_yticks(y, labels)
        axes.set_title(_short(title, 70), fontsize=9, loc="left", y=1.0)  # placed: no search
        axes.set_xlabel("Pearson r", fontsize=8)
        axes.legend(
            fontsize=6.5,
            frameon=False,
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncols=min(len(groups), 3),
            handletextpad=0.2,
            columnspacing=0.8,
        )
    return figure


@plain_text
def difference_plot(frame: pd.DataFrame, *, xlabel: str, scale: float = 1.0) -> Figure:
    """Each flagged disparity: its difference from the reference with the CI of the difference.

    ``frame`` holds ``label``, ``difference``, ``diff_ci_low``, ``diff_ci_high`` and
    ``threshold``; the band of ± threshold (no practical difference) is shaded.
    """
    figure = _figure(7.0, 0.8 + ROW_HEIGHT * 1.3 * len(frame))
    axes = figure.subplots()
    _style(axes)
    y = np.arange(len(frame))[::-1]
    threshold = float(frame["threshold"].max()) * scale
    axes.axvspan(-threshold, threshold, color=SOFT, lw=0)
    axes.axvline(0, color=INK, lw=0.9, ls="--", alpha=0.7)
    low = frame["diff_ci_low"].to_numpy(dtype=float) * scale
    high = frame["diff_ci_high"].to_numpy(dtype=float) * scale
    axes.hlines(y, low, high, color=FLAG, lw=1.6)
    axes.plot(frame["difference"].to_numpy(dtype=float) * scale, y, "o", ms=5, color=FLAG)
    axes.set_yticks(y, [_short(label, 64) for label in frame["label"]])
    axes.set_ylim(-0.7, len(frame) - 0.3)
    axes.set_xlabel(xlabel, fontsize=8)
    return figure


@plain_text
def detectable_bars(frame: pd.DataFrame) -> Figure:
    """Minimum detectable difference (percentage points) per group, largest first.

    ``frame`` holds ``label`` and ``min_detectable_difference``; differences of 1 or
    more (nothing detectable) are drawn to 100 and marked.
    """
    frame = frame.sort_values("min_detectable_difference", ascending=False)
    figure = _figure(6.4, 0.8 + 0.26 * len(frame))
    axes = figure.subplots()
    _style(axes)
    y = np.arange(len(frame))[::-1]
    values = np.minimum(frame["min_detectable_difference"].to_numpy(dtype=float), 1.0) * 100
    colors = [FLAG if v >= 20 else (WARN if v >= 10 else ACCENT) for v in values]
    axes.barh(y, values, height=0.7, color=colors)
    for position, value in zip(y, values, strict=True):
        text = "none detectable" if value >= 100 else f"{value:.0f}"
        axes.text(min(value, 100) + 1, position, text, va="center", fontsize=7, color=INK)
    axes.set_yticks(y, [_short(label, 40) for label in frame["label"]])
    axes.set_xlim(0, 115)
    axes.set_xlabel("smallest detectable difference (percentage points)", fontsize=8)
    return figure


SMALL_ROW = 0.17
"""Inches per group row of a small-multiples forest plot."""
GRID_LABELS = 2.0
"""Inches left of a small-multiples forest plot for its group labels (its own margins)."""


PANEL_WIDTH = 1.35
"""Inches of one metric's panel in a small-multiples forest plot."""
PANEL_GAP = 0.25
"""Inches between two panels side by side."""
PANEL_TOP = 0.3
"""Inches above a row of panels for the metrics' names."""
PANEL_BOTTOM = 0.5
"""Inches below a row of panels for the tick labels and the unit."""


@plain_text
def forest_grid(
    metrics: Sequence[tuple[str, str, pd.DataFrame]],
    *,
    slices: Sequence[str],
    overall: Mapping[str, float] | None = None,
    columns: int = 4,
) -> Figure:
    """Small multiples: one compact forest plot per metric, ``columns`` side by side, groups
    shared, as many rows of panels as needed.

    ``metrics`` holds ``(metric, unit, frame)``; each frame has the forest plot's columns
    (``group``, ``value``, ``ci_low``, ``ci_high``, ``status``, ``flag``, ``reference``)
    and ``slice``. Rows are the groups of ``slices`` in order (a thin rule between slices);
    each panel marks its reference group (diamond) and its value (dashed, per slice), or,
    for a slice whose reference is ``overall``, the metric's ``overall[metric]`` value
    (dashed). Flagged groups are red, groups with insufficient evidence hollow.

    Drawn without axes: texts and marks placed on the figure in inches (no tick machinery
    per panel; the cost of a figure of many panels is its marks and texts). Each panel's
    marks are in the metric's own units through the panel's transform and carry the
    metric's name as ``gid`` (:func:`grid_marks`), in this order: intervals, values,
    reference group, then one dashed reference line per slice. Margins are placed here
    (render with ``figure_html(..., tight=False)``).
    """
    overall = overall or {}
    columns_of = [(metric, unit, _grid_columns(frame)) for metric, unit, frame in metrics]
    rows = _grid_rows([(m, u, c) for m, u, c in columns_of], slices)
    panel_height = SMALL_ROW * (max(rows.values()) + 1.6)  # half a row around the groups
    columns = max(1, min(columns, len(metrics)))
    row_height = PANEL_TOP + panel_height + PANEL_BOTTOM
    width = GRID_LABELS + columns * (PANEL_WIDTH + PANEL_GAP)
    height = -(-len(metrics) // columns) * row_height + 0.1
    figure = _figure(width, height)
    inches = figure.dpi_scale_trans

    def text(x: float, y: float, label: str, **style) -> None:
        """``label`` at ``x`` inches from the left, ``y`` inches from the top."""
        figure.text(x, height - y, label, transform=inches, **style)

    labels = [_short(f"{s} = {g}", 34) for s, g in rows]
    boundaries = _slice_boundaries(rows)
    rules, grid = [], []
    for index, (metric, unit, data) in enumerate(columns_of):
        left = GRID_LABELS + (index % columns) * (PANEL_WIDTH + PANEL_GAP)
        top = (index // columns) * row_height + PANEL_TOP
        bottom = top + panel_height
        if index % columns == 0:
            for label, position in zip(labels, rows.values(), strict=True):
                y = top + SMALL_ROW * (position + 0.8)
                text(GRID_LABELS - 0.08, y, label, ha="right", va="center", fontsize=6.5, color=INK)
        low, high, tick_values = _panel_range(data, overall.get(metric))
        scale = PANEL_WIDTH / (high - low)
        transform = (
            Affine2D()
            .scale(scale, -SMALL_ROW)
            .translate(left - low * scale, height - top - 0.8 * SMALL_ROW)
            + inches
        )
        _forest_marks(figure, metric, data, rows, transform, overall.get(metric), GRID_MARKS)
        rules += [[(left, bottom), (left + PANEL_WIDTH, bottom)], [(left, top), (left, bottom)]]
        for boundary in boundaries:
            y = top + SMALL_ROW * (boundary + 0.8)
            grid.append([(left, y), (left + PANEL_WIDTH, y)])
        for tick in tick_values:
            x = left + (tick - low) * scale
            grid.append([(x, top), (x, bottom)])
            rules.append([(x, bottom), (x, bottom + 0.04)])
            label = _tick_label(tick, tick_values)
            text(x, bottom + 0.06, label, ha="center", va="top", fontsize=6.5, color=INK)
        centre = left + PANEL_WIDTH / 2
        name = _short(metric, 30)
        text(centre, top - 0.08, name, ha="center", va="bottom", fontsize=7.5, color=INK)
        text(centre, bottom + 0.24, unit, ha="center", va="top", fontsize=7, color=MUTED)
    flip = Affine2D().scale(1, -1).translate(0, height) + inches
    for segments, color, zorder in ((grid, SOFT, 0.5), (rules, INK, 1)):
        figure.add_artist(
            LineCollection(segments, colors=color, linewidths=0.8, zorder=zorder, transform=flip)
        )
    return figure


def grid_marks(figure: Figure, metric: str) -> list:
    """The marks of ``metric``'s panel in a :func:`forest_grid`, in the order drawn."""
    return [artist for artist in figure.artists if artist.get_gid() == metric]


def _grid_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns a grid panel draws, as arrays (read once, not per mark)."""
    data = {name: frame[name].to_numpy(dtype=object) for name in ("slice", "group", "status")}
    data["reference"] = (
        frame["reference"].to_numpy(dtype=object)
        if "reference" in frame
        else np.full(len(frame), None, dtype=object)
    )
    for name in ("value", "ci_low", "ci_high"):
        data[name] = frame[name].to_numpy(dtype=float, na_value=np.nan)
    data["flag"] = frame["flag"].to_numpy(dtype=bool)
    return data


def _forest_marks(
    figure: Figure,
    metric: str,
    data: Mapping[str, np.ndarray],
    rows: Mapping[tuple[str, str], float],
    transform,
    overall: float | None,
    sizes: _Marks,
) -> None:
    """One metric's marks, in its own units through ``transform``, named ``metric``."""
    y = np.array([rows[key] for key in zip(data["slice"], data["group"], strict=True)], dtype=float)
    flag = data["flag"]
    status = data["status"]
    is_reference = status == "reference"
    weak = ~((status == "ok") | is_reference)
    colors = np.where(flag, FLAG, np.where(weak, MUTED, ACCENT))
    segments = np.stack(
        [np.column_stack([data["ci_low"], y]), np.column_stack([data["ci_high"], y])], axis=1
    )
    marks = [
        LineCollection(
            segments, colors=list(colors), linewidths=sizes.interval, transform=transform
        )
    ]
    marks.append(
        _markers(
            "o",
            np.column_stack([data["value"], y]),
            transform,
            size=sizes.dot,
            face=list(np.where(weak & ~flag, "white", colors)),
            edge=list(colors),
            width=sizes.edge,
            zorder=3,
        )
    )
    marks.append(
        _markers(
            "D",
            np.column_stack([data["value"][is_reference], y[is_reference]]),
            transform,
            size=sizes.diamond,
            face=INK,
            edge="face",
            width=sizes.edge,
            zorder=4,
        )
    )
    for slice_name in dict.fromkeys(data["slice"]):
        part = data["slice"] == slice_name
        line = _reference_x(status[part], data["value"][part], data["reference"][part], overall)
        if line is None:
            continue
        span = y[part]
        marks.append(
            LineCollection(
                [[(line, span.min() - 0.4), (line, span.max() + 0.4)]],
                colors=INK,
                linewidths=0.8,
                linestyles="--",
                alpha=0.7,
                transform=transform,
            )
        )
    for mark in marks:
        mark.set_gid(metric)
        figure.add_artist(mark)


def _markers(marker: str, offsets: np.ndarray, transform, *, size, face, edge, width, zorder):
    """Scatter markers of ``size`` (points²) at ``offsets`` (drawn through ``transform``)."""
    style = MarkerStyle(marker)
    path = style.get_path().transformed(style.get_transform())
    return PathCollection(
        (path,),
        sizes=[size],
        offsets=offsets,
        offset_transform=transform,
        transform=IdentityTransform(),
        facecolors=face,
        edgecolors=edge,
        linewidths=width,
        zorder=zorder,
    )


def _panel_range(
    data: Mapping[str, np.ndarray], overall: float | None
) -> tuple[float, float, list[float]]:
    """A panel's x range (its values, intervals and reference lines, 5% margins, as
    matplotlib's autoscaling) and its ticks (at most 3 steps, inside the range)."""
    values = np.concatenate([data["value"], data["ci_low"], data["ci_high"]])
    if overall is not None:
        values = np.append(values, overall)
    values = values[np.isfinite(values)]
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    if high - low < 1e-12:
        pad = abs(low) * 0.05 or 0.5
        low, high = low - pad, high + pad
    margin = (high - low) * 0.05
    low, high = low - margin, high + margin
    ticks = MaxNLocator(nbins=3).tick_values(low, high)
    return low, high, [float(t) for t in ticks if low <= t <= high]


def _tick_label(value: float, ticks: Sequence[float]) -> str:
    """``value`` with as many decimals as its panel's tick step needs (all ticks alike)."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else abs(value) or 1.0
    if max(abs(t) for t in ticks) >= 1e5:
        return f"{value:.3g}"
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    return f"{value:.{decimals}f}".replace("-", "\u2212")


def _grid_rows(
    metrics: Sequence[tuple[str, str, Mapping[str, np.ndarray]]],
    slices: Sequence[str],
    *,
    gap: float = 0.6,
) -> dict[tuple[str, str], float]:
    """Row position of each (slice, group) shown in any metric, top to bottom, ``gap`` rows
    between slices."""
    rows: dict[tuple[str, str], float] = {}
    position = 0.0
    for slice_name in slices:
        groups = dict.fromkeys(
            group for _, _, data in metrics for group in data["group"][data["slice"] == slice_name]
        )
        if not groups:
            continue
        for group in groups:
            rows[(slice_name, group)] = position
            position += 1
        position += gap
    return rows


def _slice_boundaries(rows: Mapping[tuple[str, str], float]) -> list[float]:
    """The y of the rule between consecutive slices."""
    out, previous = [], None
    for (slice_name, _), position in rows.items():
        if previous is not None and slice_name != previous[0]:
            out.append((previous[1] + position) / 2)
        previous = (slice_name, position)
    return out
