"""The audit report: a model card rendered from a saved audit result.

Order follows model cards: model details and intended use, evaluation data, metrics
and how their uncertainty was computed, then the quantitative analysis (flagged
disparities first; forest plots; per-group confusion; retrieval; the F2F-vs-S2F
decomposition; craniofacial correlations; other durations), caveats and ethical
considerations. Every number is read from ``audit.json`` / ``groups.parquet`` /
``confusion.parquet`` and shown with its (metric, slice, group) keys.
"""

from __future__ import annotations

import os
from pathlib import Path

from audit.privacy import PRIVACY_K
from audit.result import AuditResult
from reports import _audit_card as card
from reports import _audit_figures as quantitative
from reports._audit_conditions import conditions_section
from reports._audit_view import AuditView
from reports._faces import flagged_faces
from reports._limits import ETHICS, caveats_section
from reports._page import Section, collected_once, render_page, write_html


def render_audit_report(
    result: AuditResult,
    path: str | os.PathLike,
    *,
    privacy_k: int = PRIVACY_K,
    include_faces: bool = False,
    faces: str | os.PathLike | None = None,
    source: str | os.PathLike | None = None,
    dataset_report: str | None = None,
) -> Path:
    """Write the audit report of ``result`` to ``path`` (one self-contained HTML file).

    Groups with fewer than ``privacy_k`` speakers (but some) are suppressed in tables and
    figures. ``dataset_report`` is a link (relative to the report) to the dataset report
    of the evaluation data. ``faces`` (the predictions folder, or a manifest, with
    ``face_path``) gives example true faces of each flagged group: synthetic faces are
    shown, photographs of real people only with ``include_faces``.
    """
    path = Path(path)
    html = audit_report_html(
        result,
        source=source if source is not None else path.parent,
        privacy_k=privacy_k,
        include_faces=include_faces,
        faces=faces,
        dataset_report=dataset_report,
    )
    return write_html(html, path)


@collected_once
def audit_report_html(
    result: AuditResult,
    *,
    source: str | os.PathLike,
    privacy_k: int = PRIVACY_K,
    include_faces: bool = False,
    faces: str | os.PathLike | None = None,
    dataset_report: str | None = None,
) -> str:
    """The audit report as an HTML string (see :func:`render_audit_report`)."""
    audit = AuditView.of(result, privacy_k)
    gallery = flagged_faces(audit, faces, include_faces=include_faces)
    builders = [
        ("model", "Model details and intended use", lambda: card.model_section(audit)),
        ("data", "Evaluation data", lambda: card.data_section(audit, dataset_report)),
        ("method", "Metrics and uncertainty", lambda: card.method_section(audit)),
        ("flags", "Flagged disparities", lambda: card.flags_section(audit) + gallery.html),
        ("groups", "Metrics per group", lambda: quantitative.groups_section(audit)),
        ("conditions", "Recording conditions", lambda: conditions_section(audit)),
        (
            "confusion",
            "Attribute confusion per group",
            lambda: quantitative.confusion_section(audit),
        ),
        ("retrieval", "Retrieval from voice", lambda: quantitative.retrieval_section(audit)),
        (
            "decomposition",
            "Where the error comes from: F2F vs S2F",
            lambda: quantitative.decomposition_section(audit),
        ),
        (
            "craniofacial",
            "Craniofacial correlations",
            lambda: quantitative.craniofacial_section(audit),
        ),
        ("duration", "Other clip durations", lambda: quantitative.duration_section(audit)),
        (
            "caveats",
            "Caveats",
            lambda: caveats_section(card.limits(audit, faces=gallery.note)),
        ),
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
        findings=card.findings(audit),
        subtitle=card.evaluated_at(audit),
        banners=card.banners(audit),
    )
