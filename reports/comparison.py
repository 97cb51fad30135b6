"""The comparison report: paired changes of retrained models against a baseline.

Regressions first, then which disparities shrank, grew or stayed, then the paired
change of each metric per group with its interval: plotted for the headline and
regressed metrics, tabulated (one folded table per metric) for every metric and group.
Every number is read from ``comparison.json`` / ``changes.parquet`` and shown with its
(model, metric, slice, group) keys.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from audit.artifacts import SEPARATOR
from audit.compare import TOWARD, ComparisonResult
from audit.privacy import PRIVACY_K, is_suppressed
from reports import _figures as figures
from reports import _format as fmt
from reports._limits import ETHICS, Limits, caveats_section, inferred_findings
from reports._page import Section, collected_once, figure_html, render_page, table_html, write_html

GREW, SHRANK, STAYED, NO_GAP = "grew", "shrank", "stayed", "no gap"
MAX_ROWS = 40


def render_comparison_report(
    comparison: ComparisonResult,
    path: str | os.PathLike,
    *,
    privacy_k: int = PRIVACY_K,
    source: str | os.PathLike | None = None,
) -> Path:
    """Write the comparison report to ``path`` (one self-contained HTML file)."""
    path = Path(path)
    html = comparison_report_html(
        comparison, source=source if source is not None else path.parent, privacy_k=privacy_k
    )
    return write_html(html, path)


@collected_once
def comparison_report_html(
    comparison: ComparisonResult, *, source: str | os.PathLike, privacy_k: int = PRIVACY_K
) -> str:
    """The comparison report as an HTML string (see :func:`render_comparison_report`)."""
    summary = comparison.summary
    limits = _limits(comparison, privacy_k)
    changes = _classified(comparison.changes)
    specs = pd.DataFrame(summary["metrics"]).set_index("name")
    changes["unit"] = changes["metric"].map(specs["unit"])
    changes["headline"] = changes["metric"].map(specs["headline"]).astype(bool)
    by = [c for c in ("model", "metric", "slice") if c in changes.columns]
    withheld = fmt.protected(changes, by=by, privacy_k=privacy_k)
    withheld &= ~is_suppressed(changes["n_speakers"], privacy_k).to_numpy()
    changes = changes.assign(withheld=withheld)
    changes = changes[~is_suppressed(changes["n_speakers"], privacy_k)]
    changes = changes[changes["n_speakers"] > 0].reset_index(drop=True)
    models = summary["models"]
    changes["model_id"] = [str(models[int(index)]["model_id"]) for index in changes["model"]]
    sections = [
        Section("regressions", "Regressions", _regressions(changes)),
        Section("disparities", "Disparities: shrank, grew or stayed", _disparities(changes)),
        Section(
            "changes",
            "Paired change per group",
            _change_plots(changes, models) + _every_change(changes),
        ),
        Section("models", "Models compared", _models(summary)),
        Section("method", "How changes were tested", _method(summary, privacy_k)),
        Section("caveats", "Caveats", caveats_section(limits)),
        Section("ethics", "Ethical considerations", ETHICS),
    ]
    names = " vs ".join(str(m["model_id"]) for m in models)
    return render_page(
        title=f"Comparison: {names}",
        kind="Model comparison",
        source=source,
        sections=sections,
        findings=[*_findings(changes, summary), *inferred_findings(limits)],
        subtitle=_evaluated_at(models),
    )


def _evaluated_at(models: list[dict]) -> str:
    """The clip duration each model was audited at, when the audits record it."""
    durations = [m.get("duration_s") for m in models]
    if any(d is None for d in durations):
        return ""
    if len(set(durations)) == 1:
        return f"Clips evaluated at {durations[0]:g} s of speech."
    shown = ", ".join(f"{m['model_id']} at {d:g} s" for m, d in zip(models, durations, strict=True))
    return f"The same clips evaluated at different durations: {shown} (the first is the baseline)."


def _limits(comparison: ComparisonResult, privacy_k: int) -> Limits:
    """Label provenance (when the comparison records it), evidence per group, notes."""
    summary = comparison.summary
    min_speakers = summary["config"]["min_speakers"]
    cells = comparison.changes.drop_duplicates(["slice", "group"])
    cells = cells[cells["slice"] != "overall"]
    labels = cells["slice"] + " = " + cells["group"]
    speakers = cells["n_speakers"]
    suppressed = is_suppressed(speakers, privacy_k)
    return Limits(
        provenance=summary.get("label_provenance"),
        min_speakers=min_speakers,
        privacy_k=privacy_k,
        insufficient=list(labels[(speakers > 0) & (speakers < min_speakers)]),
        empty=list(labels[speakers == 0]),
        suppressed=list(labels[suppressed]),
        notes=summary.get("notes", []),
        domain_gap=_domain_gap(comparison),
    )


def _domain_gap(comparison: ComparisonResult) -> str:
    """The baseline's F2F agreement over all clips, when the comparison holds it."""
    subjects = {
        m["name"]: m["subject"]
        for m in comparison.summary["metrics"]
        if m["family"] == "agreement" and m["face"] == "f2f"
    }
    changes = comparison.changes
    overall = changes[(changes["slice"] == "overall") & changes["metric"].isin(list(subjects))]
    overall = overall.drop_duplicates("metric")
    if overall.empty:
        return ""
    shown = ", ".join(
        f"{subjects[metric].replace('_', ' ')} {value * 100:.1f}%"
        for metric, value in zip(overall["metric"], overall["value_baseline"], strict=True)
    )
    return f" Here, the baseline's F2F agreement with the true face is: {shown}."


def _classified(changes: pd.DataFrame) -> pd.DataFrame:
    """Each row's disparity outcome: grew (a widened gap), shrank, stayed, or no gap."""
    changes = changes.copy()
    changes["disparity"] = np.select(
        [changes[TOWARD].isna(), changes["gap_widened"], changes["gap_narrowed"]],
        [NO_GAP, GREW, SHRANK],
        default=STAYED,
    )
    return changes


def _model_name(summary: dict, index: int) -> str:
    return str(summary["models"][int(index)]["model_id"])


def _findings(changes: pd.DataFrame, summary: dict) -> list[str]:
    regressions = _ordered(changes[changes["regression"]])
    tests = summary["tests"]
    baseline = _model_name(summary, summary.get("baseline", 0))
    out = [
        f"{len(regressions)} regression(s) against the baseline {baseline}: a group's own "
        f"value got worse, significant after {fmt.correction_name(tests['correction'])} "
        f"correction over {tests['n_tests']} paired tests, with the change's interval beyond "
        "the practical threshold."
    ]
    for row in regressions.head(5).itertuples():
        unit = row.unit
        out.append(
            f"{_model_name(summary, row.model)}, {row.slice} = {row.group}: {row.metric} "
            f"changed by {fmt.difference_formatter(unit)(row.delta)} (95% CI "
            f"{fmt.interval(row.delta_ci_low, row.delta_ci_high, unit, signed=True)}), "
            f"adjusted p {fmt.p_value(row.p_adjusted)}."
        )
    outcome = changes["disparity"].value_counts()
    out.append(
        f"Gaps to the baseline's fixed reference: {outcome.get(GREW, 0)} widened, "
        f"{outcome.get(SHRANK, 0)} narrowed significantly, {outcome.get(STAYED, 0)} stayed "
        "within noise."
    )
    improved = int(changes["improvement"].sum())
    if improved:
        out.append(f"{improved} metric value(s) improved significantly beyond the threshold.")
    return out


def _change_table(rows: pd.DataFrame, *, caption: str, with_metric: bool = True) -> Markup:
    """Paired changes with their keys; ``with_metric`` False leaves out the metric column
    (a table of one metric, named in its caption)."""
    units = list(rows["unit"])
    value = [fmt.value_formatter(u) for u in units]
    difference = [fmt.difference_formatter(u) for u in units]
    display = pd.DataFrame(
        {
            "model": rows["model_id"],
            "metric": rows["metric"],
            "slice": rows["slice"],
            "group": rows["group"],
            "speakers": rows["n_speakers"].astype(float).where(~rows["withheld"], fmt.WITHHELD),
            "baseline → candidate": [
                f"{f(a)} → {f(b)}"
                for f, a, b in zip(value, rows["value_baseline"], rows["value"], strict=True)
            ],
            "change": rows["delta"],
            "change 95% CI": [
                fmt.interval(lo, hi, u, signed=True)
                for u, lo, hi in zip(
                    units, rows["delta_ci_low"], rows["delta_ci_high"], strict=True
                )
            ],
            "p (adj.)": rows["p_adjusted"],
            "threshold": [
                fmt.difference_formatter(u)(t)
                for u, t in zip(units, rows["threshold"], strict=True)
            ],
            "gap to reference: toward parity [95% CI]": [
                f"{f(g)} {fmt.interval(lo, hi, u, signed=True)} vs {ref}" if fmt.finite(g) else "–"
                for f, u, g, lo, hi, ref in zip(
                    difference,
                    units,
                    rows[TOWARD],
                    rows[f"{TOWARD}_ci_low"],
                    rows[f"{TOWARD}_ci_high"],
                    rows["reference"],
                    strict=True,
                )
            ],
            "outcome": [
                "regression" if r else ("improved" if i else d)
                for r, i, d in zip(
                    rows["regression"], rows["improvement"], rows["disparity"], strict=True
                )
            ],
        }
    )
    if not with_metric:
        display = display.drop(columns="metric")
    changes = iter([f(d) for f, d in zip(difference, rows["delta"], strict=True)])
    return table_html(
        display,
        formats={
            "p (adj.)": fmt.p_value,
            "speakers": fmt.private_count(privacy_k=0),
            "change": lambda _: next(changes),
        },
        badges={"outcome": fmt.badge},
        caption=caption,
    )


def _ordered(rows: pd.DataFrame) -> pd.DataFrame:
    """One-column slices before intersections; within, the largest change (in thresholds)."""
    size = (rows["delta"].abs() / rows["threshold"].where(rows["threshold"] > 0, 1)).fillna(0)
    order = rows["slice"].str.count(SEPARATOR).where(rows["slice"] != "overall", -1)
    key = pd.DataFrame({"order": order, "size": -size}, index=rows.index)
    return rows.loc[key.sort_values(["order", "size"], kind="stable").index]


def _regressions(changes: pd.DataFrame) -> Markup:
    rows = changes[changes["regression"]]
    if rows.empty:
        return Markup(
            '<p class="ok-note">No regression: no group\'s own value got significantly worse '
            "with its interval beyond the threshold.</p>"
        )
    rows = _ordered(rows)
    note = Markup(
        "<p>A <em>regression</em> is a group's own value getting worse: the change is "
        "significant after correction (<em>p (adj.)</em>) and its 95% interval lies beyond the "
        "practical <em>threshold</em> on the worse side. A gap that widens only because "
        "another group (or the whole population) moved is not one; gaps are in the next "
        "section. Keys: rows of <code>changes.parquet</code> (model, metric, slice, "
        "group).</p>"
    )
    return (
        note
        + _change_table(rows.head(MAX_ROWS), caption="Regressions, largest first")
        + (
            _folded(rows.iloc[MAX_ROWS:], "more regressions")
            if len(rows) > MAX_ROWS
            else Markup("")
        )
    )


def _folded(rows: pd.DataFrame, label: str) -> Markup:
    return Markup("<details><summary>{} {}</summary>{}</details>").format(
        len(rows), label, _change_table(rows, caption=label)
    )


def _disparities(changes: pd.DataFrame) -> Markup:
    with_gap = changes[changes["disparity"] != NO_GAP]
    if with_gap.empty:
        return Markup("<p>No group has a reference to measure a disparity against.</p>")
    counts = (
        with_gap.groupby(["metric", "disparity"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=[GREW, SHRANK, STAYED], fill_value=0)
        .reset_index()
    )
    parts = [
        Markup(
            "<p>For each group, the change of its gap to the reference fixed by the baseline "
            "audit (the group it named, else overall), signed: <em>toward parity</em> = "
            "|baseline gap| − |gap|, computed in every paired replicate, positive when the gap "
            "narrowed. <em>grew</em> and <em>shrank</em> are significant after correction with "
            "the interval beyond the threshold; everything else <em>stayed</em>.</p>"
        ),
        table_html(counts, caption="Disparity outcomes per metric"),
    ]
    moved = with_gap[with_gap["disparity"].isin([GREW, SHRANK])]
    if len(moved):
        moved = moved.assign(order=moved["disparity"].map({GREW: 0, SHRANK: 1})).sort_values(
            ["order", TOWARD], ascending=[True, True]
        )
        parts.append(_change_table(moved.head(MAX_ROWS), caption="Disparities that moved"))
        if len(moved) > MAX_ROWS:
            parts.append(_folded(moved.iloc[MAX_ROWS:], "more disparities that moved"))
    return Markup("").join(parts)


def _every_change(changes: pd.DataFrame) -> Markup:
    """Every shown (model, slice, group) row of each metric, one folded table per metric:
    the plots above show one-column slices of some metrics only."""
    parts = []
    for metric, rows in changes.groupby("metric", sort=False):
        rows = _ordered(rows.sort_values(["model"], kind="stable"))
        worse = int(rows["regression"].sum())
        parts.append(
            Markup(
                "<details><summary>Table: {} for every group and intersection ({} rows{})"
                "</summary>{}</details>"
            ).format(
                metric,
                len(rows),
                f", {worse} regression(s)" if worse else "",
                _change_table(
                    rows,
                    caption=f"changes.parquet rows with metric = {metric}",
                    with_metric=False,
                ),
            )
        )
    if not parts:
        return Markup("")
    intro = Markup(
        "<h3>Every paired change</h3><p>One folded table per metric (fold open; printed, "
        "all are open): every model, slice, group and intersection not suppressed for "
        "privacy, overall first, then one-column slices, then intersections, each by the size "
        "of the change. Every number is a row of <code>changes.parquet</code>.</p>"
    )
    return intro + Markup("").join(parts)


def _change_plots(changes: pd.DataFrame, models: list[dict]) -> Markup:
    single = changes[~changes["slice"].str.contains(SEPARATOR, regex=False)]
    metrics = list(dict.fromkeys(single.loc[single["headline"], "metric"]))
    flagged = set(changes.loc[changes["regression"], "metric"])
    metrics = [
        *metrics,
        *(m for m in dict.fromkeys(single["metric"]) if m in flagged and m not in metrics),
    ]
    parts = [
        Markup(
            "<p>Candidate minus baseline, per group, with the 95% paired bootstrap interval "
            "(the same speakers resampled for both models). Red: regression; green: "
            "significant gain; dashed: no change.</p>"
        )
    ]
    for model in sorted(single["model"].unique()):
        for metric in metrics:
            rows = single[(single["model"] == model) & (single["metric"] == metric)]
            panels = [(slice_name, part) for slice_name, part in rows.groupby("slice", sort=False)]
            if not panels:
                continue
            name = models[int(model)]["model_id"]
            parts.append(
                figure_html(
                    figures.change_plot(panels, metric=metric),
                    alt=f"Paired change of {metric} per group, {name} against the baseline",
                    caption=f"{metric}: {name} minus baseline (changes.parquet, model = {model}, "
                    f"metric = {metric})",
                )
            )
    return Markup("").join(parts)


def _models(summary: dict) -> Markup:
    frame = pd.DataFrame(summary["models"])
    frame.insert(0, "model", range(len(frame)))
    frame["role"] = [
        "baseline" if i == summary.get("baseline", 0) else "candidate" for i in frame["model"]
    ]
    text = Markup("<p>{} of {} (alignment: {}).</p>").format(
        fmt.counted(summary["n_clips"], "shared clip"),
        fmt.counted(summary["n_speakers"], "speaker"),
        summary["align"],
    )
    notes = Markup("").join(Markup("<li>{}</li>").format(n) for n in summary.get("notes", []))
    return (
        text
        + table_html(frame, formats={"n_clips": fmt.count}, caption="models")
        + (Markup("<ul>{}</ul>").format(notes) if notes else Markup(""))
    )


def _method(summary: dict, privacy_k: int) -> Markup:
    bootstrap, tests = summary["bootstrap"], summary["tests"]
    return Markup(
        "<p>Changes and their intervals come from a <strong>{method}</strong> ({n_boot} "
        "replicates, seed {seed}): in each replicate every speaker has the same weight for "
        "every model, so the change is paired. The {n_tests} tests ({family}) are corrected "
        "together with <strong>{correction}</strong> at α = {alpha}. Groups with fewer than "
        "{k} speakers are not shown (privacy threshold).</p>"
    ).format(
        method=bootstrap["method"],
        n_boot=bootstrap["n_boot"],
        seed=bootstrap["seed"],
        n_tests=tests["n_tests"],
        family=tests["family"],
        correction=tests["correction"],
        alpha=tests["alpha"],
        k=privacy_k,
    )
