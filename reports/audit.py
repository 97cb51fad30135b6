"""The audit report: a model card rendered from a saved audit result.

Order follows model cards: model details and intended use, evaluation data, metrics
and how their uncertainty was computed, then the quantitative analysis (flagged
disparities first; forest plots; per-group confusion; retrieval; the F2F-vs-S2F
decomposition; craniofacial correlations; 3 s vs 6 s), caveats and ethical
considerations. Every number is read from ``audit.json`` / ``groups.parquet`` /
``confusion.parquet`` and shown with its (metric, slice, group) keys.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from audit.result import AuditResult
from reports import _figures as figures
from reports import _format as fmt
from reports._page import Section, figure_html, render_page, table_html, write_html

ATTRIBUTES = ("gender", "age_decade", "ethnicity")
DURATION_COLUMN = "duration_s"
RECALL = re.compile(r"^recall@(\d+)_([a-z0-9]+)$")
PREFERRED_DISTANCE = "cosine"
MAX_CONFUSION_PANELS = 12
MAX_FLAG_ROWS = 30
UNIT_ORDER = {"proportion": 0, "years": 1}
"""Flag figures of agreement and recall (points) first, then age errors, then the rest."""
SLICE_OF_ATTRIBUTE = {"gender": "gender", "age_decade": "age_group", "ethnicity": "ethnicity"}
"""The slice whose groups are the attribute's own true classes (its per-group matrix is trivial)."""
MAX_DURATION_METRICS = 2
INTENDED_USE = Markup(
    "<p>This report audits how a voice-to-face model (Speech2Face, Oh et al., CVPR 2019, or "
    "any model writing the same predictions artifact) behaves for different groups of "
    "speakers. It is meant for researchers and reviewers deciding whether a model, or a "
    "retrained one, treats groups differently. The model reconstructs an "
    "<em>average-looking</em> face consistent with a voice; it must not be used to identify "
    "people, to infer a person's demographics, or to make decisions about individuals.</p>"
)
ETHICS = Markup(
    "<p>As the Speech2Face authors state, the model does not recover the true face of a "
    "speaker: it produces an average-looking face carrying dominant visual features that "
    "correlate with the voice (age, gender, ethnicity). A faithful reconstruction of an "
    "individual is not possible, and a reconstructed face must never be presented as a "
    "person's face.</p><p>The training data of such models (AVSpeech / VoxCeleb: YouTube "
    "videos) does not represent the world population; groups that are rare there are learnt "
    "worse, which is exactly what this audit measures. The demographic categories used for "
    "slicing are coarse, partly inferred, and not the self-identity of the people in the "
    "data; treat them as a lens on model behaviour, not as facts about anyone.</p>"
    "<p>This report shows no face image of a real person. Groups with fewer speakers than "
    "the privacy threshold are suppressed in tables and figures.</p>"
)


@dataclass
class _Audit:
    """A loaded audit with the report's privacy view of its groups table."""

    result: AuditResult
    privacy_k: int
    groups: pd.DataFrame

    @classmethod
    def of(cls, result: AuditResult, privacy_k: int) -> _Audit:
        groups = result.groups.copy()
        groups["suppressed"] = fmt.is_suppressed(groups["n_speakers"], privacy_k)
        return cls(result=result, privacy_k=privacy_k, groups=groups)

    @property
    def summary(self) -> dict[str, Any]:
        return self.result.summary

    def spec(self, metric: str) -> dict[str, Any]:
        return next(m for m in self.summary["metrics"] if m["name"] == metric)

    def unit(self, metric: str) -> str:
        return self.spec(metric)["unit"]

    def single_slices(self, *, with_duration: bool = True) -> list[str]:
        return [
            s["name"]
            for s in self.summary["slices"]
            if len(s["columns"]) == 1 and (with_duration or s["columns"][0] != DURATION_COLUMN)
        ]

    def rows(self, metric: str, slice_name: str, *, visible: bool = True) -> pd.DataFrame:
        """Groups of one metric and slice, suppressed and empty groups left out if ``visible``."""
        groups = self.groups
        rows = groups[(groups["metric"] == metric) & (groups["slice"] == slice_name)]
        if visible:
            rows = rows[~rows["suppressed"] & (rows["status"] != "empty")]
        return rows.reset_index(drop=True)

    def overall(self, metric: str) -> pd.Series:
        return self.rows(metric, "overall", visible=False).iloc[0]


def render_audit_report(
    result: AuditResult,
    path: str | os.PathLike,
    *,
    privacy_k: int = fmt.PRIVACY_K,
    include_faces: bool = False,
    source: str | os.PathLike | None = None,
    dataset_report: str | None = None,
) -> Path:
    """Write the audit report of ``result`` to ``path`` (one self-contained HTML file).

    Groups with fewer than ``privacy_k`` speakers (but some) are suppressed in tables and
    figures. ``dataset_report`` is a link (relative to the report) to the dataset report
    of the evaluation data. ``include_faces`` allows face images of real people; an audit
    artifact holds none today, so the report says so and embeds none.
    """
    path = Path(path)
    html = audit_report_html(
        result,
        source=source if source is not None else path.parent,
        privacy_k=privacy_k,
        include_faces=include_faces,
        dataset_report=dataset_report,
    )
    return write_html(html, path)


def audit_report_html(
    result: AuditResult,
    *,
    source: str | os.PathLike,
    privacy_k: int = fmt.PRIVACY_K,
    include_faces: bool = False,
    dataset_report: str | None = None,
) -> str:
    """The audit report as an HTML string (see :func:`render_audit_report`)."""
    audit = _Audit.of(result, privacy_k)
    builders = [
        ("model", "Model details and intended use", lambda: _model_section(audit)),
        ("data", "Evaluation data", lambda: _data_section(audit, dataset_report)),
        ("method", "Metrics and uncertainty", lambda: _method_section(audit)),
        ("flags", "Flagged disparities", lambda: _flags_section(audit)),
        ("groups", "Metrics per group", lambda: _groups_section(audit)),
        ("confusion", "Attribute confusion per group", lambda: _confusion_section(audit)),
        ("retrieval", "Retrieval from voice", lambda: _retrieval_section(audit)),
        (
            "decomposition",
            "Where the error comes from: F2F vs S2F",
            lambda: _decomposition_section(audit),
        ),
        ("craniofacial", "Craniofacial correlations", lambda: _craniofacial_section(audit)),
        ("duration", "3 s versus 6 s of speech", lambda: _duration_section(audit)),
        ("caveats", "Caveats", lambda: _caveats_section(audit, include_faces)),
        ("ethics", "Ethical considerations", lambda: ETHICS),
    ]
    sections = []
    for anchor, title, build in builders:
        body = build()
        if body:
            sections.append(Section(anchor, title, body))
    model = audit.summary["model"]["model_id"]
    return render_page(
        title=f"Audit of {model}",
        kind="Model audit",
        source=source,
        sections=sections,
        findings=_findings(audit),
    )


def _visible_flags(audit: _Audit) -> pd.DataFrame:
    """Flags shown: one-column slices first, points before years before other units (whose
    threshold means less), then by difference relative to the threshold."""
    flags = audit.result.flags()
    flags = flags[~fmt.is_suppressed(flags["n_speakers"], audit.privacy_k)]
    order = pd.DataFrame(
        {
            "order": flags["slice"].str.count(" & "),
            "unit": [UNIT_ORDER.get(audit.unit(m), len(UNIT_ORDER)) for m in flags["metric"]],
            "size": -(
                flags["difference"].abs() / flags["threshold"].where(flags["threshold"] > 0, 1)
            ),
        },
        index=flags.index,
    ).sort_values(["order", "unit", "size"], kind="stable")
    return flags.loc[order.index].reset_index(drop=True)


def _findings(audit: _Audit) -> list[str]:
    summary = audit.summary
    tests = summary["tests"]
    flags = _visible_flags(audit)
    out = [
        f"{len(flags)} disparit{'y' if len(flags) == 1 else 'ies'} flagged: significant after "
        f"{fmt.correction_name(tests['correction'])} correction over {tests['n_tests']} "
        "tests and at least the practical threshold away from the reference group."
    ]
    for row in flags.head(5).itertuples():
        out.append(_flag_sentence(audit, row))
    if len(flags) > 5:
        out.append(f"… and {len(flags) - 5} more flagged disparities, listed below.")
    insufficient = sum(len(s["insufficient"]) for s in summary["slices"])
    if insufficient:
        out.append(
            f"{insufficient} group(s) have fewer than {summary['config']['min_speakers']} "
            "speakers: their differences are not tested (listed under Caveats)."
        )
    for column, sources in summary.get("label_provenance", {}).items():
        inferred = sources.get("inferred", 0)
        if inferred:
            total = sum(sources.values())
            out.append(
                f"{column} labels are inferred for {inferred} of {total} clips: results by "
                f"{column} inherit the labelling classifier's errors."
            )
    return out


def _flag_sentence(audit: _Audit, row) -> str:
    unit = audit.unit(row.metric)
    difference = fmt.difference_formatter(unit)(row.difference)
    interval = fmt.interval(row.diff_ci_low, row.diff_ci_high, unit, signed=True)
    better = "better" if (row.difference > 0) == bool(row.higher_is_better) else "worse"
    return (
        f"{row.metric} for {row.slice} = {row.group}: {difference} against {row.reference} "
        f"({better}; 95% CI {interval}, adjusted p {fmt.p_value(row.p_adjusted)})."
    )


def _definition_list(items: list[tuple[str, object]]) -> Markup:
    body = Markup("").join(
        Markup("<dt>{}</dt><dd>{}</dd>").format(term, value) for term, value in items
    )
    return Markup('<dl class="facts">{}</dl>').format(body)


def _model_section(audit: _Audit) -> Markup:
    summary = audit.summary
    versions = ", ".join(f"{k} {v}" for k, v in summary.get("versions", {}).items())
    facts = _definition_list(
        [
            ("Model", Markup("<code>{}</code>").format(summary["model"]["model_id"])),
            ("Config hash", Markup("<code>{}</code>").format(summary["model"]["config_hash"])),
            (
                "Predictions hash",
                Markup("<code>{}</code>").format(summary["predictions"]["predictions_hash"]),
            ),
            ("Software", versions),
        ]
    )
    return facts + INTENDED_USE


def _data_section(audit: _Audit, dataset_report: str | None) -> Markup:
    summary = audit.summary
    predictions = summary["predictions"]
    intro = Markup(
        "<p>{} clips of {} speakers. Groups are the values of each slice column and of their "
        "intersections; a missing label is the explicit group <code>unknown</code>.</p>"
    ).format(fmt.count(predictions["n_clips"]), fmt.count(predictions["n_speakers"]))
    if dataset_report:
        intro += Markup(
            "<p>Composition, imbalance and label provenance of the data: "
            '<a href="{}">dataset report</a>.</p>'
        ).format(dataset_report)
    rows = []
    for slice_ in summary["slices"]:
        for group, clips, speakers in zip(
            slice_["groups"], slice_["n_clips"], slice_["n_speakers"], strict=True
        ):
            if len(slice_["columns"]) != 1:
                continue
            hidden = 0 < speakers < audit.privacy_k
            rows.append(
                {
                    "slice": slice_["name"],
                    "group": group,
                    "speakers": float("nan") if hidden else speakers,
                    "clips": float("nan") if hidden else clips,
                    "evidence": fmt.SUPPRESSED
                    if hidden
                    else ("insufficient" if group in slice_["insufficient"] else "ok"),
                }
            )
    hidden_count = _hidden(audit.privacy_k)
    table = table_html(
        pd.DataFrame(rows),
        formats={"speakers": hidden_count, "clips": hidden_count},
        badges={"evidence": fmt.badge},
        caption="Speakers and clips per group (keys: slice, group of groups.parquet)",
    )
    provenance = summary.get("label_provenance", {})
    if provenance:
        frame = pd.DataFrame(
            [
                {"column": column, "label source": source, "clips": n}
                for column, sources in provenance.items()
                for source, n in sources.items()
            ]
        )
        table += table_html(
            frame, badges={"label source": fmt.badge}, caption="Where the labels come from"
        )
    return intro + table


def _hidden(privacy_k: int):
    return lambda v: fmt.count(v) if fmt.finite(v) else f"< {privacy_k}"


def _method_section(audit: _Audit) -> Markup:
    summary = audit.summary
    config, bootstrap, tests = summary["config"], summary["bootstrap"], summary["tests"]
    methods = sorted(set(audit.groups["ci_method"].dropna()))
    text = Markup(
        "<p>Every interval is a {level:.0%} interval from a <strong>{method}</strong> with "
        "{n_boot} replicates (seed {seed}): clips of one speaker are not independent, so "
        "speakers, not clips, are resampled within each group. Where every speaker of a group "
        "has one clip, closed forms are used (Wilson for proportions, Fisher z for "
        "correlations). Interval methods in this audit: {methods}.</p>"
        "<p>A disparity is a group's difference from the reference group ({reference}) with "
        "the interval <em>of the difference</em>, computed in each replicate. Its p-value is a "
        "{p_method}; the {n_tests} tests ({family}) are corrected together with the "
        "<strong>{correction}</strong> method at α = {alpha}. A disparity is <em>flagged</em> "
        "when significant after correction and at least {threshold} points (age errors: "
        "{age_threshold} years) from the reference. Groups with fewer than {min_speakers} "
        "speakers are <em>insufficient evidence</em>: shown, never tested.</p>"
    ).format(
        level=bootstrap.get("level", config["level"]),
        method=bootstrap["method"],
        n_boot=bootstrap["n_boot"],
        seed=bootstrap["seed"],
        methods=", ".join(methods),
        reference=config["reference"],
        p_method=tests.get("p_value", "bootstrap test"),
        n_tests=tests["n_tests"],
        family=tests.get("family", "every test of the audit"),
        correction=fmt.correction_name(tests["correction"]),
        alpha=tests["alpha"],
        threshold=f"{config['threshold'] * 100:g}",
        age_threshold=config["age_threshold"],
        min_speakers=config["min_speakers"],
    )
    rows = []
    for spec in summary["metrics"]:
        overall = summary["overall"].get(spec["name"], {})
        value = fmt.value_formatter(spec["unit"])(overall.get("value"))
        rows.append(
            {
                "metric": spec["name"],
                "family": spec["family"],
                "unit": spec["unit"],
                "better": "higher" if spec["higher_is_better"] else "lower",
                "overall": value,
                "95% CI": fmt.interval(overall.get("ci_low"), overall.get("ci_high"), spec["unit"]),
                "clips": overall.get("n_clips", float("nan")),
            }
        )
    table = table_html(
        pd.DataFrame(rows),
        formats={"clips": fmt.count},
        caption="Metrics of this audit, over all clips (slice overall, group all)",
    )
    return text + table


def _flags_section(audit: _Audit) -> Markup:
    flags = _visible_flags(audit)
    if flags.empty:
        largest = audit.result.disparities()
        largest = largest[~fmt.is_suppressed(largest["n_speakers"], audit.privacy_k)].head(10)
        note = Markup(
            '<p class="ok-note">No disparity is flagged. The largest differences from the '
            "reference, none significant after correction and beyond the threshold:</p>"
        )
        return note + _disparity_table(audit, largest, caption="Largest differences")
    note = Markup(
        "<p>One-column slices first, then intersections; within each, proportions (points) "
        "before age errors and other units, the largest difference relative to its threshold "
        "first. Each row is one row of <code>groups.parquet</code> "
        "(metric, slice, group); the shaded band is the practical threshold.</p>"
    )
    parts = [note]
    units = pd.Series([audit.unit(m) for m in flags["metric"]], index=flags.index)
    for unit in sorted(set(units), key=lambda u: (UNIT_ORDER.get(u, len(UNIT_ORDER)), u)):
        rows = flags[units == unit].head(MAX_FLAG_ROWS)
        frame = rows.assign(
            label=[
                f"{r.metric} · {r.slice} = {r.group} vs {r.reference}" for r in rows.itertuples()
            ]
        )
        proportion = unit == "proportion"
        parts.append(
            figure_html(
                figures.difference_plot(
                    frame,
                    xlabel="difference from the reference (percentage points)"
                    if proportion
                    else f"difference from the reference ({unit})",
                    scale=100.0 if proportion else 1.0,
                ),
                alt=f"Flagged disparities ({unit}) with 95% intervals of the difference",
                caption=f"Flagged disparities ({unit}), largest first"
                + (f"; the first {MAX_FLAG_ROWS} shown" if len(rows) == MAX_FLAG_ROWS else ""),
            )
        )
    parts.append(_disparity_table(audit, flags.head(MAX_FLAG_ROWS), caption="Flagged disparities"))
    if len(flags) > MAX_FLAG_ROWS:
        rest = _disparity_table(audit, flags.iloc[MAX_FLAG_ROWS:], caption="More flags")
        parts.append(
            Markup("<details><summary>{} more flagged disparities</summary>{}</details>").format(
                len(flags) - MAX_FLAG_ROWS, rest
            )
        )
    return Markup("").join(parts)


def _disparity_table(audit: _Audit, rows: pd.DataFrame, *, caption: str) -> Markup:
    display = pd.DataFrame(
        {
            "metric": rows["metric"],
            "slice": rows["slice"],
            "group": rows["group"],
            "reference": rows["reference"],
            "speakers": rows["n_speakers"],
            "value": [
                fmt.value_formatter(audit.unit(m))(v)
                for m, v in zip(rows["metric"], rows["value"], strict=True)
            ],
            "difference": rows["difference"],
            "difference 95% CI": [
                fmt.interval(lo, hi, audit.unit(m), signed=True)
                for m, lo, hi in zip(
                    rows["metric"], rows["diff_ci_low"], rows["diff_ci_high"], strict=True
                )
            ],
            "p (adjusted)": rows["p_adjusted"],
            "status": [
                "flag" if f else s for f, s in zip(rows["flag"], rows["status"], strict=True)
            ],
        }
    )
    units = dict(zip(rows["metric"], [audit.unit(m) for m in rows["metric"]], strict=False))
    difference_text = {
        index: fmt.difference_formatter(units[m])(d)
        for index, m, d in zip(display.index, display["metric"], display["difference"], strict=True)
    }
    display["difference"] = display["difference"].astype(float)
    formatted = iter(difference_text[i] for i in display.index)
    return table_html(
        display,
        formats={
            "difference": lambda _: next(formatted),
            "p (adjusted)": fmt.p_value,
            "speakers": fmt.count,
        },
        badges={"status": fmt.badge},
        caption=caption,
    )


def _primary_metrics(audit: _Audit) -> list[str]:
    """Metrics that get a forest plot: S2F agreements, age error, similarity, top recall@k."""
    names = audit.result.metrics
    recall = _recall_metrics(audit)
    top_recall = {recall[max(recall)]} if recall else set()
    chosen = [
        name
        for name in names
        if (name.startswith("s2f_") and name.endswith("_agreement"))
        or name in ("s2f_age_error", "feature_cosine_score")
        or name in top_recall
    ]
    return chosen


def _recall_metrics(audit: _Audit) -> dict[int, str]:
    """recall@k metric of the preferred distance (mixed gallery), by k."""
    found: dict[str, dict[int, str]] = {}
    for name in audit.result.metrics:
        match = RECALL.match(name)
        if match:
            found.setdefault(match.group(2), {})[int(match.group(1))] = name
    if not found:
        return {}
    return found.get(PREFERRED_DISTANCE, next(iter(found.values())))


def _groups_section(audit: _Audit) -> Markup:
    parts = [Markup("<p>{}</p>").format(figures.forest_legend_note())]
    for metric in _primary_metrics(audit):
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
        figure = figures.forest_plot(panels, metric=metric, unit=unit)
        better = "higher" if spec["higher_is_better"] else "lower"
        parts.append(
            figure_html(
                figure,
                alt=f"Forest plot of {metric} per group",
                caption=f"{metric} per group ({better} is better); rows of groups.parquet "
                f"with metric = {metric}.",
            )
        )
        parts.append(_metric_table(audit, metric))
    return Markup("").join(parts)


def _metric_table(audit: _Audit, metric: str) -> Markup:
    """Every group of every slice (intersections too) for one metric, folded."""
    rows = audit.groups[(audit.groups["metric"] == metric) & (audit.groups["slice"] != "overall")]
    unit = audit.unit(metric)
    hidden = rows["suppressed"].to_numpy()
    display = pd.DataFrame(
        {
            "slice": rows["slice"],
            "group": rows["group"],
            "speakers": rows["n_speakers"].where(~hidden),
            "clips": rows["n_clips"].where(~hidden),
            "value": rows["value"].where(~hidden),
            "95% CI": [
                "–" if h else fmt.interval(lo, hi, unit)
                for h, lo, hi in zip(hidden, rows["ci_low"], rows["ci_high"], strict=True)
            ],
            "reference": rows["reference"],
            "difference": rows["difference"].where(~hidden),
            "difference 95% CI": [
                "–" if h else fmt.interval(lo, hi, unit, signed=True)
                for h, lo, hi in zip(hidden, rows["diff_ci_low"], rows["diff_ci_high"], strict=True)
            ],
            "p (adjusted)": rows["p_adjusted"].where(~hidden),
            "status": [
                fmt.SUPPRESSED if h else ("flag" if f else s)
                for h, f, s in zip(hidden, rows["flag"], rows["status"], strict=True)
            ],
        }
    )
    table = table_html(
        display,
        formats={
            "speakers": _hidden(audit.privacy_k),
            "clips": _hidden(audit.privacy_k),
            "value": fmt.value_formatter(unit),
            "difference": fmt.difference_formatter(unit),
            "p (adjusted)": fmt.p_value,
        },
        badges={"status": fmt.badge},
        caption=f"groups.parquet rows with metric = {metric}",
    )
    return Markup(
        "<details><summary>Table: {} for every group and intersection ({} rows)"
        "</summary>{}</details>"
    ).format(metric, len(display), table)


def _confusion_section(audit: _Audit) -> Markup:
    confusion = audit.result.confusion
    if confusion.empty:
        return Markup("")
    speakers = audit.groups.drop_duplicates(["slice", "group"]).set_index(["slice", "group"])[
        "n_speakers"
    ]
    parts = [
        Markup(
            "<p>As the paper's Fig. 5: rows are the attribute class of the true face, columns "
            "the class predicted on the reconstructed face (S2F) or on the face encoder's own "
            "reconstruction (F2F); each row sums to 1 (rows of <code>confusion.parquet</code>). "
            "Groups below the privacy threshold are not shown.</p>"
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
            if speakers.get((slice_name, group), 0) >= audit.privacy_k
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


def _retrieval_section(audit: _Audit) -> Markup:
    recall = _recall_metrics(audit)
    if not recall:
        return Markup("")
    mixed = audit.summary.get("retrieval", {}).get("mixed", {})
    chance_rows = mixed.get("groups", [])
    chance = None
    if len(chance_rows) == 1:
        chance = {
            k: chance_rows[0][f"chance@{k}"] for k in recall if f"chance@{k}" in chance_rows[0]
        }
    distance = RECALL.match(next(iter(recall.values()))).group(2)
    intro = Markup(
        "<p>Each voice's predicted face feature ranks a gallery of true faces (one per "
        "speaker); recall@k is the share of voices whose own face is among the k closest "
        "({} distance). {}</p>"
    ).format(
        distance,
        Markup("Gallery: {} faces in {} gallery(ies), seed {}; chance is k/G (dotted).").format(
            chance_rows[0]["gallery_size"], chance_rows[0]["n_galleries"], mixed.get("seed")
        )
        if len(chance_rows) == 1
        else "Gallery sizes are not recorded in this audit.",
    )
    panels = []
    for slice_name in ["overall", *audit.single_slices()]:
        frames = [
            audit.rows(metric, slice_name).assign(k=k)[["group", "k", "value", "ci_low", "ci_high"]]
            for k, metric in sorted(recall.items())
        ]
        frame = pd.concat(frames, ignore_index=True)
        if not frame.empty:
            panels.append((slice_name, frame))
    figure = figure_html(
        figures.recall_curves(panels, chance),
        alt="recall@k per group, one panel per slice",
        caption=f"recall@k ({distance}) per group with 95% intervals; rows of groups.parquet "
        f"with metric recall@k_{distance}",
    )
    return intro + figure


def _decomposition_section(audit: _Audit) -> Markup:
    metrics = set(audit.result.metrics)
    parts = [
        Markup(
            "<p>The S2F pipeline (voice → face → attribute classifier) errs both because the "
            "voice carries limited information and because the classifier errs on faces. The "
            "F2F pipeline (true face → face feature → decoded face → classifier) shares the "
            "second error only, so the gap F2F − S2F is the error the voice adds "
            "(<code>&lt;attribute&gt;_voice_added_error</code>).</p>"
        )
    ]
    for attribute in ATTRIBUTES:
        s2f, f2f = f"s2f_{attribute}_agreement", f"f2f_{attribute}_agreement"
        added = f"{attribute}_voice_added_error"
        if not {s2f, f2f} <= metrics:
            continue
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
                alt=f"F2F and S2F {label} agreement per group",
                caption=f"F2F ({f2f}) and S2F ({s2f}) agreement with the true face per group",
            )
        )
        if added in metrics:
            parts.append(_metric_table(audit, added))
    return Markup("").join(parts) if len(parts) > 1 else Markup("")


def _craniofacial_section(audit: _Audit) -> Markup:
    metrics = [
        m["name"]
        for m in audit.summary["metrics"]
        if m["family"] == "craniofacial" and m["name"].startswith("s2f_")
    ]
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
                audit.rows(metric, slice_name).assign(
                    measure=metric.removeprefix("s2f_cf_").removesuffix("_pearson")
                )
                for metric in metrics
            ],
            ignore_index=True,
        )
        if not frame.empty:
            panels.append((slice_name, frame))
    parts.append(
        figure_html(
            figures.correlation_plot(panels),
            alt="Craniofacial correlations per group, one panel per slice",
            caption="S2F craniofacial correlations per group (metrics s2f_cf_<measure>_pearson)",
        )
    )
    return Markup("").join(parts)


def _duration_section(audit: _Audit) -> Markup:
    if DURATION_COLUMN not in audit.single_slices():
        return Markup("")
    durations = sorted(audit.rows(audit.result.metrics[0], DURATION_COLUMN)["group"], key=float)
    if len(durations) < 2:
        return Markup("")
    short, long = durations[0], durations[-1]
    parts = [
        Markup(
            "<p>The same clips evaluated with {} s and {} s of speech (the paper's Table 4). "
            "Rows come from the slice <code>duration_s</code> and its intersections.</p>"
        ).format(short, long)
    ]
    for metric in _primary_metrics(audit)[:MAX_DURATION_METRICS]:
        frame = _duration_rows(audit, metric, short, long)
        if frame.empty:
            continue
        unit = audit.unit(metric)
        parts.append(
            figure_html(
                figures.paired_bars(
                    frame,
                    labels=(f"{short} s", f"{long} s"),
                    colors=(figures.MUTED, figures.ACCENT),
                    xlabel=f"{metric} ({unit})",
                ),
                alt=f"{metric} at {short} s and {long} s per group",
                caption=f"{metric} at {short} s and {long} s of speech, per group",
            )
        )
    return Markup("").join(parts)


def _duration_rows(audit: _Audit, metric: str, short: str, long: str) -> pd.DataFrame:
    rows = []
    overall = audit.rows(metric, DURATION_COLUMN).set_index("group")
    if {short, long} <= set(overall.index):
        rows.append(("all clips", overall.loc[short], overall.loc[long]))
    for slice_ in audit.summary["slices"]:
        columns = slice_["columns"]
        if len(columns) != 2 or DURATION_COLUMN not in columns:
            continue
        position = columns.index(DURATION_COLUMN)
        other = columns[1 - position]
        part = audit.rows(metric, slice_["name"])
        keyed = {}
        for row in part.itertuples(index=False):
            labels = row.group.split(" & ")
            keyed[(labels[1 - position], labels[position])] = row
        for group in dict.fromkeys(k[0] for k in keyed):
            if (group, short) in keyed and (group, long) in keyed:
                rows.append((f"{other} = {group}", keyed[group, short], keyed[group, long]))
    columns = ("value", "ci_low", "ci_high")
    return pd.DataFrame(
        [
            {
                "label": label,
                **{
                    f"{c}_a": float(getattr(a, c) if isinstance(a, tuple) else a[c])
                    for c in columns
                },
                **{
                    f"{c}_b": float(getattr(b, c) if isinstance(b, tuple) else b[c])
                    for c in columns
                },
            }
            for label, a, b in rows
        ]
    )


def _caveats_section(audit: _Audit, include_faces: bool) -> Markup:
    summary = audit.summary
    parts = []
    for column, sources in summary.get("label_provenance", {}).items():
        inferred = sources.get("inferred", 0)
        if inferred:
            parts.append(
                Markup(
                    '<div class="callout inferred"><strong>Inferred labels: {column}.</strong> '
                    "{inferred} of {total} clips carry a {column} label inferred by a classifier "
                    "(as the paper's Face++ labels were), not self-reported. Every result by "
                    "{column} inherits that classifier's errors and biases.</div>"
                ).format(column=column, inferred=inferred, total=sum(sources.values()))
            )
    for caveat in summary.get("caveats", []):
        parts.append(Markup('<p class="note">{}</p>').format(caveat))
    parts.append(
        Markup(
            "<h3>Attribute classifier domain gap</h3><p>Attributes of reconstructed faces are "
            "predicted by a face classifier trained on photographs; decoded faces are smooth, "
            "frontal and average-looking, outside its training domain. The F2F pipeline "
            "measures this gap: an F2F error is the classifier's, not the voice's.{}</p>"
        ).format(_domain_gap(audit))
    )
    parts.append(_evidence_listing(audit))
    if summary.get("notes"):
        notes = Markup("").join(Markup("<li>{}</li>").format(n) for n in summary["notes"])
        parts.append(Markup("<h3>Notes from the audit</h3><ul>{}</ul>").format(notes))
    faces = (
        "include_faces was requested, but this audit artifact holds no face images; none are "
        "embedded."
        if include_faces
        else "No face image is embedded (real faces are shown only with include_faces)."
    )
    parts.append(Markup('<p class="note">{}</p>').format(faces))
    return Markup("").join(parts)


def _domain_gap(audit: _Audit) -> str:
    overall = audit.summary["overall"]
    sentences = []
    for attribute in ATTRIBUTES:
        metric = f"f2f_{attribute}_agreement"
        if metric in overall and overall[metric].get("value") is not None:
            sentences.append(f"{attribute.replace('_', ' ')} {overall[metric]['value'] * 100:.1f}%")
    if not sentences:
        return ""
    return " Here, F2F agreement with the true face is: " + ", ".join(sentences) + "."


def _evidence_listing(audit: _Audit) -> Markup:
    summary = audit.summary
    k = audit.privacy_k
    insufficient, empty, suppressed = [], [], []
    for slice_ in summary["slices"]:
        for group, speakers in zip(slice_["groups"], slice_["n_speakers"], strict=True):
            label = f"{slice_['name']} = {group}"
            if 0 < speakers < k:
                suppressed.append(label)
            if group in slice_["insufficient"]:
                insufficient.append(label)
        empty.extend(f"{slice_['name']} = {group}" for group in slice_["empty"])
    parts = [Markup("<h3>Groups with insufficient evidence</h3>")]
    parts.append(
        Markup(
            "<p>{} group(s) have fewer than {} speakers; they are shown but not tested: {}</p>"
        ).format(len(insufficient), summary["config"]["min_speakers"], fmt.listing(insufficient))
        if insufficient
        else Markup("<p>Every group has enough speakers to be tested.</p>")
    )
    if empty:
        parts.append(
            Markup("<p>{} intersection(s) hold no clip: {}</p>").format(
                len(empty), fmt.listing(empty)
            )
        )
    if suppressed:
        parts.append(
            Markup(
                "<p>{} group(s) have fewer than {} speakers (the privacy threshold); their "
                "numbers are suppressed in tables and figures: {}</p>"
            ).format(len(suppressed), k, fmt.listing(suppressed))
        )
    return Markup("").join(parts)
