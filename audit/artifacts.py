"""The audit layer's artifact contracts: file names, column conventions, schema versions.

Each name is declared here once; other modules and the reports layer import it.
"""

from __future__ import annotations

from speech2face.artifacts import GROUP_SEPARATOR

# --- the audit result (a folder; see audit.result) ---------------------------------------
AUDIT_SCHEMA_VERSION = 5
"""2: one duration per audit (``duration_s``), per-metric thresholds, detectable differences;
3: ``n_speakers_evaluated`` per group, the count the minimum of speakers applies to;
4: each metric's full spec (component kind, headline, face, subject, k, gallery);
5: disparities adjusted for recording conditions (``adjusted_*``, ``outside_support_share``
in ``groups.parquet``; ``adjustment`` in ``audit.json`` when ``--adjust-for`` was given)."""
AUDIT_SCHEMA_VERSIONS = (4, 5)
"""The audit schema versions this toolkit reads (reports need the saved specs of version 4;
a version-4 audit has no adjusted columns, which read as empty)."""
AUDIT_FILE = "audit.json"
AUDIT_TABLE_FILES = {
    "groups": "groups.parquet",
    "tests": "tests.parquet",
    "confusion": "confusion.parquet",
    "components": "components.parquet",
    "retrieval_confusion": "retrieval_confusion.parquet",
}
REPORT_FILE = "report.html"
"""The report rendered into an audit or comparison folder."""

# --- a comparison of audits (a folder; see audit.compare) ---------------------------------
COMPARISON_SCHEMA_VERSION = 4
"""2: ``metrics`` holds each metric's full spec (unit, direction, headline, …), not its name.
3: signed ``toward_parity`` to a reference fixed by the baseline; regressions are the
model's own changes only. 4: ``gap_change_toward_parity`` (no ``gap_change`` twin);
``regression``, ``improvement``, ``gap_narrowed`` and ``gap_widened`` need the interval
beyond the threshold, as an audit's flag."""
COMPARISON_SCHEMA_VERSIONS = (4,)
COMPARISON_FILE = "comparison.json"
CHANGES_FILE = "changes.parquet"

# --- a dataset analysis (a folder; see audit.imbalance) -----------------------------------
ANALYSIS_SCHEMA_VERSION = 2
"""2: an optional ``conditions.parquet`` (recording conditions per group, issue 18), which a
version-1 reader would silently leave out of its report."""
ANALYSIS_SCHEMA_VERSIONS = (1, 2)
ANALYSIS_FILE = "analysis.json"
ANALYSIS_TABLES = (
    "counts",
    "imbalance",
    "shift",
    "reference",
    "provenance",
    "language_by_ethnicity",
)
"""One ``<name>.parquet`` per table."""
ANALYSIS_OPTIONAL_TABLES = ("conditions",)
"""Written only when not empty (``<name>.parquet``); absent, the table is empty."""

# --- slice conventions ----------------------------------------------------------------------
SLICE_PREFIX = "slice:"
"""Per-clip slice labels in an audit's components (``slice:<column>``)."""
SEPARATOR = GROUP_SEPARATOR
"""Joins the columns of an intersection (``gender & ethnicity``) and its values."""

# --- a trials audit (a folder; see audit.trials_result) -----------------------------------
TRIALS_AUDIT_KIND = "trials_audit"
TRIALS_AUDIT_SCHEMA_VERSION = 2
"""2: the audited trials (``trials.parquet``) are kept, so that audits compare paired."""
TRIALS_AUDIT_SCHEMA_VERSIONS = (2,)
TRIALS_AUDIT_TABLE_FILES = {
    "groups": "groups.parquet",
    "fmr_matrix": "fmr_matrix.parquet",
    "languages": "languages.parquet",
    "det": "det.parquet",
    "trials": "trials.parquet",
}

# --- a comparison of trials audits (a folder; see audit.trials_compare) --------------------
TRIALS_COMPARISON_KIND = "trials_comparison"
TRIALS_COMPARISON_SCHEMA_VERSION = 3
"""2: the heard/unheard languages compared (``languages.parquet``; ``languages`` in
``comparison.json``) and 1-of-n matching among the metrics. 3: the group-pair FMR matrix
compared (``fmr_matrix.parquet``; ``fmr_matrix`` in ``comparison.json``)."""
TRIALS_COMPARISON_SCHEMA_VERSIONS = (1, 2, 3)
"""A version-1 comparison has no languages table, a version 1 or 2 no FMR-matrix table:
each reads as empty."""
TRIALS_COMPARISON_LANGUAGES_FILE = "languages.parquet"
"""Per model, metric, slice, group and half (heard, unheard, gap): the paired change."""
TRIALS_COMPARISON_FMR_MATRIX_FILE = "fmr_matrix.parquet"
"""Per model and impostor (slice, voice group, face group) cell: the paired FMR change."""
