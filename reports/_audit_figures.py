"""The quantitative sections of the audit report: per-group figures with their tables."""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from reports import _figures as figures
from reports import _format as fmt
from reports._audit_view import (
    AuditView,
    metric_table,
    primary_metrics,
    recall_metrics,
)
from reports._page import figure_html, table_html

MAX_CONFUSION_PANELS = 12
GRID_COLUMNS = 4
"""Metrics side by side in a row of a family's small-multiples figure."""
GRID_DPI = 100


SLICE_OF_ATTRIBUTE = {"gender": "gender", "age_decade": "age_group", "ethnicity": "ethnicity"}
"""The slice whose groups are the attribute's own true classes (its per-group matrix is trivial)."""


def groups_section(audit: AuditView) -> Markup:
    parts = [Markup("<p>{}</p>").format(figures.forest_legend_note())]
    for metric in primary_metrics(audit):
        panels = [
            (slice_name, audit.rows(metric, slice_name))
            for slice_name in audit.single_slices()
            if len(audit.rows(metric, slice_name))
        ]
        if not panels:
            continue
        unit = audit.unit(metric)
        spec = audit.spec(metric)
        parts.append(Markup("<h3>{}</h3>").format(metric))
        figure = figures.forest_plot(
            panels, metric=metric, unit=unit, overall=overall_value(audit, metric)
        )
        better = "higher" if spec["higher_is_better"] else "lower"
        parts.append(
            figure_html(
                figure,
                tight=False,
                alt=f"Forest plot of {metric} per group",
                caption=f"{metric} per group ({better} is better); rows of groups.parquet "
                f"with metric = {metric}.",
            )
        )
        parts.append(metric_table(audit, metric))
    parts.append(family_grids(audit))
    return Markup("").join(parts)


def family_grids(audit: AuditView) -> Markup:
    """Every metric without a forest plot of its own: small multiples, one figure per family
    (rows of ``GRID_COLUMNS`` panels), folded."""
    headline = set(primary_metrics(audit))
    slices = audit.single_slices()
    families: dict[str, list[str]] = {}
    for spec in audit.summary["metrics"]:
        if spec["name"] not in headline:
            families.setdefault(spec["family"], []).append(spec["name"])
    parts = []
    for family, metrics in families.items():
        frames = [
            (metric, audit.unit(metric), _single_slice_rows(audit, metric, slices))
            for metric in metrics
        ]
        frames = [entry for entry in frames if len(entry[2])]
        if not frames:
            continue
        names = ", ".join(m for m, _, _ in frames)
        figures_html = figure_html(
            figures.forest_grid(
                frames,
                slices=slices,
                overall={m: overall_value(audit, m) for m, _, _ in frames},
                columns=GRID_COLUMNS,
            ),
            dpi=GRID_DPI,
            tight=False,
            alt=f"Forest plots of {names} per group",
            caption=f"{family}: {names} per group, one-column slices (rows of "
            "groups.parquet with these metrics)",
        )
        parts.append(
            Markup(
                "<details><summary>{}: forest plots of {} metric(s)</summary>{}</details>"
            ).format(family, len(frames), figures_html)
        )
    if not parts:
        return Markup("")
    intro = Markup(
        "<h3>Every other metric</h3><p>One compact forest plot per metric, grouped by family "
        "(fold open): the same marks as above, the reference group's value dashed per "
        "slice. Every value is a row of <code>groups.parquet</code>.</p>"
    )
    return intro + Markup("").join(parts)


def overall_value(audit: AuditView, metric: str) -> float | None:
    """The metric over all clips (slice overall, group all), where the reference line of an
    ``overall`` reference goes; None when that row is missing or suppressed."""
    rows = audit.rows(metric, "overall")
    return float(rows["value"].iloc[0]) if len(rows) else None


def _single_slice_rows(audit: AuditView, metric: str, slices: list[str]) -> pd.DataFrame:
    return audit.rows_of_slices(metric, slices)


def confusion_section(audit: AuditView) -> Markup:
    confusion = audit.result.confusion
    if confusion.empty:
        return Markup("")
    hidden = audit.groups[audit.groups["suppressed"] | audit.groups["withheld"]]
    private = set(zip(hidden["slice"], hidden["group"], strict=True))
    parts = [
        Markup(
            "<p>As the paper's Fig. 5: rows are the attribute class of the true face, columns "
            "the class predicted on the reconstructed face (S2F) or on the face encoder's own "
            "reconstruction (F2F); each row sums to 1 (rows of <code>confusion.parquet</code>). "
            "Groups below the privacy threshold, or withheld with them in the tables, are "
            "not shown.</p>"
        )
    ]
    for attribute in dict.fromkeys(confusion["attribute"]):
        rows = _Matrices(confusion[confusion["attribute"] == attribute])
        label = attribute.replace("_", " ")
        overall = [
            (f"{face.upper()}, all clips", rows.matrix(face, "overall", "all"))
            for face in ("s2f", "f2f")
            if rows.has(face, "overall", "all")
        ]
        parts.append(Markup("<h3>{}</h3>").format(label))
        parts.append(
            figure_html(
                figures.confusion_grid(
                    overall, true_label=f"true {label}", predicted_label=f"predicted {label}"
                ),
                tight=False,
                alt=f"Confusion of {label}, S2F and F2F, all clips",
                caption=f"{label}: S2F and F2F against the true face, all clips",
            )
        )
        labelled_by = SLICE_OF_ATTRIBUTE.get(attribute)
        groups = [
            (slice_name, group)
            for slice_name in audit.single_slices(with_duration=False)
            if slice_name != labelled_by
            for group in rows.groups("s2f", slice_name)
            if (slice_name, group) not in private
        ]
        if not groups:
            continue
        panels = [
            (f"{slice_name} = {group}", rows.matrix("s2f", slice_name, group))
            for slice_name, group in groups[:MAX_CONFUSION_PANELS]
        ]
        caption = f"S2F {label} confusion per group"
        if len(groups) > len(panels):
            caption += (
                f" (first {len(panels)}; {len(groups) - len(panels)} more in confusion.parquet)"
            )
        parts.append(
            figure_html(
                figures.confusion_grid(
                    panels, true_label=f"true {label}", predicted_label=f"S2F {label}"
                ),
                tight=False,
                alt=f"S2F {label} confusion per group",
                caption=caption,
            )
        )
    return Markup("").join(parts)


class _Matrices:
    """One attribute's confusion rows, pivoted once: a matrix per (face, slice, group)."""

    def __init__(self, rows: pd.DataFrame) -> None:
        self.classes = sorted(set(rows["true_class"]) | set(rows["predicted_class"]))
        self.true_classes = sorted(set(rows["true_class"]))
        self.wide = rows.pivot_table(
            index=["face", "slice", "group", "true_class"],
            columns="predicted_class",
            values="share",
            aggfunc="first",
        ).reindex(columns=self.classes)
        self.keys = set(self.wide.index.droplevel("true_class"))

    def has(self, face: str, slice_name: str, group: str) -> bool:
        return (face, slice_name, group) in self.keys

    def groups(self, face: str, slice_name: str) -> list[str]:
        return sorted(g for f, s, g in self.keys if f == face and s == slice_name)

    def matrix(self, face: str, slice_name: str, group: str) -> pd.DataFrame:
        """True × predicted shares; a true class the group lacks stays blank (NaN)."""
        matrix = self.wide.loc[(face, slice_name, group)].fillna(0.0)
        return matrix.reindex(self.true_classes)


def retrieval_section(audit: AuditView) -> Markup:
    recall = recall_metrics(audit)
    if not recall:
        return Markup("")
    retrieval = audit.summary.get("retrieval", {})
    mixed = retrieval.get("mixed", {})
    chance_rows = mixed.get("groups", [])
    chance = None
    if len(chance_rows) == 1:
        chance = {
            k: chance_rows[0][f"chance@{k}"] for k in recall if f"chance@{k}" in chance_rows[0]
        }
    distance = audit.spec(next(iter(recall.values())))["subject"]
    intro = Markup(
        "<p>Each voice's predicted face feature ranks a gallery of true faces (one per "
        "speaker); recall@k is the share of voices whose own face is among the k closest "
        "({} distance). {}</p><p><strong>Mixed gallery: depends on the gallery's "
        "composition.</strong> A group's mixed-gallery recall falls with the number of "
        "look-alike faces of its own group in the gallery, so it is shown per group but "
        "never tested or flagged across groups; groups are compared on matched galleries "
        "(each voice ranked among faces of its own group, every gallery of one size G).</p>"
    ).format(
        distance,
        Markup("Gallery: {} faces in {} gallery(ies), seed {}; chance is k/G (dotted).").format(
            chance_rows[0]["gallery_size"], chance_rows[0]["n_galleries"], mixed.get("seed")
        )
        if len(chance_rows) == 1
        else "Gallery sizes are not recorded in this audit.",
    )
    panels = _recall_panels(audit, recall, ["overall", *audit.single_slices()])
    if not panels:
        return intro + Markup("<p>No group has a recall@k value to plot.</p>")
    figure = figure_html(
        figures.recall_curves(panels, chance),
        tight=False,
        alt="recall@k per group on the mixed gallery, one panel per slice",
        caption=f"Mixed gallery (not tested across groups): recall@k ({distance}) per group "
        f"with 95% intervals; rows of groups.parquet with metric recall@k_{distance}",
    )
    return intro + figure + _matched_recall(audit, retrieval.get("matched", {}))


def _recall_panels(
    audit: AuditView, recall: dict[int, str], slices: list[str], titles: dict | None = None
) -> list[tuple[str, pd.DataFrame]]:
    """One recall@k-against-k frame per slice that has values."""
    panels = []
    for slice_name in slices:
        frames = [
            audit.rows(metric, slice_name).assign(k=k)[["group", "k", "value", "ci_low", "ci_high"]]
            for k, metric in sorted(recall.items())
        ]
        frame = pd.concat(frames, ignore_index=True)
        if not frame.empty:
            panels.append(((titles or {}).get(slice_name, slice_name), frame))
    return panels


def _matched_recall(audit: AuditView, matched: dict) -> Markup:
    """recall@k per group of each matched column, on its galleries of one size G."""
    panels = []
    for column, gallery in matched.items():
        recall = recall_metrics(audit, column)
        if recall and column in audit.single_slices():
            title = f"{column} (matched, G = {gallery.get('common_size')})"
            panels += _recall_panels(audit, recall, [column], {column: title})
    if not panels:
        return Markup("")
    return figure_html(
        figures.recall_curves(panels, None),
        tight=False,
        alt="recall@k per group on matched galleries, one panel per column",
        caption="Matched galleries (tested across groups; disparities in the flags and "
        "tables): recall@k per group with 95% intervals; chance is k/G with the G of each "
        "panel; rows of groups.parquet with metric recall@k_<distance>_matched_<column>",
    )


def decomposition_section(audit: AuditView) -> Markup:
    parts = [
        Markup(
            "<p>The S2F pipeline (voice → face → attribute classifier) errs both because the "
            "voice carries limited information and because the classifier errs on faces. The "
            "F2F pipeline (true face → face feature → decoded face → classifier) shares the "
            "second error only, so the gap F2F − S2F is the error the voice adds "
            "(<code>&lt;attribute&gt;_voice_added_error</code>).</p>"
        )
    ]
    for attribute in dict.fromkeys(
        audit.spec(m)["subject"] for m in audit.find(family="agreement")
    ):
        s2f = audit.find(family="agreement", face="s2f", subject=attribute)
        f2f = audit.find(family="agreement", face="f2f", subject=attribute)
        if not (s2f and f2f):
            continue
        s2f, f2f = s2f[0], f2f[0]
        rows = []
        for slice_name in ["overall", *audit.single_slices(with_duration=False)]:
            a, b = audit.rows(f2f, slice_name), audit.rows(s2f, slice_name)
            merged = a.merge(b, on="group", suffixes=("_f2f", "_s2f"))
            merged["group"] = [
                "all clips" if slice_name == "overall" else f"{slice_name} = {g}"
                for g in merged["group"]
            ]
            rows.append(merged)
        frame = pd.concat(rows, ignore_index=True)
        label = attribute.replace("_", " ")
        parts.append(Markup("<h3>{}</h3>").format(label))
        parts.append(
            figure_html(
                figures.decomposition_bars(frame, attribute=label),
                tight=False,
                alt=f"F2F and S2F {label} agreement per group",
                caption=f"F2F ({f2f}) and S2F ({s2f}) agreement with the true face per group",
            )
        )
        for added in audit.find(family="decomposition", subject=attribute):
            parts.append(metric_table(audit, added))
    return Markup("").join(parts) if len(parts) > 1 else Markup("")


def craniofacial_section(audit: AuditView) -> Markup:
    metrics = audit.find(family="craniofacial", face="s2f")
    if not metrics:
        return Markup("")
    parts = [
        Markup(
            "<p>Pearson correlation between each craniofacial measure of the true face and of "
            "the reconstructed face (S2F), per group, with 95% intervals. The paper reports "
            "these correlations over all faces; 0 is no relation.</p>"
        )
    ]
    panels = []
    for slice_name in ["overall", *audit.single_slices(with_duration=False)]:
        frame = pd.concat(
            [
                audit.rows(metric, slice_name).assign(measure=audit.spec(metric)["subject"])
                for metric in metrics
            ],
            ignore_index=True,
        )
        if not frame.empty:
            panels.append((slice_name, frame))
    if not panels:
        return parts[0] + Markup("<p>No group has a correlation to plot.</p>")
    parts.append(
        figure_html(
            figures.correlation_plot(panels),
            tight=False,
            alt="Craniofacial correlations per group, one panel per slice",
            caption="S2F craniofacial correlations per group (metrics s2f_cf_<measure>_pearson)",
        )
    )
    return Markup("").join(parts)


def duration_section(audit: AuditView) -> Markup:
    """Which duration this audit covers, its headline values, and where the others are.

    An audit artifact holds the rows of one duration only (``groups.parquet`` and
    ``components.parquet``); ``audit.json`` lists the durations the predictions held. The
    numbers of another duration, paired with these, are a comparison of two audits.
    """
    duration = audit.summary.get("duration_s")
    available = audit.summary["predictions"].get("durations_s", [])
    others = [d for d in available if d != duration]
    if duration is None or not others:
        return Markup("")
    other = others[0]
    shown = ", ".join(f"{d:g} s" for d in others)
    intro = Markup(
        "<p><strong>Every number in this report is for the {duration:g} s clips.</strong> "
        "The predictions also hold {others}, but this audit does not: an audit evaluates one "
        "duration, so that no clip counts twice and every number is one of the paper's, and "
        "its artifact (<code>groups.parquet</code>, <code>components.parquet</code>) keeps "
        "only the {duration:g} s rows. This report therefore shows no {others} value. Below: "
        "the headline metrics over all {duration:g} s clips, one side of the paper's "
        "comparison of durations (its Table 4).</p>"
    ).format(duration=duration, others=shown)
    commands = Markup(
        "<p>The {others} values, and the paired change per metric and group with its "
        "interval, come from a second audit compared with this one "
        "(<code>s2f compare</code>, whose report gives the paired changes):</p>"
        "<pre>s2f audit PREDICTIONS --duration {other:g} --out AUDIT_{other:g}S\n"
        "s2f compare AUDIT AUDIT_{other:g}S --out DURATIONS</pre>"
    ).format(others=shown, other=other)
    return intro + _headline_overall_table(audit, duration) + commands


def _headline_overall_table(audit: AuditView, duration: float) -> Markup:
    """The headline metrics over all clips of this audit's duration (units differ per row,
    so values are shown as text)."""
    rows = []
    for metric in primary_metrics(audit):
        overall = audit.rows(metric, "overall")
        if not len(overall):
            continue
        row = overall.iloc[0]
        unit = audit.unit(metric)
        rows.append(
            {
                "metric": metric,
                "speakers": row["n_speakers"],
                "clips": row["n_clips"],
                f"value at {duration:g} s": fmt.value_formatter(unit)(row["value"]),
                "95% CI": fmt.interval(row["ci_low"], row["ci_high"], unit),
            }
        )
    if not rows:
        return Markup("")
    return table_html(
        pd.DataFrame(rows),
        formats={"clips": fmt.count, "speakers": fmt.count},
        caption=f"groups.parquet rows with slice = overall ({duration:g} s clips)",
    )
