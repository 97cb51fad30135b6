"""The model-card sections of the audit report: details, data, method, flags, caveats, ethics."""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from audit.privacy import is_suppressed
from reports import _figures as figures
from reports import _format as fmt
from reports._audit_view import (
    UNIT_ORDER,
    AuditView,
    suppressed_flag_count,
    visible_flags,
)
from reports._limits import Limits, inferred_findings
from reports._page import figure_html, table_html

MAX_FLAG_ROWS = 30


INTENDED_USE = Markup(
    "<p>This report audits how a voice-to-face model (Speech2Face, Oh et al., CVPR 2019, or "
    "any model writing the same predictions artifact) behaves for different groups of "
    "speakers. It is meant for researchers and reviewers deciding whether a model, or a "
    "retrained one, treats groups differently. The model reconstructs an "
    "<em>average-looking</em> face consistent with a voice; it must not be used to identify "
    "people, to infer a person's demographics, or to make decisions about individuals.</p>"
)


def findings(audit: AuditView) -> list[str]:
    summary = audit.summary
    tests = summary["tests"]
    flags = visible_flags(audit)
    hidden = suppressed_flag_count(audit)
    out = [
        f"{len(flags)} disparit{'y' if len(flags) == 1 else 'ies'} flagged: significant after "
        f"{fmt.correction_name(tests['correction'])} correction over {tests['n_tests']} "
        "tests and at least the practical threshold away from the reference group."
        + (_hidden_flags_sentence(hidden, audit.privacy_k) if hidden else "")
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
    for reason in summary.get("circular", {}).values():
        out.append(reason[0].upper() + reason[1:] + ".")
    out.extend(inferred_findings(limits(audit)))
    return out


def banners(audit: AuditView) -> list[str]:
    """Warnings the report opens with: what makes the whole audit read differently."""
    summary = audit.summary
    out = []
    banner = summary.get("training_speakers", {}).get("banner")
    if banner:
        out.append(banner + " (--include-training-speakers).")
    for warning in (summary.get("face_domain") or {}).get("warnings", []):
        text = warning.removeprefix("warning: ")
        out.append(text[0].upper() + text[1:] + ".")
    return out


def _hidden_flags_sentence(hidden: int, privacy_k: int) -> str:
    return (
        f" {hidden} more flagged disparit{'y is' if hidden == 1 else 'ies are'} in or against "
        f"groups of fewer than {privacy_k} speakers, not shown for privacy (the audit result "
        "holds them)."
    )


def _flag_sentence(audit: AuditView, row) -> str:
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


def evaluated_at(audit: AuditView) -> str:
    """ "Clips evaluated at 6 s of speech …", or nothing when the audit does not record it."""
    duration = audit.summary.get("duration_s")
    if duration is None:
        return ""
    others = [d for d in audit.summary["predictions"].get("durations_s", []) if d != duration]
    held = f" (the predictions also hold {', '.join(f'{d:g} s' for d in others)})" if others else ""
    return f"Clips evaluated at {duration:g} s of speech{held}."


def model_section(audit: AuditView) -> Markup:
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


def data_section(audit: AuditView, dataset_report: str | None) -> Markup:
    summary = audit.summary
    predictions = summary["predictions"]
    intro = Markup(
        "<p>{} of {}. Groups are the values of each slice column and of their "
        "intersections; a missing label is the explicit group <code>unknown</code>.</p>"
    ).format(
        fmt.counted(predictions["n_clips"], "clip"),
        fmt.counted(predictions["n_speakers"], "speaker"),
    )
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
            hidden = is_suppressed(speakers, audit.privacy_k)
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
    frame = pd.DataFrame(rows)
    if len(frame):
        counted = frame.assign(n_speakers=frame["speakers"].fillna(1.0))
        withheld = fmt.protected(counted, by=["slice"], privacy_k=audit.privacy_k)
        withheld &= frame["speakers"].notna().to_numpy()
        for column in ("speakers", "clips"):
            frame[column] = frame[column].astype(float).where(~withheld, fmt.WITHHELD)
    small = fmt.private_count(audit.privacy_k)
    table = table_html(
        frame,
        formats={"speakers": small, "clips": small},
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


def method_section(audit: AuditView) -> Markup:
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
        "when significant after correction and at least its metric's practical threshold "
        "(column <em>threshold</em> below, in the metric's own units) from the reference. "
        "Groups with fewer than {min_speakers} "
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
        min_speakers=config["min_speakers"],
    )
    rows = []
    for spec in summary["metrics"]:
        overall = summary["overall"].get(spec["name"], {})
        value = fmt.value_formatter(spec["unit"])(overall.get("value"))
        rows.append(
            {
                "metric": spec["name"]
                + (" (circular: never tested)" if spec.get("circular") else ""),
                "family": spec["family"],
                "unit": spec["unit"],
                "better": "higher" if spec["higher_is_better"] else "lower",
                "overall": value,
                "95% CI": fmt.interval(overall.get("ci_low"), overall.get("ci_high"), spec["unit"]),
                "clips": overall.get("n_clips", float("nan")),
                "threshold": _threshold_text(spec),
            }
        )
    table = table_html(
        pd.DataFrame(rows),
        formats={"clips": fmt.count},
        caption="Metrics of this audit, over all clips (slice overall, group all)",
    )
    return text + table


def _threshold_text(spec: dict) -> str:
    """A metric's practical threshold in its units, with its rule where relative (``10%``)."""
    threshold = spec.get("threshold")
    if threshold is None:
        return "–"
    magnitude = fmt.difference_formatter(spec["unit"])(threshold).lstrip("+")
    rule = str(spec.get("threshold_rule", ""))
    return f"{magnitude} ({rule} of overall)" if rule.endswith("%") else magnitude


def flags_section(audit: AuditView) -> Markup:
    flags = visible_flags(audit)
    if flags.empty:
        largest = audit.result.disparities()
        hidden_rows = is_suppressed(largest["n_speakers"], audit.privacy_k)
        largest = largest[~(hidden_rows | audit.against_hidden_reference(largest))].head(10)
        hidden = suppressed_flag_count(audit)
        if largest.empty and not hidden:
            return Markup(
                '<p class="ok-note">No disparity is flagged, and none could be: no group has a '
                "difference from its reference to show (groups below {} speakers are not "
                "tested; groups below {} are not shown).</p>"
            ).format(audit.summary["config"]["min_speakers"], audit.privacy_k)
        note = (
            Markup(
                "<p>No flagged disparity can be shown.{hidden} The largest differences from "
                "the reference in the groups shown, none significant after correction and "
                "beyond the threshold:</p>"
            ).format(hidden=_hidden_flags_sentence(hidden, audit.privacy_k))
            if hidden
            else Markup(
                '<p class="ok-note">No disparity is flagged. The largest differences from the '
                "reference, none significant after correction and beyond the threshold:</p>"
            )
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


def _disparity_table(audit: AuditView, rows: pd.DataFrame, *, caption: str) -> Markup:
    display = pd.DataFrame(
        {
            "metric": rows["metric"],
            "slice": rows["slice"],
            "group": rows["group"],
            "reference": rows["reference"],
            "speakers": audit.shown_counts(rows, "n_speakers"),
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
            "speakers": fmt.private_count(audit.privacy_k),
        },
        badges={"status": fmt.badge},
        caption=caption,
    )


def limits(audit: AuditView, *, faces: str = "No face image is embedded.") -> Limits:
    """The audit's caveats: label provenance, evidence per group, notes, the domain gap."""
    summary = audit.summary
    k = audit.privacy_k
    insufficient, empty, suppressed = [], [], []
    for slice_ in summary["slices"]:
        for group, speakers in zip(slice_["groups"], slice_["n_speakers"], strict=True):
            label = f"{slice_['name']} = {group}"
            if is_suppressed(speakers, k):
                suppressed.append(label)
            if group in slice_["insufficient"]:
                insufficient.append(label)
        empty.extend(f"{slice_['name']} = {group}" for group in slice_["empty"])
    return Limits(
        provenance=summary.get("label_provenance", {}),
        min_speakers=summary["config"]["min_speakers"],
        privacy_k=k,
        insufficient=insufficient,
        empty=empty,
        suppressed=suppressed,
        caveats=summary.get("caveats", []),
        notes=summary.get("notes", []),
        domain_gap=_domain_gap(audit),
        decoder=summary.get("reconstructions", "unknown") is not None,
        faces=faces,
    )


def _domain_gap(audit: AuditView) -> str:
    overall = audit.summary["overall"]
    sentences = []
    for metric in audit.find(family="agreement", face="f2f"):
        if metric in overall and overall[metric].get("value") is not None:
            subject = audit.spec(metric)["subject"].replace("_", " ")
            sentences.append(f"{subject} {overall[metric]['value'] * 100:.1f}%")
    if not sentences:
        return ""
    return " Here, F2F agreement with the true face is: " + ", ".join(sentences) + "."
