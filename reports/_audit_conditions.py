"""The audit report's section on recording conditions: raw and adjusted disparities side
by side, and the disparities the measured conditions explain (``--adjust-for``)."""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from reports import _format as fmt
from reports._audit_view import AuditView
from reports._page import table_html

MAX_ROWS = 30


def conditions_section(audit: AuditView) -> Markup:
    """Empty when the audit was not adjusted for recording conditions."""
    record = audit.summary.get("adjustment")
    if not record:
        return Markup("")
    groups = audit.groups
    rows = groups[
        groups["adjusted_difference"].notna() & ~groups["suppressed"] & groups["status"].eq("ok")
    ]
    rows = rows.loc[rows["difference"].abs().sort_values(ascending=False).index]
    explained_ = _listed(rows, record.get("explained", []))
    inconclusive = _listed(rows, record.get("inconclusive", []))
    intro = Markup(
        "<p>Each disparity beside the same disparity at equal recording conditions: "
        "{columns} cut into {bins} quantile bins each (crossed: {n} strata), every group "
        "standardised to the whole population's distribution over the strata it covers "
        "(<code>outside_support_share</code>: the share it does not cover; above {limit} no "
        "adjusted test). Adjusted tests are corrected ({correction}) in their own family of "
        "{tests}. <strong>Caution:</strong> {caution}.</p>"
    ).format(
        columns=", ".join(record["columns"]),
        bins=record["bins"],
        n=record["n_strata"],
        limit=fmt.share(record["support_limit"]),
        correction=fmt.correction_name(record["tests"]["correction"]),
        tests=record["tests"]["n_tests"],
        caution=record["caution"],
    )
    parts = [intro]
    if explained_.empty:
        parts.append(
            Markup("<p>No disparity is explained by the measured recording conditions.</p>")
        )
    else:
        parts.append(
            Markup(
                "<p>Explained by recording conditions (the raw interval excludes 0, the "
                "adjusted one covers it, and the adjusted estimate is at most half the raw "
                "one): {}.</p>"
            ).format(_names(explained_))
        )
    if not inconclusive.empty:
        parts.append(
            Markup(
                "<p>Less certain at equal conditions, <em>not</em> explained by them (the "
                "adjusted interval reaches 0 because it is wider; the estimate moved less "
                "than halfway to 0): {}.</p>"
            ).format(_names(inconclusive))
        )
    parts.append(_table(audit, rows.head(MAX_ROWS)))
    return Markup("").join(parts)


def _listed(rows: pd.DataFrame, records: list[dict]) -> pd.DataFrame:
    """The shown ``rows`` that the audit's record lists (the audit decides; hidden groups
    stay hidden)."""
    keys = {(r["metric"], r["slice"], r["group"]) for r in records}
    columns = (rows["metric"], rows["slice"], rows["group"])
    listed = [key in keys for key in zip(*columns, strict=True)]
    return rows[listed]


def _names(rows: pd.DataFrame) -> str:
    return "; ".join(f"{r.metric} · {r.slice} = {r.group}" for r in rows.itertuples())


def _signed(audit: AuditView, metrics: pd.Series, values: pd.Series) -> list[str]:
    return [
        fmt.difference_formatter(audit.unit(m))(v) for m, v in zip(metrics, values, strict=True)
    ]


def _interval(audit: AuditView, rows: pd.DataFrame, low: str, high: str) -> list[str]:
    return [
        fmt.interval(lo, hi, audit.unit(m), signed=True)
        for m, lo, hi in zip(rows["metric"], rows[low], rows[high], strict=True)
    ]


def _table(audit: AuditView, rows: pd.DataFrame) -> Markup:
    adjusted_flag = rows["adjusted_flag"].astype("boolean")
    display = pd.DataFrame(
        {
            "metric": rows["metric"],
            "slice": rows["slice"],
            "group": rows["group"],
            "reference": rows["reference"],
            "raw difference": _signed(audit, rows["metric"], rows["difference"]),
            "raw 95% CI": _interval(audit, rows, "diff_ci_low", "diff_ci_high"),
            "raw": ["flag" if f else "" for f in rows["flag"]],
            "adjusted": _signed(audit, rows["metric"], rows["adjusted_difference"]),
            "adjusted 95% CI": _interval(audit, rows, "adjusted_ci_low", "adjusted_ci_high"),
            "p (adjusted test)": rows["adjusted_p_adjusted"],
            "adjusted flag": [
                "untested" if pd.isna(f) else ("flag" if f else "") for f in adjusted_flag
            ],
            "outside support": [fmt.share(v) for v in rows["outside_support_share"]],
        }
    )
    return table_html(
        display,
        formats={"p (adjusted test)": fmt.p_value},
        badges={"raw": fmt.badge, "adjusted flag": fmt.badge},
        caption="Raw and condition-adjusted disparities, largest raw difference first",
    )
