"""Compare trials audits of two or more matchers on the same trials, paired.

Each trials audit keeps the trials it audited (``trials.parquet``), so a comparison
recomputes every model on the trials they share with one two-way bootstrap: weights are
keyed by voice and face speaker id (:mod:`audit._trial_weights`), so replicate ``b``
weighs a speaker the same for every model and each model-minus-baseline change is taken
inside the replicate (paired), then rescaled to the two-way cluster-robust variance like
every trials interval. FMR and FNMR stay at each audit's own global score threshold (the
score scales of two models need not agree), so their change is the change at each
model's fixed operating point.

The changes table has the columns of :mod:`audit.compare`'s and the same rule
(:func:`audit.compare.flag_changes`): a *regression* is the model's own value getting
worse, significant after one correction over every change and gap change, with the
interval of the change beyond the practical threshold; the gap to the baseline audit's
fixed reference (``overall`` by default) is compared as ``gap_change_toward_parity``
(|baseline gap| − |gap|, positive = narrowed).

When the baseline audit split heard and unheard languages, the same replicates also
give each model's change of the heard value, the unheard value and the cross-lingual gap
(unheard − heard) per metric and group (``languages``), tested and corrected as a family
of their own (the comparison's correction) and flagged when significant with the
interval beyond the threshold; a heard or unheard value that got worse is a regression
(``regression``, in :meth:`TrialsComparisonResult.regressions`), a gap change is reported.

The group-pair FMR matrix is compared the same way (``fmr_matrix``): per impostor cell
(slice, voice group, face group), each model's FMR at its own threshold, the paired change
rescaled as the matrix's own intervals, one family of its own; a cell whose FMR rose
significantly with the interval beyond the threshold is a regression.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from audit._intervals import adjust_pvalues, percentile_interval
from audit._trial_metrics import OperatingPoint
from audit._trial_weights import cgm_replicates
from audit.artifacts import (
    CHANGES_FILE,
    COMPARISON_FILE,
    TRIALS_COMPARISON_FMR_MATRIX_FILE,
    TRIALS_COMPARISON_KIND,
    TRIALS_COMPARISON_LANGUAGES_FILE,
    TRIALS_COMPARISON_SCHEMA_VERSION,
    TRIALS_COMPARISON_SCHEMA_VERSIONS,
)
from audit.compare import (
    TOO_FEW_AUDITS,
    TOWARD,
    ComparisonResult,
    _records,
    align_frames,
    check_labels,
    flag_changes,
)
from audit.config import CompareConfig
from audit.result import Render, save_folder
from audit.trials import (
    ALL,
    GAP,
    HEARD,
    INSUFFICIENT,
    METRICS,
    OK,
    OVERALL,
    UNHEARD,
    TrialReplicates,
    paired_p_value,
    replicate_trials,
)
from audit.trials_config import TrialsConfig
from audit.trials_result import TrialsAuditResult, flagged
from speech2face import trials as schema
from speech2face.artifacts import read_table
from speech2face.errors import InputError

HIGHER_IS_BETTER = {"eer": False, "auc": True, "min_dcf": False, "fmr": False, "fnmr": False}
"""Direction of each trials metric (``match_1of2`` is higher-better too)."""
HEADLINE = ("eer", "fmr", "fnmr")
"""Metrics a report plots for every group (the others are tabulated)."""
NOT_SLICED = "audit {index} was not sliced by {column!r}; audit every model with the same slices"


def higher_is_better(metric: str) -> bool:
    return HIGHER_IS_BETTER.get(metric, True)


@dataclass
class TrialsComparisonResult(ComparisonResult):
    """A paired comparison of trials audits: ``comparison.json``, ``changes.parquet``,
    ``languages.parquet`` (heard, unheard and gap changes; empty without heard languages)
    and ``fmr_matrix.parquet`` (group-pair FMR changes; empty without ``face_`` columns)."""

    languages: pd.DataFrame = field(default_factory=pd.DataFrame)
    fmr_matrix: pd.DataFrame = field(default_factory=pd.DataFrame)

    KIND = TRIALS_COMPARISON_KIND
    SCHEMA_VERSIONS = TRIALS_COMPARISON_SCHEMA_VERSIONS

    def save(self, path: str | os.PathLike, *, render: Render | None = None) -> Path:
        """Write the folder (every table), and ``render``'s report into it, replacing it whole."""
        tables = {
            CHANGES_FILE: self.changes,
            TRIALS_COMPARISON_LANGUAGES_FILE: self.languages,
            TRIALS_COMPARISON_FMR_MATRIX_FILE: self.fmr_matrix,
        }
        return save_folder(
            path, self.summary, tables, summary_file=COMPARISON_FILE, kind=self.KIND, render=render
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Self:
        """Read a folder; a table an older version did not write (languages before 2, the
        FMR matrix before 3) reads as empty."""
        result = super().load(path)
        for name, file in (
            ("languages", TRIALS_COMPARISON_LANGUAGES_FILE),
            ("fmr_matrix", TRIALS_COMPARISON_FMR_MATRIX_FILE),
        ):
            if (Path(path) / file).exists():
                setattr(result, name, read_table(Path(path) / file))
        return result

    def regressions(self) -> pd.DataFrame:
        """Cells whose value got significantly worse beyond the threshold: of the changes
        table, of a heard or unheard half (``group`` named with the half: ``female (unheard
        languages)``) and of a group pair's FMR (``female voice → male face (FMR pair)``)."""
        rows = super().regressions()
        more = []
        if "regression" in self.languages.columns:  # absent without languages, or schema 1
            halves = self.languages[self.languages["regression"].astype(bool)]
            more.append(
                halves.assign(group=halves["group"] + " (" + halves["half"] + " languages)")
            )
        if "regression" in self.fmr_matrix.columns:  # absent before schema 3
            pairs = self.fmr_matrix[self.fmr_matrix["regression"].astype(bool)]
            named = pairs["voice_group"] + " voice → " + pairs["face_group"] + " face (FMR pair)"
            more.append(pairs.assign(group=named))
        threshold = self.summary["config"]["threshold"]
        more = [m.assign(threshold=threshold) for m in more if len(m)]
        return pd.concat([rows, *(m[[c for c in m if c in rows]] for m in more)], ignore_index=True)

    def _repr_html_(self) -> str:
        models = " vs ".join(html.escape(str(m["model_id"])) for m in self.summary["models"])
        tests = self.summary["tests"]
        head = (
            f"<h4>Trials comparison: {models}</h4><p>{self.summary['n_trials']} shared "
            f"trials; {tests['n_tests']} paired tests, {tests['correction']} correction; "
            f"{len(self.regressions())} regression(s)</p>"
        )
        return head + self.regressions().head(20).to_html(float_format=lambda v: f"{v:.3f}")


def compare_trials_audits(
    audits: Sequence[TrialsAuditResult | str | os.PathLike],
    config: CompareConfig | None = None,
    **options: Any,
) -> TrialsComparisonResult:
    """Paired comparison of every trials audit against the first (the baseline).

    ``config`` (:class:`~audit.config.CompareConfig`) or its fields as keywords:
    ``align="strict"`` refuses audits of different trials (matched on ``trial_id``),
    ``"intersection"`` compares on the trials all share; ``correction`` and
    ``threshold`` default to the baseline audit's. Bootstrap replicates, seed, level,
    minimum of speakers, reference and minDCF operating point are the baseline's.
    """
    settings = CompareConfig.from_options(config, **options)
    if len(audits) < 2:
        raise InputError(TOO_FEW_AUDITS.format(count=len(audits)))
    results = [a if isinstance(a, TrialsAuditResult) else TrialsAuditResult.load(a) for a in audits]
    base = results[0].summary["config"]
    overrides = {k: getattr(settings, k) for k in ("correction", "threshold")}
    trials_config = TrialsConfig.from_options(
        None, **{**base, **{k: v for k, v in overrides.items() if v is not None}}
    )
    slices = list(results[0].summary["audit"]["slices"])
    heard = results[0].summary["audit"].get("heard_languages")
    models = [_model_id(r) for r in results]
    frames, notes = align_frames(
        [r.trials for r in results],
        [schema.TRIAL_ID],
        align=settings.align,
        models=models,
        unit="trial",
    )
    labels = [schema.VOICE_SPEAKER_ID, schema.FACE_SPEAKER_ID, schema.TARGET, *slices]
    labels += [schema.face_column(c) for c in slices if schema.face_column(c) in frames[0]]
    for index, frame in enumerate(frames[1:], start=1):
        for column in labels:
            if column not in frame.columns:
                raise InputError(NOT_SLICED.format(index=index, column=column))
    check_labels(frames, labels, key=schema.TRIAL_ID, unit="trial")
    replicated = [
        replicate_trials(
            schema.validate_trials(frame, source=f"audit {i} trials"),
            slices=slices,
            heard_languages=heard,
            n_boot=trials_config.n_boot,
            seed=trials_config.seed,
            operating_point=OperatingPoint(
                trials_config.p_target, trials_config.c_miss, trials_config.c_fa
            ),
            threshold=result.summary["score_threshold"],
            min_speakers=trials_config.min_speakers,
            n_jobs=trials_config.jobs,
        )
        for i, (frame, result) in enumerate(zip(frames, results, strict=True))
    ]
    thresholds = [r.summary["score_threshold"] for r in results]
    if len(set(thresholds)) > 1:
        notes.append(
            "FMR and FNMR are read at each audit's own global score threshold ("
            + ", ".join(f"{t:.4g}" for t in thresholds)
            + "): their change is the change at each model's fixed operating point"
        )
    changes = pd.concat(
        [
            _changes(replicated[0], replicated[i], trials_config, model=i)
            for i in range(1, len(replicated))
        ],
        ignore_index=True,
    )
    changes = flag_changes(changes, correction=trials_config.correction, level=trials_config.level)
    languages = pd.DataFrame()
    if heard is not None:
        languages = pd.concat(
            [
                _language_changes(replicated[0], replicated[i], trials_config, model=i)
                for i in range(1, len(replicated))
            ],
            ignore_index=True,
        )
        # a half's own value that got worse is a regression, as in the changes table; a
        # gap that moved is reported, not a regression (as a group's gap there)
        languages = _flag_family(
            languages, trials_config, counted=(languages["half"] != GAP).to_numpy()
        )
    fmr_matrix = pd.DataFrame()
    if len(replicated[0].fmr_cells):
        fmr_matrix = pd.concat(
            [
                _fmr_matrix_changes(replicated[0], replicated[i], trials_config, model=i)
                for i in range(1, len(replicated))
            ],
            ignore_index=True,
        )
        fmr_matrix = _flag_family(
            fmr_matrix, trials_config, counted=np.ones(len(fmr_matrix), dtype=bool)
        )
    table = frames[0]
    summary = {
        "schema_version": TRIALS_COMPARISON_SCHEMA_VERSION,
        "kind": TRIALS_COMPARISON_KIND,
        "baseline": 0,
        "models": [
            {
                "model_id": model,
                "trials_path": r.summary["trials"]["path"],
                "n_trials": r.summary["trials"]["n_trials"],
                "score_threshold": r.summary["score_threshold"],
            }
            for model, r in zip(models, results, strict=True)
        ],
        "align": settings.align,
        "n_trials": len(table),
        "n_voice_speakers": int(table[schema.VOICE_SPEAKER_ID].nunique()),
        "n_face_speakers": int(table[schema.FACE_SPEAKER_ID].nunique()),
        "metrics": [
            {
                "name": m,
                "higher_is_better": higher_is_better(m),
                "unit": "cost" if m == "min_dcf" else "proportion",
                "headline": m in HEADLINE,
            }
            for m in METRICS
            if m in set(changes["metric"])
        ],
        "one_of_n_faces": replicated[0].faces_per_question,
        "slices": slices,
        "config": trials_config.to_dict(),
        "bootstrap": {
            "method": "paired two-way (voice x face speaker) Poisson bootstrap keyed by "
            "speaker id, rescaled to the two-way cluster-robust variance",
            "n_boot": trials_config.n_boot,
            "seed": trials_config.seed,
        },
        "tests": {
            "correction": trials_config.correction,
            "n_tests": int(changes["p_value"].notna().sum() + changes["gap_p_value"].notna().sum()),
            "alpha": round(1 - trials_config.level, 12),
            "family": "every metric change and every gap change of every model",
        },
        "gap_reference": trials_config.reference,
        "languages": {
            "heard_languages": heard,
            "n_tests": int(languages["p_value"].notna().sum()) if len(languages) else 0,
            "family": "every heard, unheard and gap change of every model (apart from the "
            "changes above); a heard or unheard value that got worse is a regression, a "
            "gap change is reported",
        },
        "fmr_matrix": {
            "n_tests": int(fmr_matrix["p_value"].notna().sum()) if len(fmr_matrix) else 0,
            "family": "every group-pair FMR change of every model (apart from the changes "
            "above), each model at its own threshold; an FMR that rose is a regression",
        },
        "notes": notes,
    }
    result = TrialsComparisonResult(
        summary=summary, changes=changes, languages=languages, fmr_matrix=fmr_matrix
    )
    summary["regressions"] = _records(result.regressions())
    return result


def _model_id(result: TrialsAuditResult) -> str:
    trials = result.summary["trials"]
    return str(trials["meta"].get("model_id") or trials["path"])


def _references(r: TrialReplicates, reference: str | dict[str, str]) -> np.ndarray:
    """Each cell's reference cell: the named group of its slice, else ``overall``."""
    index = {(c.slice, c.group): i for i, c in enumerate(r.cells) if c.half == ALL}
    named = {} if isinstance(reference, str) else dict(reference)
    return np.array(
        [
            index.get((c.slice, named.get(c.slice)), index[(OVERALL, OVERALL)])
            for c in r.cells
            if c.half == ALL
        ]
    )


def _paired(
    base: np.ndarray,
    base_schemes: np.ndarray,
    other: np.ndarray,
    other_schemes: np.ndarray,
    clusters: int | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The change ``other − base`` and its replicates, taken inside each replicate and
    rescaled to the multiway cluster-robust variance."""
    delta = other - base
    return delta, cgm_replicates(delta, *(other_schemes - base_schemes), clusters)


def _language_changes(
    baseline: TrialReplicates, other: TrialReplicates, config: TrialsConfig, *, model: int
) -> pd.DataFrame:
    """Paired change of the heard and unheard values and of the gap (unheard − heard) of one
    model against the baseline, per metric, slice and group (metric-major)."""
    index = {(c.slice, c.group, c.half): i for i, c in enumerate(baseline.cells)}
    heard = np.array([i for i, c in enumerate(baseline.cells) if c.half == HEARD])
    cells = baseline.cells
    unheard = np.array([index[(cells[i].slice, cells[i].group, UNHEARD)] for i in heard])
    ok = (baseline.counts["status"].to_numpy() == OK) & (other.counts["status"].to_numpy() == OK)
    counts = baseline.counts

    def values(r: TrialReplicates, half: str) -> tuple[np.ndarray, np.ndarray]:
        if half == GAP:
            return r.point[unheard] - r.point[heard], (
                r.replicates[:, :, unheard] - r.replicates[:, :, heard]
            )
        cells = heard if half == HEARD else unheard
        return r.point[cells], r.replicates[:, :, cells]

    frames = []
    for half in (HEARD, UNHEARD, GAP):
        members = {HEARD: [heard], UNHEARD: [unheard], GAP: [heard, unheard]}[half]
        testable = np.logical_and.reduce([ok[m] for m in members])
        n_voice = np.minimum.reduce([counts["n_voice_speakers"].to_numpy()[m] for m in members])
        (base, base_schemes), (new, new_schemes) = values(baseline, half), values(other, half)
        delta, replicates = _paired(base, base_schemes, new, new_schemes, baseline.clusters)
        low, high = percentile_interval(replicates, level=config.level)
        p = np.where(testable[:, None], paired_p_value(delta, replicates), np.nan)
        n = len(heard)
        frames.append(
            pd.DataFrame(
                {
                    "model": model,
                    "metric": np.repeat(METRICS, n),
                    "slice": np.tile(counts["slice"].to_numpy()[heard], len(METRICS)),
                    "group": np.tile(counts["group"].to_numpy()[heard], len(METRICS)),
                    "half": half,
                    "n_voice_speakers": np.tile(n_voice, len(METRICS)),
                    "status": np.tile(np.where(testable, OK, INSUFFICIENT), len(METRICS)),
                    "value_baseline": base.T.ravel(),
                    "value": new.T.ravel(),
                    "delta": delta.T.ravel(),
                    "delta_ci_low": low.T.ravel(),
                    "delta_ci_high": high.T.ravel(),
                    "p_value": p.T.ravel(),
                }
            )
        )
    return baseline.present(pd.concat(frames, ignore_index=True))


def _fmr_matrix_changes(
    baseline: TrialReplicates, other: TrialReplicates, config: TrialsConfig, *, model: int
) -> pd.DataFrame:
    """Paired FMR change of one model against the baseline per impostor cell (slice, voice
    group, face group), each model at its own threshold; the change's replicates are
    rescaled as the matrix's own intervals are (two speakers per trial)."""
    cells = baseline.fmr_cells
    delta, replicates = _paired(
        baseline.fmr_point, baseline.fmr_replicates, other.fmr_point, other.fmr_replicates, 2
    )
    low, high = percentile_interval(replicates, level=config.level)
    speakers = cells[["n_voice_speakers", "n_face_speakers"]].min(axis=1).to_numpy()
    testable = speakers >= config.min_speakers
    return pd.DataFrame(
        {
            "model": model,
            "metric": "fmr",
            **cells.to_dict("series"),
            "status": np.where(testable, OK, INSUFFICIENT),
            "value_baseline": baseline.fmr_point,
            "value": other.fmr_point,
            "delta": delta,
            "delta_ci_low": low,
            "delta_ci_high": high,
            "p_value": np.where(testable, paired_p_value(delta, replicates), np.nan),
        }
    )


def _flag_family(frame: pd.DataFrame, config: TrialsConfig, *, counted: np.ndarray) -> pd.DataFrame:
    """Adjusted p-values over ``frame`` as one family (the comparison's correction), ``flag``
    (significant with the interval of the change beyond ±threshold) and ``regression``: a
    flagged row of ``counted`` whose own value got worse."""
    frame["p_adjusted"] = adjust_pvalues(frame["p_value"].to_numpy(), method=config.correction)
    alpha, threshold = 1 - config.level, config.threshold
    frame["flag"] = flagged(
        frame, "delta_ci_low", "delta_ci_high", alpha=alpha, threshold=threshold
    )
    better = frame["metric"].map(higher_is_better).to_numpy(dtype=bool)
    worse_bound = np.where(better, frame["delta_ci_high"], -frame["delta_ci_low"])
    frame["regression"] = frame["flag"].to_numpy(dtype=bool) & counted & (worse_bound <= -threshold)
    return frame


def _changes(
    baseline: TrialReplicates, other: TrialReplicates, config: TrialsConfig, *, model: int
) -> pd.DataFrame:
    """Paired metric and gap changes of one model against the baseline, every cell."""
    whole = np.array([i for i, c in enumerate(baseline.cells) if c.half == ALL])
    ref = _references(baseline, config.reference)
    counts = baseline.counts.iloc[whole].reset_index(drop=True)
    testable = (counts["status"] == OK).to_numpy() & (
        other.counts["status"].to_numpy()[whole] == OK
    )
    clusters = baseline.clusters
    delta, delta_replicates = _paired(
        baseline.point[whole],
        baseline.replicates[:, :, whole],
        other.point[whole],
        other.replicates[:, :, whole],
        clusters,
    )

    def gap(r: TrialReplicates) -> tuple[np.ndarray, np.ndarray]:
        return r.point[whole] - r.point[ref], r.replicates[:, :, whole] - r.replicates[:, :, ref]

    (gap_base, gap_base_schemes), (gap_other, gap_other_schemes) = gap(baseline), gap(other)
    compared = (ref != whole)[:, None]
    toward = np.where(compared, np.abs(gap_base) - np.abs(gap_other), np.nan)
    toward_replicates = cgm_replicates(
        toward, *(np.abs(gap_base_schemes) - np.abs(gap_other_schemes)), clusters
    )
    delta_low, delta_high = percentile_interval(delta_replicates, level=config.level)
    toward_low, toward_high = percentile_interval(toward_replicates, level=config.level)
    tested = testable[:, None] & np.ones((1, len(METRICS)), dtype=bool)
    tested_gap = tested & compared & testable[np.searchsorted(whole, ref)][:, None]
    n = len(whole)

    def long(array: np.ndarray) -> np.ndarray:
        return np.asarray(array).T.ravel()  # metric-major, as the audit's groups table

    def repeat(values: Any) -> np.ndarray:
        return np.tile(np.asarray(values), len(METRICS))

    reference_names = np.where(ref != whole, counts["group"].to_numpy()[ref], None)
    frame = pd.DataFrame(
        {
            "model": model,
            "metric": np.repeat(METRICS, n),
            "slice": repeat(counts["slice"]),
            "group": repeat(counts["group"]),
            "n_trials": repeat(counts["n_trials"]),
            "n_voice_speakers": repeat(counts["n_voice_speakers"]),
            "n_face_speakers": repeat(counts["n_face_speakers"]),
            "status": np.where(long(tested), OK, INSUFFICIENT),
            "higher_is_better": np.repeat([higher_is_better(m) for m in METRICS], n),
            "threshold": config.threshold,
            "value_baseline": long(baseline.point[whole]),
            "value": long(other.point[whole]),
            "delta": long(delta),
            "delta_ci_low": long(delta_low),
            "delta_ci_high": long(delta_high),
            "p_value": long(np.where(tested, paired_p_value(delta, delta_replicates), np.nan)),
            "reference": repeat(reference_names),
            "gap_baseline": long(np.where(compared, gap_base, np.nan)),
            "gap": long(np.where(compared, gap_other, np.nan)),
            TOWARD: long(toward),
            f"{TOWARD}_ci_low": long(toward_low),
            f"{TOWARD}_ci_high": long(toward_high),
            "gap_p_value": long(
                np.where(tested_gap, paired_p_value(toward, toward_replicates), np.nan)
            ),
        }
    )
    return baseline.present(frame)
