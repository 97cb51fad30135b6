"""The trials-audit report: per-group verification metrics of a voice–face matcher.

Rendered from a saved :class:`~audit.trials_result.TrialsAuditResult` only: findings,
what was audited, per-group metrics with intervals, DET curves per group (probit error
axes), the group-pair FMR heatmap, heard vs unheard languages, caveats. A group with
some but fewer than ``privacy_k`` voice speakers (an FMR cell: voice or face speakers)
shows no numbers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure
from scipy.stats import norm

from audit.privacy import PRIVACY_K, is_suppressed
from audit.trials import MATCH_1OFN, OVERALL
from audit.trials_compare import TrialsComparisonResult
from audit.trials_result import TrialsAuditResult
from reports import _format as fmt
from reports import comparison as cmp
from reports._page import Section, figure_html, render_page, table_html, write_html

METRIC_NAMES = {
    "eer": "EER",
    "auc": "ROC AUC",
    "min_dcf": "minDCF",
    "fmr": "FMR",
    "fnmr": "FNMR",
    "match_1of2": "1-of-2",
    "match_1ofn": "1-of-n",
}
DET_TICKS = (0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95)
FMR_CELLS_SHOWN = 16
"""A comparison's FMR matrix shows every cell up to this many, else the flagged ones."""


def metric_name(metric: str, faces: int | None = None) -> str:
    """A metric's name in a report: ``1-of-5 matching`` for 1-of-n with n = 5."""
    if metric == MATCH_1OFN and faces:
        return f"1-of-{faces} matching"
    return METRIC_NAMES.get(metric, metric)


def render_trials_report(
    result: TrialsAuditResult,
    path: str | os.PathLike,
    *,
    privacy_k: int = PRIVACY_K,
    source: str | os.PathLike | None = None,
) -> Path:
    """Write the report of ``result`` to ``path`` (one self-contained HTML file)."""
    path = Path(path)
    page = trials_report_html(
        result, privacy_k=privacy_k, source=source if source is not None else path.parent
    )
    return write_html(page, path)


def _hide(frame: pd.DataFrame, counts: list[str], values: list[str], k: int) -> pd.DataFrame:
    """``frame`` with ``values`` blanked where any of ``counts`` is suppressed."""
    hidden = np.zeros(len(frame), dtype=bool)
    for column in counts:
        hidden |= np.asarray(is_suppressed(frame[column], k), dtype=bool)
    frame = frame.copy()
    frame.loc[hidden, [c for c in values if c in frame.columns]] = np.nan
    for column in counts:
        frame[column] = frame[column].astype(object).where(~hidden, fmt.SUPPRESSED)
    return frame


def _with_interval(frame: pd.DataFrame, value: str, low: str, high: str) -> pd.Series:
    return pd.Series(
        [
            "–" if pd.isna(v) else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"
            for v, lo, hi in zip(frame[value], frame[low], frame[high], strict=True)
        ],
        index=frame.index,
    )


def _groups_table(groups: pd.DataFrame, faces: int | None) -> Markup:
    wide = groups.assign(
        shown=_with_interval(groups, "value", "ci_low", "ci_high"),
        diff=_with_interval(groups, "difference", "diff_ci_low", "diff_ci_high"),
    )
    parts = []
    for metric, rows in wide.groupby("metric", sort=False):
        table = rows[
            ["slice", "group", "n_trials", "n_voice_speakers", "n_face_speakers", "status"]
        ].assign(
            value=rows["shown"],
            difference=rows["diff"],
            reference=rows["reference"].fillna("–"),
            p_adjusted=rows["p_adjusted"].map(fmt.p_value),
            flag=np.where(rows["flag"].fillna(False).astype(bool), "FLAG", ""),
        )
        parts.append(table_html(table, caption=metric_name(metric, faces)))
    return Markup("").join(parts)


def _det_figure(groups: pd.DataFrame, det: pd.DataFrame, hidden: set[tuple[str, str]]) -> Markup:
    """DET curves on probit axes, one panel per slice (overall in each), with each
    group's operating point at the global threshold (o); suppressed groups left out."""
    slices = [s for s in dict.fromkeys(det["slice"]) if s != OVERALL] or [OVERALL]
    figure = Figure(figsize=(5.2 * min(len(slices), 2), 4.6 * -(-len(slices) // 2)))
    panels = np.atleast_1d(figure.subplots(-(-len(slices) // 2), min(len(slices), 2))).ravel()
    at = groups.pivot_table(index=["slice", "group"], columns="metric", values="value")
    lim = norm.ppf([DET_TICKS[0], DET_TICKS[-1]])

    def probit(values: object) -> np.ndarray:
        return norm.ppf(np.clip(np.asarray(values, dtype=float), 1e-4, 1 - 1e-4))

    for axes, column in zip(panels, slices, strict=False):
        for key, curve in det[det["slice"].isin([OVERALL, column])].groupby(
            ["slice", "group"], sort=False
        ):
            if key in hidden:
                continue
            label = OVERALL if key[0] == OVERALL else str(key[1])
            style = {"color": "black", "linestyle": "--"} if key[0] == OVERALL else {}
            line = axes.plot(probit(curve["fmr"]), probit(curve["fnmr"]), label=label, **style)
            if key in at.index:
                point = at.loc[key]
                axes.plot(
                    probit(point.get("fmr")),
                    probit(point.get("fnmr")),
                    "o",
                    color=line[0].get_color(),
                )
        axes.plot(lim, lim, ":", color="grey", linewidth=0.8)
        ticks = norm.ppf(DET_TICKS)
        axes.set_xticks(ticks, [f"{t:g}" for t in DET_TICKS])
        axes.set_yticks(ticks, [f"{t:g}" for t in DET_TICKS])
        axes.set(xlim=lim, ylim=lim, title=column, xlabel="FMR", ylabel="FNMR")
        axes.legend(fontsize=7, loc="upper right")
    for axes in panels[len(slices) :]:
        axes.set_visible(False)
    return figure_html(
        figure,
        alt="DET curves per group",
        caption="DET curves (normal-deviate axes, every trial weighing one); o: the group "
        "at the global threshold; the EER is where a curve crosses the dotted diagonal.",
    )


def _fmr_heatmaps(matrix: pd.DataFrame) -> Markup:
    parts = []
    for column, cells in matrix.groupby("slice", sort=False):
        grid = cells.pivot(index="voice_group", columns="face_group", values="value")
        figure = Figure(figsize=(1.2 + 0.9 * grid.shape[1], 1.0 + 0.7 * grid.shape[0]))
        axes = figure.subplots()
        image = axes.imshow(grid.to_numpy(dtype=float), cmap="viridis")
        axes.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns], rotation=30)
        axes.set_yticks(range(grid.shape[0]), [str(i) for i in grid.index])
        axes.set(xlabel=f"face {column}", ylabel=f"voice {column}")
        for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
            if np.isfinite(value):
                axes.text(j, i, f"{value:.3f}", ha="center", va="center", color="white")
        figure.colorbar(image, ax=axes, label="FMR")
        parts.append(figure_html(figure, alt=f"FMR by voice and face {column}"))
        parts.append(
            table_html(
                cells.drop(columns="slice").assign(
                    fmr=_with_interval(cells, "value", "ci_low", "ci_high")
                )[
                    [
                        "voice_group",
                        "face_group",
                        "n_trials",
                        "n_voice_speakers",
                        "n_face_speakers",
                        "fmr",
                    ]
                ],
                caption=f"Impostor FMR by voice and face {column}",
            )
        )
    return Markup("").join(parts)


def _languages_table(languages: pd.DataFrame) -> Markup:
    if languages.empty:
        return Markup("")
    shown = languages.assign(
        heard=_with_interval(languages, "heard", "heard_ci_low", "heard_ci_high"),
        unheard=_with_interval(languages, "unheard", "unheard_ci_low", "unheard_ci_high"),
        gap=_with_interval(languages, "gap", "gap_ci_low", "gap_ci_high"),
        p_adjusted=languages["p_adjusted"].map(fmt.p_value),
        flag=np.where(languages["flag"].fillna(False).astype(bool), "FLAG", ""),
    )
    columns = ["metric", "slice", "group", "n_voice_speakers_heard", "n_voice_speakers_unheard"]
    return table_html(
        shown[[*columns, "status", "heard", "unheard", "gap", "p_adjusted", "flag"]],
        caption="Heard vs unheard languages (gap = unheard − heard, within speaker)",
    )


def _findings(result: TrialsAuditResult, privacy_k: int) -> list[str]:
    found = []
    faces = result.summary.get("one_of_n", {}).get("faces")
    for flag in result.summary["flags"]:
        counts = [flag.get("n_voice_speakers", flag.get("n_voice_speakers_heard", 0))]
        if any(is_suppressed(c, privacy_k) for c in counts if c is not None):
            continue
        what = "gap unheard − heard" if "gap" in flag else f"vs {flag['reference']}"
        value = flag.get("gap", flag.get("difference"))
        found.append(
            f"{metric_name(flag['metric'], faces)} {flag['slice']}="
            f"{flag['group']}: {value:+.3f} {what} (p_adj {fmt.p_value(flag['p_adjusted'])})"
        )
    return found or [
        "No difference is flagged (interval beyond the practical threshold after correction)."
    ]


def trials_report_html(
    result: TrialsAuditResult, *, privacy_k: int = PRIVACY_K, source: str | os.PathLike = ""
) -> str:
    """The trials report as an HTML string (see :func:`render_trials_report`)."""
    summary = result.summary
    values = ["value", "ci_low", "ci_high", "difference", "diff_ci_low", "diff_ci_high"]
    groups = _hide(result.groups, ["n_voice_speakers"], [*values, "p_adjusted"], privacy_k)
    small = is_suppressed(result.groups["n_voice_speakers"], privacy_k)
    hidden = set(zip(result.groups["slice"][small], result.groups["group"][small], strict=True))
    matrix = _hide(
        result.fmr_matrix,
        ["n_voice_speakers", "n_face_speakers"],
        ["value", "ci_low", "ci_high"],
        privacy_k,
    )
    languages = result.languages
    if len(languages):
        numbers = [c for c in languages.columns if c.startswith(("heard", "unheard", "gap"))]
        languages = _hide(
            languages,
            ["n_voice_speakers_heard", "n_voice_speakers_unheard"],
            [*numbers, "p_adjusted"],
            privacy_k,
        )
    trials, config = summary["trials"], summary["config"]
    one_of_n = summary.get("one_of_n", {})
    data = Markup(
        "<p>{n} trials ({t} targets) of {v} voice speakers and {f} face speakers, from "
        "<code>{path}</code>. FMR and FNMR at one global score threshold {thr:.4g} (fixed "
        "on all trials). minDCF at P_target {p}, C_miss {cm}, C_fa {cf}.</p>"
    ).format(
        n=trials["n_trials"],
        t=trials["n_targets"],
        v=trials["n_voice_speakers"],
        f=trials["n_face_speakers"],
        path=trials["path"],
        thr=summary["score_threshold"],
        p=config["p_target"],
        cm=config["c_miss"],
        cf=config["c_fa"],
    )
    method = Markup(
        "<p>Intervals: {level:.0%} percentile, from a two-way clustered bootstrap (voice "
        "and face speakers resampled independently, Poisson product weights rescaled to "
        "the two-way cluster-robust variance), {n_boot} replicates, seed {seed}. Every "
        "group is compared with {reference} within each replicate; {correction} "
        "correction over all differences and language gaps; a flag needs the interval of "
        "the difference beyond ±{threshold}. Groups with fewer than {min_speakers} voice "
        "or face speakers are insufficient (shown, not tested).</p><p>{matching}</p>"
    ).format(
        matching=(
            f"{metric_name(MATCH_1OFN, one_of_n['faces'])}: each clip's target face against "
            f"its {one_of_n['faces'] - 1} impostor faces; {one_of_n['ties']}; clustered by "
            "the voice speaker and every impostor face speaker."
            if one_of_n.get("faces")
            else one_of_n.get("note") or ""
        ),
        level=config["level"],
        n_boot=config["n_boot"],
        seed=config["seed"],
        reference=str(config["reference"]),
        correction=fmt.correction_name(config["correction"]),
        threshold=config["threshold"],
        min_speakers=config["min_speakers"],
    )
    caveats = Markup(
        "<ul><li>Groups are of the voice speaker; FMR also depends on the face speaker's "
        "group (see the heatmap).</li><li>Groups with fewer than {k} speakers show no "
        "numbers (privacy).</li><li>A trial list's impostor choice (same gender or any) "
        "changes FMR: compare audits of the same trials only.</li></ul>"
    ).format(k=privacy_k)
    sections = [
        Section("data", "What was audited", data),
        Section("method", "Metrics and uncertainty", method),
        Section("groups", "Metrics per group", _groups_table(groups, one_of_n.get("faces"))),
        Section("det", "DET curves per group", _det_figure(result.groups, result.det, hidden)),
    ]
    if len(matrix):
        sections.append(Section("fmr", "FMR by voice and face group", _fmr_heatmaps(matrix)))
    if len(languages):
        sections.append(
            Section("languages", "Heard and unheard languages", _languages_table(languages))
        )
    sections.append(Section("caveats", "Caveats", caveats))
    model = trials["meta"].get("model_id", "a voice–face matcher")
    return render_page(
        title=f"Trials audit of {model}",
        kind="Trials audit",
        source=source,
        sections=sections,
        findings=_findings(result, privacy_k),
    )


def render_trials_comparison_report(
    comparison: TrialsComparisonResult,
    path: str | os.PathLike,
    *,
    privacy_k: int = PRIVACY_K,
    source: str | os.PathLike | None = None,
) -> Path:
    """Write the report of a trials comparison to ``path``: regressions, gaps that moved and
    every paired change, with the comparison report's sections (:mod:`reports.comparison`)."""
    path = Path(path)
    html = trials_comparison_html(
        comparison, source=source if source is not None else path.parent, privacy_k=privacy_k
    )
    return write_html(html, path)


ELSEWHERE = (
    "regression(s) of a heard or unheard half or of a group pair's FMR (in their sections below)"
)


def _elsewhere(comparison: TrialsComparisonResult) -> int:
    """Regressions outside the per-group changes table (languages, FMR pairs)."""
    return len(comparison.regressions()) - int(comparison.changes["regression"].sum())


def _regressions(comparison: TrialsComparisonResult, changes: pd.DataFrame) -> Markup:
    """The changes table's regressions; never "no regression" while another table has one."""
    elsewhere = _elsewhere(comparison)
    if not elsewhere:
        return cmp._regressions(changes)
    note = Markup("<p>{} {}.</p>").format(elsewhere, ELSEWHERE)
    if not changes["regression"].any():
        return Markup("<p>No group's own value in the per-group changes regressed.</p>") + note
    return cmp._regressions(changes) + note


def trials_comparison_html(
    comparison: TrialsComparisonResult, *, source: str | os.PathLike, privacy_k: int = PRIVACY_K
) -> str:
    """The trials comparison report as an HTML string."""
    summary = comparison.summary
    specs = pd.DataFrame(summary["metrics"]).set_index("name")
    changes = cmp._classified(comparison.changes).assign(
        n_speakers=lambda f: f["n_voice_speakers"],
        unit=lambda f: f["metric"].map(specs["unit"]),
        headline=lambda f: f["metric"].map(specs["headline"]).astype(bool),
    )
    withheld = fmt.protected(changes, by=["model", "metric", "slice"], privacy_k=privacy_k)
    small = is_suppressed(changes["n_speakers"], privacy_k)
    changes = changes.assign(withheld=withheld & ~small)[~small & (changes["n_speakers"] > 0)]
    changes = changes.reset_index(drop=True)
    models = summary["models"]
    changes["model_id"] = [str(models[int(i)]["model_id"]) for i in changes["model"]]
    metric_names = Markup(
        "<p>Metrics: {}. FMR and FNMR are read at each audit's own global score threshold "
        "(fixed on its whole trial set); the other metrics need no threshold.</p>"
    ).format(
        ", ".join(f"{metric_name(m, summary.get('one_of_n_faces'))} ({m})" for m in specs.index)
    )
    sections = [
        Section("regressions", "Regressions", _regressions(comparison, changes)),
        Section("disparities", "Gaps: shrank, grew or stayed", cmp._disparities(changes)),
        Section(
            "changes",
            "Paired change per group",
            metric_names + cmp._change_plots(changes, models) + cmp._every_change(changes),
        ),
        Section("models", "Models compared", _compared_models(summary)),
        Section("method", "How changes were tested", cmp._method(summary, privacy_k)),
    ]
    at = 3  # after the paired changes, before the models
    if len(comparison.languages):
        table = _language_changes(comparison.languages, summary, models, privacy_k)
        sections.insert(at, Section("languages", "Heard and unheard languages", table))
        at += 1
    if len(comparison.fmr_matrix):
        table = _fmr_matrix_changes(comparison.fmr_matrix, summary, models, privacy_k)
        sections.insert(at, Section("fmr", "FMR by voice and face group", table))
    findings = cmp._findings(changes, summary)
    elsewhere = _elsewhere(comparison)
    if elsewhere:
        findings.insert(1, f"{elsewhere} more {ELSEWHERE}.")
    names = " vs ".join(str(m["model_id"]) for m in models)
    return render_page(
        title=f"Trials comparison: {names}",
        kind="Trials comparison",
        source=source,
        sections=sections,
        findings=findings,
    )


def _paired_rows(
    frame: pd.DataFrame, summary: dict, models: list[dict], counts: list[str], privacy_k: int
) -> pd.DataFrame:
    """``frame``'s paired changes as shown: model and metric names, baseline, candidate,
    change with its interval, adjusted p and flag; no numbers where one of ``counts`` is
    below ``privacy_k``."""
    numbers = ["value_baseline", "value", "delta", "delta_ci_low", "delta_ci_high", "p_adjusted"]
    shown = _hide(frame, counts, numbers, privacy_k)
    return shown.assign(
        model=[str(models[int(i)]["model_id"]) for i in shown["model"]],
        metric=[metric_name(m, summary.get("one_of_n_faces")) for m in shown["metric"]],
        baseline=shown["value_baseline"].map(lambda v: "–" if pd.isna(v) else f"{v:.3f}"),
        candidate=shown["value"].map(lambda v: "–" if pd.isna(v) else f"{v:.3f}"),
        change=_with_interval(shown, "delta", "delta_ci_low", "delta_ci_high"),
        p_adjusted=shown["p_adjusted"].map(fmt.p_value),
        flag=np.where(shown["flag"].fillna(False).astype(bool), "FLAG", ""),
    )


def _language_changes(
    languages: pd.DataFrame, summary: dict, models: list[dict], privacy_k: int
) -> Markup:
    """Each model's paired change of the heard, unheard and gap (unheard − heard) values."""
    shown = _paired_rows(languages, summary, models, ["n_voice_speakers"], privacy_k)
    heard = ", ".join(summary["languages"]["heard_languages"] or [])
    text = Markup(
        "<p>Heard languages: {}. Per half (heard, unheard, gap = unheard − heard), the "
        "candidate's change against the baseline, paired inside each replicate; "
        "{} correction over these changes alone. A heard or unheard value that got worse "
        "(flagged) is a regression; a gap change is reported.</p>"
    ).format(heard, fmt.correction_name(summary["tests"]["correction"]))
    columns = ["model", "metric", "slice", "group", "half", "n_voice_speakers", "status"]
    return text + table_html(
        shown[[*columns, "baseline", "candidate", "change", "p_adjusted", "flag"]],
        caption="Heard, unheard and cross-lingual gap: paired change per group",
    )


def _fmr_matrix_changes(
    matrix: pd.DataFrame, summary: dict, models: list[dict], privacy_k: int
) -> Markup:
    """Each model's paired FMR change per impostor (voice group, face group) cell: every
    cell when few, else the flagged ones."""
    counts = ["n_voice_speakers", "n_face_speakers"]
    shown = _paired_rows(matrix, summary, models, counts, privacy_k)
    flagged = matrix["flag"].fillna(False).astype(bool).to_numpy()
    every = len(matrix) <= FMR_CELLS_SHOWN
    listed = shown if every else shown[flagged]
    text = Markup(
        "<p>Impostor FMR per (voice group, face group) cell, each model at its own audit's "
        "global score threshold, and the candidate's change paired inside each replicate "
        "(two-way clustered, as the audits' FMR matrix); {} correction over these {} "
        "changes alone. A cell whose FMR rose (flagged: significant, interval beyond "
        "±{}) is a regression. Cells with fewer than {} voice or face speakers are "
        "insufficient (not tested). {}</p>"
    ).format(
        fmt.correction_name(summary["tests"]["correction"]),
        summary["fmr_matrix"]["n_tests"],
        summary["config"]["threshold"],
        summary["config"]["min_speakers"],
        "Every cell is shown."
        if every
        else f"The {int(flagged.sum())} flagged of {len(matrix)} cells are shown.",
    )
    columns = ["model", "slice", "voice_group", "face_group", "n_trials", *counts, "status"]
    return text + table_html(
        listed[[*columns, "baseline", "candidate", "change", "p_adjusted", "flag"]],
        caption="Impostor FMR by voice and face group: paired change per cell",
    )


def _compared_models(summary: dict) -> Markup:
    frame = pd.DataFrame(summary["models"])
    frame.insert(0, "model", range(len(frame)))
    text = Markup("<p>{} shared trials of {} voice and {} face speakers (alignment: {}).</p>")
    notes = Markup("").join(Markup("<li>{}</li>").format(n) for n in summary.get("notes", []))
    return (
        text.format(
            fmt.count(summary["n_trials"]),
            fmt.count(summary["n_voice_speakers"]),
            fmt.count(summary["n_face_speakers"]),
            summary["align"],
        )
        + table_html(frame, formats={"n_trials": fmt.count}, caption="models")
        + (Markup("<ul>{}</ul>").format(notes) if notes else Markup(""))
    )
