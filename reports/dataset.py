"""The dataset report: the composition section of a datasheet, from a saved dataset analysis.

Findings first (who is under-represented and what an audit of this data can detect),
then group sizes per split, intersections with empty and thin cells marked, imbalance
scores, train-versus-test shift, the reference population, language × ethnicity, label
provenance, the recording conditions per group (when a conditions table was given) and the
minimum detectable difference per group. Every number is read
from the :class:`~audit.imbalance.DatasetAnalysis` tables.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from audit.artifacts import SEPARATOR
from audit.conditions_summary import UNITS, format_measure
from audit.imbalance import (
    ALL,
    ALL_UNKNOWN,
    UNKNOWN_EVERYWHERE,
    DatasetAnalysis,
    conditions_findings,
    findings_for,
)
from audit.privacy import PRIVACY_K, is_suppressed
from reports import _figures as figures
from reports import _format as fmt
from reports._page import Section, collected_once, figure_html, render_page, table_html, write_html
from speech2face.vocabulary import UNKNOWN

EVALUATION_SPLIT = "test"
REPRESENTATION_SPLIT = "train"


def render_dataset_report(
    analysis: DatasetAnalysis,
    path: str | os.PathLike,
    *,
    source: str | os.PathLike,
    privacy_k: int = PRIVACY_K,
) -> Path:
    """Write the dataset report of ``analysis`` (of the manifest ``source``) to ``path``.

    Groups with fewer than ``privacy_k`` speakers (but some) show ``< k`` instead of
    their counts, shares and detectable differences, in tables and figures.
    """
    return write_html(dataset_report_html(analysis, source=source, privacy_k=privacy_k), path)


@collected_once
def dataset_report_html(
    analysis: DatasetAnalysis, *, source: str | os.PathLike, privacy_k: int = PRIVACY_K
) -> str:
    """The dataset report as an HTML string (see :func:`render_dataset_report`)."""
    counts = _private_counts(analysis.counts, privacy_k)
    builders = [
        ("overview", "Overview", lambda: _overview(analysis)),
        ("composition", "Group sizes per split", lambda: _composition(analysis, counts, privacy_k)),
        ("intersections", "Intersections", lambda: _intersections(analysis, privacy_k)),
        ("imbalance", "Imbalance scores", lambda: _imbalance(analysis, privacy_k)),
        ("shift", "Train versus test", lambda: _shift(analysis)),
        (
            "reference",
            "Against the reference population",
            lambda: _reference(analysis, privacy_k),
        ),
        ("language", "Language × ethnicity", lambda: _language(analysis, privacy_k)),
        ("provenance", "Label provenance", lambda: _provenance(analysis)),
        (
            "conditions",
            "Recording conditions per group",
            lambda: _conditions(analysis, privacy_k),
        ),
        (
            "power",
            "What an audit of this data can detect",
            lambda: _power(analysis, counts, privacy_k),
        ),
        ("method", "How these numbers were computed", lambda: _method(analysis, privacy_k)),
    ]
    sections = []
    for anchor, title, build in builders:
        body = build()
        if body:
            sections.append(Section(anchor, title, body))
    return render_page(
        title=f"Dataset composition: {Path(source).name}",
        kind="Dataset report",
        source=source,
        sections=sections,
        findings=_report_findings(analysis, counts, privacy_k),
    )


def _private_findings(
    findings: list[str], withheld: pd.DataFrame, *, extra: list[str] = (), dropped: int = 0
) -> list[str]:
    """Findings without those naming a group withheld by complementary suppression (they
    would give its share or detectable difference, and so its count), then ``extra``
    (already private), then how many were left out (``dropped`` more elsewhere), said once."""
    names = list(zip(withheld["slice"], withheld["group"], strict=True))
    kept = [f for f in findings if not any(s in f and g in f for s, g in names)]
    left_out = len(findings) - len(kept) + dropped
    kept += extra
    if left_out:
        kept.append(
            f"{left_out} finding(s) left out: they would show the numbers "
            "of a group withheld so that a group below the privacy threshold cannot be "
            "recovered by subtraction."
        )
    return kept


def _report_findings(analysis: DatasetAnalysis, counts: pd.DataFrame, privacy_k: int):
    """The findings the report lists: those of the counts without any naming a withheld
    group, then the recording conditions of the groups whose conditions are shown."""
    every = findings_for(analysis, privacy_k=privacy_k)
    conditions = set(conditions_findings(analysis, privacy_k=1))
    hidden = _hidden_conditions_findings(analysis, privacy_k)
    shown = [f for f in every if f in conditions and f not in hidden]
    return _private_findings(
        [f for f in every if f not in conditions],
        counts[counts["withheld"]],
        extra=shown,
        dropped=sum(f in conditions for f in every) - len(shown),
    )


PRIVACY_NOTE = Markup(
    "<p><strong>Privacy.</strong> A group with fewer speakers than the threshold shows "
    "<code>&lt; k</code> instead of its counts, shares and detectable difference. So that "
    "these cannot be recovered by subtracting the other groups from a total (complementary "
    "suppression), wherever a slice, or a row or column of an intersection, would hide only "
    "one group or fewer than k speakers in all, the next-smallest groups are "
    "<em>withheld</em> too; findings naming a withheld group are left out.</p>"
)


def _protected(counts: pd.DataFrame, privacy_k: int) -> np.ndarray:
    """Rows of the per-split counts hidden or withheld: within each split's slice, and
    across the splits of one group (its splits add up to its ``all`` row)."""
    return fmt.protected(counts, by=["split", "slice"], privacy_k=privacy_k, across=["split"])


def _private_counts(counts: pd.DataFrame, privacy_k: int) -> pd.DataFrame:
    """Counts with the numbers of groups below the privacy threshold removed."""
    counts = counts.copy()
    hidden = is_suppressed(counts["n_speakers"], privacy_k).to_numpy()
    withheld = _protected(counts, privacy_k) & ~hidden
    counts["suppressed"] = hidden
    counts["withheld"] = withheld
    for column in (
        "n_clips",
        "n_speakers",
        "clip_share",
        "speaker_share",
        "min_detectable_difference",
    ):
        values = counts[column].astype(float).where(~hidden)
        counts[column] = values.where(~withheld, fmt.WITHHELD)
    counts["status"] = counts["status"].where(~hidden, fmt.SUPPRESSED)
    return counts


def _splits(analysis: DatasetAnalysis) -> list[str]:
    """The splits to show side by side: every named split, or ``all`` when there is one."""
    named = [s for s in analysis.settings["splits"] if s != ALL]
    return named or [ALL]


def _overview(analysis: DatasetAnalysis) -> Markup:
    settings = analysis.settings
    leaked = settings.get("speakers_in_several_splits", 0)
    text = Markup(
        "<p>{} of {} in the splits {}. Speakers, not clips, are the unit of "
        "evidence: shares, tests and detectable differences count speakers.</p>"
    ).format(
        fmt.counted(settings["n_clips"], "clip"),
        fmt.counted(settings["n_speakers"], "speaker"),
        ", ".join(s for s in settings["splits"] if s != ALL),
    )
    if leaked:
        text += Markup(
            '<div class="callout">{} speaker(s) appear in more than one split.</div>'
        ).format(leaked)
    return text


def _counts_table(rows: pd.DataFrame, privacy_k: int, *, caption: str) -> Markup:
    display = pd.DataFrame(
        {
            "split": rows["split"],
            "slice": rows["slice"],
            "group": rows["group"],
            "speakers": rows["n_speakers"],
            "clips": rows["n_clips"],
            "speaker share": rows["speaker_share"],
            "status": rows["status"],
            "detectable difference": rows["min_detectable_difference"],
        }
    )
    small = fmt.private_count(privacy_k)
    return table_html(
        display,
        formats={
            "speakers": small,
            "clips": small,
            "speaker share": _withheld(fmt.share),
            "detectable difference": _withheld(_points),
        },
        badges={"status": fmt.badge},
        caption=caption,
    )


def _withheld(formatter):
    """``formatter``, but "withheld" for a value withheld by complementary suppression."""
    return lambda v: "withheld" if v == fmt.WITHHELD else formatter(v)


def _points(value: object) -> str:
    if not fmt.finite(value):
        return "–"
    return "none detectable" if value >= 1 else f"{value * 100:.0f} pts"


def _composition(analysis: DatasetAnalysis, counts: pd.DataFrame, privacy_k: int) -> Markup:
    single = analysis.counts[analysis.counts["order"] == 1]
    private = counts[counts["order"] == 1]
    splits = _splits(analysis)
    parts = [
        Markup(
            "<p>Share of speakers of each group, per split. Status <em>thin</em>: fewer than "
            "{} speakers (too few to audit); <em>suppressed</em>: fewer than {} (privacy "
            "threshold; numbers not shown); <em>withheld</em>: shown in neither table nor "
            "chart, so that a suppressed group's numbers cannot be recovered by "
            "subtraction.</p>"
        ).format(analysis.settings["min_speakers"], privacy_k)
    ]
    unknown_only = analysis.settings.get("unknown_only", [])
    for column in analysis.settings["columns"]:
        rows = single[(single["slice"] == column) & single["split"].isin(splits)]
        if rows.empty:
            continue
        if column in unknown_only:
            parts.append(
                Markup('<p class="note"><strong>{}</strong></p>').format(
                    UNKNOWN_EVERYWHERE.format(column=column)
                )
            )
            continue
        rows = rows.assign(withheld=private.loc[rows.index, "withheld"])
        parts.append(Markup("<h3>{}</h3>").format(column))
        hidden = is_suppressed(rows["n_speakers"], privacy_k) | rows["withheld"].fillna(False)
        if hidden.all():
            parts.append(
                Markup(
                    '<p class="note">Every {} group is below the privacy threshold of {} '
                    "speakers (or withheld): no chart, no counts.</p>"
                ).format(column, privacy_k)
            )
            continue
        parts.append(
            figure_html(
                figures.share_bars(rows, column=column, privacy_k=privacy_k),
                alt=f"Share of speakers by {column} per split",
                caption=f"Share of speakers by {column} per split "
                f"(counts.parquet, slice = {column})",
            )
        )
        table_rows = private[(private["slice"] == column)]
        parts.append(
            Markup("<details><summary>Table: {} per split ({} rows)</summary>{}</details>").format(
                column,
                len(table_rows),
                _counts_table(table_rows, privacy_k, caption=f"counts.parquet, slice = {column}"),
            )
        )
    return Markup("").join(parts)


def _intersections(analysis: DatasetAnalysis, privacy_k: int) -> Markup:
    counts = analysis.counts
    private = _private_counts(counts, privacy_k)
    pairs = counts[(counts["order"] == 2) & (counts["status"] != ALL_UNKNOWN)]
    if pairs.empty:
        return Markup("")
    splits = _splits(analysis)
    parts = [
        Markup(
            "<p>Speakers per cell of each two-column intersection. <strong>Hatched</strong>: "
            "empty (no speaker at all); <strong>amber border</strong>: thin (fewer than {} "
            "speakers, too few to audit); <code>&lt;{}</code>: below the privacy threshold; "
            "<em>withheld</em>: not shown so that a cell below it cannot be recovered from "
            "its row, its column or the group totals. Empty intersections are listed, never "
            "dropped.</p>"
        ).format(analysis.settings["min_speakers"], privacy_k)
    ]
    for slice_name in dict.fromkeys(pairs["slice"]):
        rows_label, columns_label = slice_name.split(SEPARATOR)
        part = pairs[pairs["slice"] == slice_name]
        panels = []
        for split in splits:
            cells = part[part["split"] == split]
            labels = cells["group"].str.split(SEPARATOR, expand=True)
            matrix = pd.crosstab(labels[0], labels[1], values=cells["n_speakers"], aggfunc="sum")
            matrix = matrix.reindex(
                index=fmt.group_order(matrix.index), columns=fmt.group_order(matrix.columns)
            )
            withheld = pd.crosstab(
                labels[0], labels[1], values=private.loc[cells.index, "withheld"], aggfunc="any"
            )
            withheld = withheld.reindex(index=matrix.index, columns=matrix.columns)
            panels.append((split, matrix.fillna(0), withheld.fillna(False).astype(bool)))
        parts.append(Markup("<h3>{}</h3>").format(slice_name))
        parts.append(
            figure_html(
                figures.count_heatmap(
                    panels,
                    min_speakers=analysis.settings["min_speakers"],
                    privacy_k=privacy_k,
                    rows_label=rows_label,
                    columns_label=columns_label,
                ),
                alt=f"Speakers per {slice_name} cell, per split",
                caption=f"Speakers per cell of {slice_name} (counts.parquet, slice = {slice_name})",
            )
        )
        empty = part[(part["status"] == "empty") & part["split"].isin(splits)]
        if len(empty):
            listed = [f"{s}: {g}" for s, g in zip(empty["split"], empty["group"], strict=True)]
            parts.append(Markup('<p class="note">Empty cells: {}</p>').format(fmt.listing(listed)))
    return Markup("").join(parts)


def _suppressed(analysis: DatasetAnalysis, privacy_k: int) -> pd.Series:
    """Whether each (split, slice, group) is below the privacy threshold (but not empty)
    or withheld so that one below it cannot be recovered by subtraction."""
    counts = analysis.counts
    hidden = _protected(counts, privacy_k)
    return pd.Series(hidden, index=pd.MultiIndex.from_frame(counts[["split", "slice", "group"]]))


def _hide(frame: pd.DataFrame, hidden: pd.Series, *, group: str, columns: list[str]):
    """``frame`` with ``columns`` blanked where (split, column, ``group``) is suppressed."""
    keys = pd.MultiIndex.from_arrays([frame["split"], frame["column"], frame[group]])
    mask = hidden.reindex(keys, fill_value=False).to_numpy()
    frame = frame.copy()
    for column in columns:
        frame[column] = frame[column].astype(float).where(~mask)
    return frame


def _imbalance(analysis: DatasetAnalysis, privacy_k: int) -> Markup:
    frame = analysis.imbalance
    if frame.empty:
        return Markup("")
    hidden = _suppressed(analysis, privacy_k)
    frame = _hide(frame, hidden, group="smallest_group", columns=["min_share"])
    frame = _hide(frame, hidden, group="largest_group", columns=["max_share"])
    frame = _hide(
        frame.assign(unknown=UNKNOWN), hidden, group="unknown", columns=["unknown_speaker_share"]
    )
    frame = frame.drop(columns="unknown")
    display = frame.rename(
        columns={
            "n_categories": "groups",
            "unknown_speaker_share": "unknown share",
            "largest_group": "largest",
            "smallest_group": "smallest",
            "min_share": "smallest share",
            "max_share": "largest share",
            "imbalance_score": "score (speakers)",
            "imbalance_score_clips": "score (clips)",
        }
    )
    share = fmt.share
    score = lambda v: f"{v:.2f}" if fmt.finite(v) else "–"  # noqa: E731
    return Markup(
        "<p>Imbalance score 1 − H/log₂k of each column's speaker shares over its k known "
        "groups: 0 when all groups are equally large, 1 when one group holds everyone.</p>"
    ) + table_html(
        display,
        formats={
            "unknown share": share,
            "smallest share": share,
            "largest share": share,
            "score (speakers)": score,
            "score (clips)": score,
        },
        caption="imbalance.parquet (a share of a group below the privacy threshold is blank)",
    )


def _shift(analysis: DatasetAnalysis) -> Markup:
    frame = analysis.shift
    if frame.empty:
        return Markup("<p>The data has no train and test splits to compare.</p>")
    alpha = analysis.settings["alpha"]
    display = pd.DataFrame(
        {
            "column": frame["column"],
            "total variation": frame["tv_distance"],
            "chi-square": frame["chi2"],
            "dof": frame["dof"],
            "p": frame["p_value"],
            "train speakers": frame["n_train"],
            "test speakers": frame["n_test"],
            "shift": np.where(frame["p_value"] < alpha, "shifted", "ok"),
        }
    )
    return Markup(
        "<p>Does the test split have the composition of the train split? Total variation "
        "distance of the speaker shares and a chi-square test of homogeneity, per column.</p>"
    ) + table_html(
        display,
        formats={
            "total variation": lambda v: f"{v:.3f}",
            "chi-square": lambda v: f"{v:.2f}" if fmt.finite(v) else "–",
            "p": fmt.p_value,
        },
        badges={"shift": lambda v: "insufficient" if v == "shifted" else "ok"},
        caption="shift.parquet",
    )


def _reference(analysis: DatasetAnalysis, privacy_k: int) -> Markup:
    frame = analysis.reference
    if not frame.empty:
        frame = _hide(
            frame,
            _suppressed(analysis, privacy_k),
            group="group",
            columns=["observed_share", "difference", "ratio"],
        )
    if frame.empty:
        return Markup(
            "<p>No reference population was given (<code>--reference-population "
            "shares.json</code>), so representation is not compared with one.</p>"
        )
    split = REPRESENTATION_SPLIT if (frame["split"] == REPRESENTATION_SPLIT).any() else ALL
    parts = [
        Markup(
            "<p>Observed share of speakers among those with a known label ({} split) "
            "against the reference population's share.</p>"
        ).format(split)
    ]
    for column, rows in frame[frame["split"] == split].groupby("column", sort=False):
        parts.append(
            figure_html(
                figures.reference_bars(rows, column=column),
                alt=f"Observed and reference shares by {column}",
                caption=f"{column}: observed ({split}) versus reference population",
            )
        )
    display = frame.rename(columns={"observed_share": "observed", "reference_share": "reference"})
    parts.append(
        table_html(
            display,
            formats={
                "observed": fmt.share,
                "reference": fmt.share,
                "difference": lambda v: f"{v * 100:+.1f} pts" if fmt.finite(v) else "–",
                "ratio": lambda v: f"{v:.2f}" if fmt.finite(v) else "–",
            },
            caption="reference.parquet (shares of speakers with a known label)",
        )
    )
    return Markup("").join(parts)


def _language(analysis: DatasetAnalysis, privacy_k: int) -> Markup:
    frame = analysis.language_by_ethnicity
    if frame.empty:
        return Markup("")
    display = frame.astype({"language": object})
    value_columns = [c for c in display.columns if c != "language"]
    if value_columns == [UNKNOWN] or set(display["language"]) <= {UNKNOWN}:
        return Markup("")  # one of the two unknown for everyone: nothing is confounded
    cells = display.melt(id_vars="language", value_vars=value_columns, var_name="ethnicity")
    cells["group"] = cells["language"].astype(str) + SEPARATOR + cells["ethnicity"].astype(str)
    hidden = is_suppressed(cells["value"].astype(float), privacy_k).to_numpy()
    withheld = fmt.protected(cells, by=[], privacy_k=privacy_k, n="value") & ~hidden
    values = cells["value"].astype(float).where(~hidden).where(~withheld, fmt.WITHHELD)
    shown = cells.assign(value=values).pivot(index="language", columns="ethnicity", values="value")
    for column in value_columns:
        display[column] = display["language"].map(shown[column])
    small = fmt.private_count(privacy_k)
    return Markup(
        "<p>Speakers per spoken language (rows) and ethnicity (columns), all splits: a "
        "language spoken by one ethnicity only confounds the two.</p>"
    ) + table_html(
        display,
        formats={c: small for c in value_columns},
        caption="language_by_ethnicity.parquet (speakers)",
    )


def _provenance(analysis: DatasetAnalysis) -> Markup:
    frame = analysis.provenance
    if frame.empty:
        return Markup("")
    parts = []
    for row in frame[frame["source"] == "inferred"].itertuples():
        parts.append(
            Markup(
                '<div class="callout inferred"><strong>Inferred labels: {}.</strong> {} of '
                "labelled clips carry a label inferred by a classifier, not self-reported or "
                "annotated: any audit by this column inherits the classifier's errors and "
                "biases.</div>"
            ).format(row.column, fmt.share(row.clip_share))
        )
    display = frame.rename(
        columns={
            "n_clips": "clips",
            "n_speakers": "speakers",
            "clip_share": "share of labelled clips",
        }
    )
    parts.append(
        table_html(
            display,
            formats={"share of labelled clips": fmt.share},
            badges={"source": fmt.badge},
            caption="Where each column's labels come from (<column>_source)",
        )
    )
    return Markup("").join(parts)


def _conditions_hidden(analysis: DatasetAnalysis, privacy_k: int) -> pd.DataFrame:
    """(slice, group) of every group whose recording conditions are not shown: below the
    privacy threshold, withheld in the counts of all splits together, or withheld so that
    the summary of one below it cannot be recovered from the rest (its "rest" medians)."""
    frame = analysis.conditions
    if frame.empty:
        return pd.DataFrame(columns=["slice", "group"])
    own = fmt.protected(frame, by=["column", "measure"], privacy_k=privacy_k)
    counts = analysis.counts
    all_splits = (counts["split"] == ALL) & (counts["order"] == 1)
    in_counts = counts[_protected(counts, privacy_k) & all_splits.to_numpy()]
    hidden = pd.concat(
        [
            frame.loc[own, ["column", "group"]].rename(columns={"column": "slice"}),
            in_counts[["slice", "group"]],
        ]
    )
    return hidden.astype(str).drop_duplicates().reset_index(drop=True)


def _hidden_conditions_findings(analysis: DatasetAnalysis, privacy_k: int) -> set[str]:
    """The conditions findings (sentences) of groups whose conditions are not shown."""
    hidden = _conditions_hidden(analysis, privacy_k)
    names = [f"{s}={g} clips" for s, g in zip(hidden["slice"], hidden["group"], strict=True)]
    return {
        finding
        for finding in conditions_findings(analysis, privacy_k=1)
        if any(f" of {name}:" in finding for name in names)
    }


def _conditions(analysis: DatasetAnalysis, privacy_k: int) -> Markup:
    frame = analysis.conditions
    if frame.empty:
        return Markup("")
    settings = analysis.settings.get("conditions", {})
    hidden = _conditions_hidden(analysis, privacy_k)
    hidden_keys = set(zip(hidden["slice"], hidden["group"], strict=True))
    keys = zip(frame["column"].astype(str), frame["group"].astype(str), strict=True)
    frame = frame.assign(hidden=[key in hidden_keys for key in keys])
    measures = list(dict.fromkeys(frame["measure"]))
    effect = settings.get("effect_size", 0.5)
    hidden_findings = _hidden_conditions_findings(analysis, privacy_k)
    findings = [
        f for f in conditions_findings(analysis, privacy_k=privacy_k) if f not in hidden_findings
    ]
    unmeasured = settings.get("n_clips_unmeasured", 0)
    parts = [
        Markup(
            "<p>Each group's recording conditions, measured from the audio by <code>s2f "
            "conditions</code> (table <code>{table}</code>): median and interquartile range "
            "[Q1–Q3] over the group's measured clips. A group whose mean differs from the "
            "rest of the set by a standardised mean difference (SMD, pooled s.d.) beyond "
            "±{effect:g} (a medium effect; descriptive, at clip level) is a finding, marked "
            "<strong>▲</strong> or <strong>▼</strong>: a gap between these groups may be the "
            "recording's, not the group's; audit it with <code>s2f audit --adjust-for</code>. "
            "{unmeasured} could not be measured (undecodable, missing or silent audio) and "
            "count nowhere. Groups below the privacy threshold of {k} speakers, and those "
            "withheld with them, show no numbers.</p>"
        ).format(
            table=Path(str(settings.get("path", "?"))).name,
            effect=effect,
            unmeasured=fmt.counted(unmeasured, "clip"),
            k=privacy_k,
        )
    ]
    if findings:
        parts.append(
            Markup('<div class="callout"><ul>{}</ul></div>').format(
                Markup("").join(Markup("<li>{}</li>").format(f) for f in findings)
            )
        )
    else:
        parts.append(
            Markup("<p>No shown group differs from the rest by more than ±{:g} SMD.</p>").format(
                effect
            )
        )
    for column in dict.fromkeys(frame["column"]):
        rows = frame[frame["column"] == column]
        table = {"group": fmt.group_order(rows["group"].astype(str))}
        for measure in measures:
            cells = rows[rows["measure"] == measure]
            cells = cells.set_index(cells["group"].astype(str))
            unit = UNITS.get(measure)
            header = f"{measure} ({unit})" if unit else measure
            table[header] = [_condition_cell(cells.loc[g], privacy_k) for g in table["group"]]
        parts.append(Markup("<h3>{}</h3>").format(column))
        parts.append(
            table_html(
                pd.DataFrame(table),
                caption=f"conditions.parquet, column = {column}: median [Q1–Q3]; ▲/▼ SMD "
                f"beyond ±{effect:g}",
                sortable=False,
            )
        )
    return Markup("").join(parts)


def _condition_cell(row: pd.Series, privacy_k: int) -> str:
    if row["hidden"]:
        n = row["n_speakers"]
        return f"< {privacy_k} speakers" if is_suppressed(n, privacy_k) else "withheld"
    if not row["n_clips"]:
        return "not measured"
    measure = row["measure"]
    text = (
        f"{format_measure(measure, row['median'])} "
        f"[{format_measure(measure, row['q1'])}–{format_measure(measure, row['q3'])}]"
    )
    if row["finding"]:
        text += f" {'▲' if row['smd'] > 0 else '▼'} {row['smd']:+.2f}"
    return text


def _power(analysis: DatasetAnalysis, counts: pd.DataFrame, privacy_k: int) -> Markup:
    settings = analysis.settings
    split = EVALUATION_SPLIT if EVALUATION_SPLIT in settings["splits"] else ALL
    rows = counts[(counts["split"] == split) & (counts["order"] == 1)]
    rows = rows[rows["n_speakers"].notna() | rows["suppressed"]]
    text = Markup(
        "<p>The smallest difference in a rate (e.g. gender agreement) between a group and the "
        "whole {split} split (the audit's default reference, <code>overall</code>, of which "
        "the group is a part) that the default audit detects with power {power:g}: a "
        "two-sided test at α = {alpha:g} over the {tests} tests it would run ({metrics} "
        "headline metrics × the groups with at least {min_speakers} speakers; Holm's first "
        "step), at a base rate of {base:g} (the worst case), counting speakers. The audit's "
        "own <code>detectable_difference</code> for the same group agrees. Smaller groups "
        "hide larger differences.</p>"
    ).format(
        split=split,
        alpha=settings["alpha"],
        power=settings["power"],
        base=settings["base_rate"],
        tests=settings.get("family_size", {}).get(split, 1),
        metrics=settings.get("family_metrics", 1),
        min_speakers=settings["min_speakers"],
    )
    shown = rows.dropna(subset=["min_detectable_difference"])
    shown = shown[shown["min_detectable_difference"] != fmt.WITHHELD]
    figure = Markup("")
    if len(shown):
        figure = figure_html(
            figures.detectable_bars(shown.assign(label=shown["slice"] + " = " + shown["group"])),
            alt=f"Minimum detectable difference per group in {split}",
            caption=f"Minimum detectable difference per group ({split} split; counts.parquet, "
            "column min_detectable_difference)",
        )
    table = _counts_table(
        rows, privacy_k, caption=f"counts.parquet, split = {split}, one-column slices"
    )
    return text + figure + table


def _method(analysis: DatasetAnalysis, privacy_k: int) -> Markup:
    settings = analysis.settings
    return Markup(
        "<p>Groups are the values of {columns} and their intersections up to order "
        "{order}; a missing value is the explicit group <code>unknown</code>. A speaker whose "
        "clips fall in two groups counts in both. Thin: fewer than {min_speakers} speakers. "
        "Minimum detectable difference: <code>{formula}</code> with n counted in speakers. "
        "Privacy threshold: {k} speakers.</p>"
    ).format(
        columns=", ".join(settings["columns"]),
        order=settings["intersections"],
        min_speakers=settings["min_speakers"],
        formula=settings["min_detectable_difference_formula"],
        k=privacy_k,
    ) + Markup(PRIVACY_NOTE)  # Markup, never str + Markup: that escapes the str's tags
