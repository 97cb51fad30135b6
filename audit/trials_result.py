"""The trials-audit artifact: a folder that saves and loads symmetrically.

::

    audit.json          kind ``trials_audit``, schema_version, what was audited (trials
                        path and meta, counts), config, the global score threshold,
                        overall metrics with intervals, flags, versions
    groups.parquet      one row per metric, slice and group, with disparities and ``flag``
    fmr_matrix.parquet  impostor FMR per (slice, voice group, face group)
    languages.parquet   heard, unheard and gap per metric, slice and group (with ``flag``)
    det.parquet         each group's DET curve (threshold, fmr, fnmr), unweighted
    trials.parquet      the audited trials, as validated (a comparison re-reads them)
    report.html         rendered into the same staging folder (see :meth:`save`)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import speech2face
from audit._trial_metrics import OperatingPoint
from audit.artifacts import (
    AUDIT_FILE,
    TRIALS_AUDIT_KIND,
    TRIALS_AUDIT_SCHEMA_VERSION,
    TRIALS_AUDIT_SCHEMA_VERSIONS,
    TRIALS_AUDIT_TABLE_FILES,
)
from audit.result import Render, read_summary, save_folder, with_stable_dtypes
from audit.trials import OVERALL, TrialsAudit, audit_trials
from audit.trials_config import TrialsConfig
from speech2face import trials as schema
from speech2face.artifacts import read_table
from speech2face.errors import InputError

NOT_A_TRIALS_AUDIT = "{path}: not a trials audit (no {file})"
WRONG_KIND = "{path}: a {found} artifact, not a trials audit"


def flagged(frame: pd.DataFrame, low: str, high: str, *, alpha: float, threshold: float) -> Any:
    """Rows significant after correction whose interval [low, high] lies beyond ±threshold."""
    beyond = (frame[low] > threshold) | (frame[high] < -threshold)
    return (frame["p_adjusted"] < alpha) & beyond


@dataclass
class TrialsAuditResult:
    """A trials audit: its summary (``audit.json``) and its tables."""

    summary: dict[str, Any]
    groups: pd.DataFrame
    fmr_matrix: pd.DataFrame
    languages: pd.DataFrame
    det: pd.DataFrame
    trials: pd.DataFrame
    """The audited trials table, so that a comparison pairs replicates on its speakers."""

    @classmethod
    def of(
        cls, audit: TrialsAudit, config: TrialsConfig, *, trials: schema.Trials, source: str
    ) -> TrialsAuditResult:
        """The artifact of ``audit`` (flags added) for the trials read from ``source``."""
        alpha = 1 - config.level
        groups = audit.groups.assign(
            flag=lambda f: flagged(
                f, "diff_ci_low", "diff_ci_high", alpha=alpha, threshold=config.threshold
            )
        )
        languages = audit.languages
        if len(languages):
            languages = languages.assign(
                flag=lambda f: flagged(
                    f, "gap_ci_low", "gap_ci_high", alpha=alpha, threshold=config.threshold
                )
            )
        overall = groups[groups["slice"] == OVERALL].set_index("metric")
        table = trials.table
        summary = {
            "kind": TRIALS_AUDIT_KIND,
            "schema_version": TRIALS_AUDIT_SCHEMA_VERSION,
            "trials": {
                "path": source,
                "meta": trials.meta,
                "n_trials": len(table),
                "n_targets": int(table[schema.TARGET].sum()),
                "n_voice_speakers": int(table[schema.VOICE_SPEAKER_ID].nunique()),
                "n_face_speakers": int(table[schema.FACE_SPEAKER_ID].nunique()),
            },
            "config": config.to_dict(),
            "audit": audit.config,
            "score_threshold": audit.threshold,
            "one_of_n": audit.one_of_n,
            "overall": overall[["value", "ci_low", "ci_high"]].to_dict(orient="index"),
            "flags": pd.concat(
                [frame[frame["flag"]] for frame in (groups, languages) if len(frame)]
            ).to_dict(orient="records"),
            "versions": {"speech2face": speech2face.__version__},
        }
        return cls(summary, groups, audit.fmr_matrix, languages, audit.det, table)

    def save(self, path: str | os.PathLike, *, render: Render | None = None) -> Path:
        """Write the folder, and ``render``'s report into it, replacing it whole."""
        tables = {
            file: with_stable_dtypes(getattr(self, name).copy())
            for name, file in TRIALS_AUDIT_TABLE_FILES.items()
        }
        return save_folder(path, self.summary, tables, kind=TRIALS_AUDIT_KIND, render=render)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrialsAuditResult:
        """Read a folder written by :meth:`save`; an unknown schema version is refused."""
        path = Path(path)
        for file in (AUDIT_FILE, *TRIALS_AUDIT_TABLE_FILES.values()):
            if not (path / file).exists():
                raise InputError(NOT_A_TRIALS_AUDIT.format(path=path, file=file))
        summary = read_summary(path / AUDIT_FILE, TRIALS_AUDIT_SCHEMA_VERSIONS)
        if summary.get("kind") != TRIALS_AUDIT_KIND:
            raise InputError(WRONG_KIND.format(path=path, found=summary.get("kind")))
        tables = {name: read_table(path / file) for name, file in TRIALS_AUDIT_TABLE_FILES.items()}
        return cls(summary=summary, **tables)

    def flags(self) -> pd.DataFrame:
        """Flagged differences and language gaps, as rows of ``audit.json``."""
        return pd.DataFrame(self.summary["flags"])


def run_trials_audit(path: str | os.PathLike, config: TrialsConfig) -> TrialsAuditResult:
    """Read the trials table at ``path`` and audit it with ``config``."""
    trials = schema.read_trials(path)
    heard = config.heard_languages or trials.meta.get("heard_languages")
    audit = audit_trials(
        trials.table,
        slices=config.slices,
        heard_languages=heard,
        reference=config.reference,
        correction=config.correction,
        n_boot=config.n_boot,
        seed=config.seed,
        level=config.level,
        operating_point=OperatingPoint(config.p_target, config.c_miss, config.c_fa),
        threshold=config.score_threshold,
        min_speakers=config.min_speakers,
        n_jobs=config.jobs,
    )
    return TrialsAuditResult.of(audit, config, trials=trials, source=str(path))
