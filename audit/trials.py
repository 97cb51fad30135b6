"""Trials audit of a voice–face matching model: per-group EER, AUC, minDCF, FMR, FNMR,
1-of-2 and 1-of-n matching accuracy with two-way speaker-clustered bootstrap intervals.

- Groups are slices over the voice speaker's demographics (plus ``overall``); a missing
  value is the group ``unknown``.
- FMR and FNMR use one global threshold fixed on the whole set (by default the EER
  threshold of all trials, as NIST FRVT does for demographic effects), so groups are
  compared at the same operating point. The group-pair FMR matrix crosses the impostor
  trial's voice group with its face speaker's group (``face_<column>``).
- **1-of-2 matching**: every (target, impostor) pair of trials of the same voice clip is
  one question, correct when the target scores higher (ties count 0.5). A pair's group
  is its voice clip's; it is clustered by its voice speaker (whose own face is the
  target face) and by the impostor's face speaker.
- **1-of-n matching**: every voice clip with one target trial and ``n − 1`` impostor
  trials is one question, scored 1 when the target beats every impostor, 0 when an
  impostor beats it, and ``1 / (1 + t)`` when it ties ``t`` impostors at the maximum (a
  random pick among the tied). Computed only when every clip with a target has one target
  and the same ``n − 1 ≥ 2`` impostors; clustered by the voice speaker and the ``n − 1``
  face speakers (:func:`audit._trial_weights.cgm_replicates` with ``n`` clusters).
- Intervals: percentile, from the two-way clustered Poisson bootstrap of
  :mod:`audit._trial_weights` (voice and face speakers resampled independently, a
  trial weighing the product), rescaled to the two-way cluster-robust variance. Every
  group is differenced against a reference fixed in advance (``overall``, or a named
  group of a slice) within each replicate; the difference has its own interval and a
  bootstrap (Wald, on the bootstrap SE) p-value.
- With ``heard_languages``, every cell is also split by whether the voice clip's
  language was heard in training; the cross-lingual gap (unheard − heard) is taken
  within each replicate, so a speaker in both halves carries the same weight in both
  (a paired, within-speaker difference). Trials of unknown language are in neither half.
- One family of tests (every difference and every gap) corrected by Holm (default) or
  Benjamini–Hochberg. A group with fewer than ``min_speakers`` voice or face speakers
  is ``insufficient``: shown, with intervals, never tested.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from audit._intervals import (
    HOLM,
    adjust_pvalues,
    bootstrap_se,
    bootstrap_z_pvalue,
    percentile_interval,
)
from audit._trial_metrics import (
    RANK_METRICS,
    OperatingPoint,
    SortedCell,
    curve_metrics,
    eer_threshold,
    sort_cell,
)
from audit._trial_prefix import PrefixCell, layout_positions, within
from audit._trial_weights import CellRatios, TwoWayWeights, cell_ratios, cgm_replicates
from speech2face import trials as schema
from speech2face.errors import InputError
from speech2face.vocabulary import DEMOGRAPHIC_COLUMNS, MIN_GROUP_SPEAKERS, UNKNOWN

OVERALL = "overall"
ALL, HEARD, UNHEARD, GAP = "all", "heard", "unheard", "gap"
MATCH_1OF2 = "match_1of2"
MATCH_1OFN = "match_1ofn"
"""1-of-n matching: a clip's target face against its ``n − 1`` impostor faces at once."""
METRICS = (*RANK_METRICS, MATCH_1OF2, MATCH_1OFN)
OK, INSUFFICIENT = "ok", "insufficient"
DEFAULT_OPERATING_POINT = OperatingPoint()
CHUNK = 64
DET_POINTS = 400
"""Replicates whose per-speaker weights are drawn at once (one task of the thread pool)."""
BLOCK_ELEMENTS = 1 << 20
"""Within a chunk, replicates run in blocks of about this many trial weights per cell."""

UNKNOWN_SLICE = "slice column {column!r} is not in the trials table"
UNKNOWN_REFERENCE = "reference group {group!r} is not a group of slice {column!r}"
NO_LANGUAGE = "heard_languages needs the trials table's column 'language'"
ONE_OF_N_TIES = (
    "a clip scores 1 when its target beats every impostor, 0 when an impostor beats it, "
    "1/(1+t) when t impostors tie with it at the maximum"
)
NOT_1OFN_TARGETS = "1-of-n matching not computed: a clip has {n} target trials (one needed)"
NOT_1OFN_COUNTS = (
    "1-of-n matching not computed: clips with a target have {low} to {high} impostors "
    "(the same number needed)"
)
NOT_1OFN_PAIRS = (
    "1-of-n matching not computed: {k} impostor(s) per clip (1-of-2 matching is match_1of2)"
)


@dataclass(frozen=True)
class TrialsAudit:
    """The result of a trials audit: long tables ready to save and render."""

    config: dict[str, Any]
    threshold: float
    """The global score threshold of FMR and FNMR (accept ``score >= threshold``)."""
    groups: pd.DataFrame
    """One row per metric, slice and group (language half ``all``), with disparities."""
    fmr_matrix: pd.DataFrame
    """Impostor FMR per (slice, voice group, face group) at the global threshold."""
    det: pd.DataFrame = field(default_factory=pd.DataFrame)
    """DET curve of each group (slice, group, threshold, fmr, fnmr): at most
    :data:`DET_POINTS` operating points, every trial weighing one."""
    languages: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Heard, unheard and gap rows per metric, slice and group (empty without
    ``heard_languages``)."""
    one_of_n: dict[str, Any] = field(default_factory=dict)
    """``faces`` (n of 1-of-n matching, None when not computed), ``ties`` (the rule) and
    ``note`` (why it was not computed)."""


@dataclass(frozen=True)
class _Cell:
    slice: str
    group: str
    half: str
    trials: np.ndarray


@dataclass(frozen=True)
class TrialReplicates:
    """Every cell's metrics with every weight one and under each bootstrap replicate.

    Replicates of two tables with the same seed are paired: weights are keyed by speaker
    id, so a speaker weighs the same in both (what a comparison of two models needs).
    """

    cells: list[_Cell]
    counts: pd.DataFrame
    """One row per cell: slice, group, half, counts and status."""
    threshold: float
    point: np.ndarray
    """``(cells, metrics)``."""
    replicates: np.ndarray
    """``(2, n_boot, cells, metrics)``: product (0) and mean (1) weightings."""
    fmr_cells: pd.DataFrame
    fmr_point: np.ndarray
    fmr_replicates: np.ndarray
    curves: list[pd.DataFrame]
    faces_per_question: int | None = None
    """n of 1-of-n matching (None: not computed, its values are NaN)."""
    one_of_n_note: str | None = None

    @property
    def clusters(self) -> np.ndarray:
        """Speakers per item of each metric, for :func:`cgm_replicates`."""
        n = self.faces_per_question or 2
        return np.array([n if metric == MATCH_1OFN else 2 for metric in METRICS])

    def present(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``'s rows of the metrics computed (1-of-n only when it was)."""
        if self.faces_per_question is not None or frame.empty:
            return frame
        return frame[frame["metric"] != MATCH_1OFN].reset_index(drop=True)


def replicate_trials(
    table: pd.DataFrame,
    *,
    slices: Sequence[str] | None = None,
    heard_languages: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    operating_point: OperatingPoint = DEFAULT_OPERATING_POINT,
    threshold: float | None = None,
    min_speakers: int = MIN_GROUP_SPEAKERS,
    n_jobs: int = 2,
) -> TrialReplicates:
    """Point values and two-way bootstrap replicates of every cell of a validated table."""
    slices = _slices(table, slices)
    voice, voice_ids = pd.factorize(table[schema.VOICE_SPEAKER_ID])
    face, face_ids = pd.factorize(table[schema.FACE_SPEAKER_ID])
    scores = table[schema.SCORE].to_numpy()
    target = table[schema.TARGET].to_numpy()
    cells = _cells(table, slices, heard_languages)
    if threshold is None:
        threshold = eer_threshold(sort_cell(scores, target, voice, face, threshold=np.inf))
    order = np.argsort(-scores, kind="stable")
    member = np.zeros(len(table), dtype=bool)
    sorted_cells: list[PrefixCell | None] = []
    sources: list[np.ndarray | None] = []
    curves = []
    for c in cells:
        member[:] = False
        member[c.trials] = True
        rows = order[member[order]]  # the cell in descending score order, ties stable
        if not len(rows):
            sorted_cells.append(None)
            sources.append(None)
            continue
        cell = sort_cell(scores[rows], target[rows], voice[rows], face[rows], threshold=threshold)
        sorted_cells.append(PrefixCell.of(cell, len(voice_ids), len(face_ids)))
        # every cell is a subset of the first (overall, all trials): its trial weights are
        # gathered from the overall cell's, drawn once per block
        if not sources:
            positions = layout_positions(sorted_cells[0], order, target)
        sources.append(None if not sources else within(positions, target, rows))
        if c.half == ALL:
            curves.append(_det_curve(c, cell))
    matching = _matching(table, cells, voice, face)
    one_of_n, faces_per_question, one_of_n_note = _one_of_n(table, cells, voice, face)
    fmr_cells, fmr_ratios = _fmr_matrix(table, slices, scores >= threshold, voice, face)
    weights = TwoWayWeights(list(voice_ids), list(face_ids), seed)
    largest = max(len(c.trials) for c in cells)
    block = int(np.clip(BLOCK_ELEMENTS // max(largest, 1), 1, CHUNK))
    ratios = [r for r in (matching, fmr_ratios, one_of_n) if r is not None]
    n_pairs = max([len(r.voice) * r.clusters for r in ratios] or [1])
    ratio_block = int(np.clip(BLOCK_ELEMENTS * 8 // n_pairs, 1, CHUNK))

    def evaluate(voice_w: np.ndarray, face_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Metrics ``(2, n, cells, metrics)`` and FMR-matrix cells ``(2, n, cells)``
        under the product (0) and the mean (1) weights."""
        n = len(voice_w)
        values = np.full((2, n, len(cells), len(METRICS)), np.nan)
        fmr = np.empty((2, n, 0 if fmr_ratios is None else fmr_ratios.n_groups))
        padded = [np.pad(w.astype(np.int32), ((0, 0), (0, 1))) for w in (voice_w, face_w)]
        for s in range(0, n, block):
            rows = slice(s, min(s + block, n))
            base = sorted_cells[0].weights(padded[0][rows], padded[1][rows])
            # the overall cell last: its running sums are taken in place
            for i in [*range(1, len(cells)), 0]:
                cell = sorted_cells[i]
                if cell is not None:
                    both = base if i == 0 else np.take(base, sources[i], axis=1)
                    metrics = curve_metrics(*cell.read_points(both), operating_point)
                    values[:, rows, i, : len(RANK_METRICS)] = metrics.reshape(
                        2, -1, len(RANK_METRICS)
                    )
        for s in range(0, n, ratio_block):
            rows = slice(s, min(s + ratio_block, n))
            for metric, ratio in ((MATCH_1OF2, matching), (MATCH_1OFN, one_of_n)):
                if ratio is not None:
                    at = METRICS.index(metric)
                    values[:, rows, :, at] = ratio.replicates(voice_w[rows], face_w[rows])
            if fmr_ratios is not None:
                fmr[:, rows] = fmr_ratios.replicates(voice_w[rows], face_w[rows])
        return values, fmr

    def chunk(first: int) -> tuple[np.ndarray, np.ndarray]:
        return evaluate(*weights.block(first, min(CHUNK, n_boot - first)))

    point, fmr_point = (
        part[0, 0] for part in evaluate(np.ones((1, len(voice_ids))), np.ones((1, len(face_ids))))
    )
    with ThreadPoolExecutor(max(1, n_jobs)) as pool:
        parts = list(pool.map(chunk, range(0, n_boot, CHUNK)))
    replicates, fmr_replicates = (np.concatenate(part, axis=1) for part in zip(*parts, strict=True))
    return TrialReplicates(
        cells=cells,
        counts=_counts(cells, voice, face, min_speakers),
        threshold=float(threshold),
        point=point,
        replicates=replicates,
        fmr_cells=fmr_cells,
        fmr_point=fmr_point,
        fmr_replicates=fmr_replicates,
        curves=curves,
        faces_per_question=faces_per_question,
        one_of_n_note=one_of_n_note,
    )


def audit_trials(
    table: pd.DataFrame,
    *,
    slices: Sequence[str] | None = None,
    heard_languages: Sequence[str] | None = None,
    reference: str | Mapping[str, str] = OVERALL,
    correction: str = HOLM,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    operating_point: OperatingPoint = DEFAULT_OPERATING_POINT,
    threshold: float | None = None,
    min_speakers: int = MIN_GROUP_SPEAKERS,
    n_jobs: int = 2,
) -> TrialsAudit:
    """Audit a trials table (see :mod:`speech2face.trials`) per group of voice speakers.

    ``slices`` default to the demographic columns present. ``reference`` is ``overall``
    or ``{slice: group}``; slices not named are compared with ``overall``.
    """
    table = schema.validate_trials(table, source="trials table")
    slices = _slices(table, slices)
    r = replicate_trials(
        table,
        slices=slices,
        heard_languages=heard_languages,
        n_boot=n_boot,
        seed=seed,
        operating_point=operating_point,
        threshold=threshold,
        min_speakers=min_speakers,
        n_jobs=n_jobs,
    )
    cells, point, replicates = r.cells, r.point, r.replicates
    groups, languages = _group_tables(
        cells, r.counts, point, replicates, reference=reference, level=level, clusters=r.clusters
    )
    groups, languages = r.present(groups), r.present(languages)
    tested = [frame["p_value"].to_numpy() for frame in (groups, languages) if len(frame)]
    adjusted = adjust_pvalues(np.concatenate(tested), method=correction)
    groups["p_adjusted"] = adjusted[: len(groups)]
    if len(languages):
        languages["p_adjusted"] = adjusted[len(groups) :]
    fmr_interval = percentile_interval(cgm_replicates(r.fmr_point, *r.fmr_replicates), level=level)
    fmr_matrix = r.fmr_cells.assign(
        value=r.fmr_point, ci_low=fmr_interval[0], ci_high=fmr_interval[1]
    )
    config = {
        "slices": list(slices),
        "heard_languages": None if heard_languages is None else list(heard_languages),
        "reference": reference if isinstance(reference, str) else dict(reference),
        "correction": correction,
        "n_boot": n_boot,
        "seed": seed,
        "level": level,
        "operating_point": asdict(operating_point),
        "min_speakers": min_speakers,
        "bootstrap": "two-way (voice speaker x face speaker) Poisson product weights",
    }
    return TrialsAudit(
        config=config,
        threshold=r.threshold,
        groups=groups,
        fmr_matrix=fmr_matrix,
        det=pd.concat(r.curves, ignore_index=True),
        languages=languages,
        one_of_n={"faces": r.faces_per_question, "ties": ONE_OF_N_TIES, "note": r.one_of_n_note},
    )


def _det_curve(cell: _Cell, curve: SortedCell) -> pd.DataFrame:
    """The cell's (FMR, FNMR) at up to DET_POINTS of its operating points."""
    n_t, n_i = curve.at_target[-1], curve.at_impostor[-1]
    keep = np.unique(np.linspace(0, len(curve.at_target) - 1, DET_POINTS).astype(np.int64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(
            {
                "slice": cell.slice,
                "group": cell.group,
                "threshold": curve.thresholds[keep],
                "fmr": curve.at_impostor[keep] / n_i,
                "fnmr": 1 - curve.at_target[keep] / n_t,
            }
        )


def _labels(table: pd.DataFrame, column: str) -> np.ndarray:
    return table[column].astype("string").fillna(UNKNOWN).to_numpy(dtype=object)


def _slices(table: pd.DataFrame, slices: Sequence[str] | None) -> tuple[str, ...]:
    if slices is None:
        return tuple(column for column in DEMOGRAPHIC_COLUMNS if column in table.columns)
    for column in slices:
        if column not in table.columns:
            raise InputError(UNKNOWN_SLICE.format(column=column))
    return tuple(slices)


def _cells(
    table: pd.DataFrame, slices: Sequence[str], heard_languages: Sequence[str] | None
) -> list[_Cell]:
    """Overall and every group of every slice, for the whole set and each language half."""
    halves = {ALL: np.ones(len(table), dtype=bool)}
    if heard_languages is not None:
        if schema.LANGUAGE not in table.columns:
            raise InputError(NO_LANGUAGE)
        language = _labels(table, schema.LANGUAGE)
        heard = np.isin(language, list(heard_languages))
        halves |= {HEARD: heard, UNHEARD: ~heard & (language != UNKNOWN)}
    # integer codes of each slice's groups in sorted order (comparing 1M object labels
    # once per group was a second of the audit)
    coded = {column: pd.factorize(_labels(table, column), sort=True) for column in slices}
    cells = []
    for half, mask in halves.items():
        cells.append(_Cell(OVERALL, OVERALL, half, np.flatnonzero(mask)))
        for column in slices:
            codes, groups = coded[column]
            for code, group in enumerate(groups):
                cells.append(_Cell(column, group, half, np.flatnonzero(mask & (codes == code))))
    return cells


def _matching(
    table: pd.DataFrame, cells: Sequence[_Cell], voice: np.ndarray, face: np.ndarray
) -> CellRatios | None:
    """1-of-2 accuracy over (target, impostor) pairs of one voice clip, per cell."""
    target = table[schema.TARGET].to_numpy()
    clip = table[schema.VOICE_CLIP_ID].to_numpy()
    rows = np.arange(len(table))
    pairs = pd.DataFrame({"clip": clip[target], "t": rows[target]}).merge(
        pd.DataFrame({"clip": clip[~target], "i": rows[~target]}), on="clip"
    )
    if pairs.empty:
        return None
    first, second = pairs["t"].to_numpy(), pairs["i"].to_numpy()
    scores = table[schema.SCORE].to_numpy()
    correct = (scores[first] > scores[second]) + 0.5 * (scores[first] == scores[second])
    member = np.zeros(len(table), dtype=bool)
    groups = []
    for cell in cells:
        member[:] = False
        member[cell.trials] = True
        groups.append(np.flatnonzero(member[first]))
    return cell_ratios(groups, correct, voice[first], face[second])


def _one_of_n(
    table: pd.DataFrame, cells: Sequence[_Cell], voice: np.ndarray, face: np.ndarray
) -> tuple[CellRatios | None, int | None, str | None]:
    """1-of-n accuracy per cell (a question's cell is its target trial's), n, and why
    it was not computed."""
    target = table[schema.TARGET].to_numpy()
    clip = pd.factorize(table[schema.VOICE_CLIP_ID])[0]
    n_targets = np.bincount(clip, weights=target).astype(np.int64)
    n_impostors = np.bincount(clip, weights=~target, minlength=len(n_targets)).astype(np.int64)
    asked = n_targets > 0
    if not asked.any():
        return None, None, None
    if n_targets.max() > 1:
        return None, None, NOT_1OFN_TARGETS.format(n=int(n_targets.max()))
    low, high = int(n_impostors[asked].min()), int(n_impostors[asked].max())
    if low != high:
        return None, None, NOT_1OFN_COUNTS.format(low=low, high=high)
    if low < 2:
        return None, None, NOT_1OFN_PAIRS.format(k=low)
    order = np.lexsort((~target, clip))  # by clip, its target first
    rows = order[asked[clip[order]]].reshape(-1, low + 1)
    scores = table[schema.SCORE].to_numpy()[rows]
    best = scores[:, 1:].max(axis=1)
    tied = (scores[:, 1:] == scores[:, :1]).sum(axis=1)
    correct = np.where(scores[:, 0] > best, 1.0, np.where(scores[:, 0] == best, 1 / (1 + tied), 0))
    member = np.zeros(len(table), dtype=bool)
    groups = []
    for cell in cells:
        member[:] = False
        member[cell.trials] = True
        groups.append(np.flatnonzero(member[rows[:, 0]]))
    return cell_ratios(groups, correct, voice[rows[:, 0]], face[rows[:, 1:]]), low + 1, None


def _fmr_matrix(
    table: pd.DataFrame,
    slices: Sequence[str],
    accepted: np.ndarray,
    voice: np.ndarray,
    face: np.ndarray,
) -> tuple[pd.DataFrame, CellRatios | None]:
    """Impostor cells (voice group × face group) of every slice with a ``face_`` column."""
    impostors = np.flatnonzero(~table[schema.TARGET].to_numpy())
    rows, groups = [], []
    for column in slices:
        if schema.face_column(column) not in table.columns:
            continue
        pair = pd.DataFrame(
            {
                "voice": _labels(table, column)[impostors],
                "face": _labels(table, schema.face_column(column))[impostors],
            }
        )
        for (voice_group, face_group), where in pair.groupby(["voice", "face"]).indices.items():
            trials = impostors[where]
            groups.append(trials)
            rows.append(
                {
                    "slice": column,
                    "voice_group": voice_group,
                    "face_group": face_group,
                    "n_trials": len(trials),
                    "n_voice_speakers": len(np.unique(voice[trials])),
                    "n_face_speakers": len(np.unique(face[trials])),
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=[
            "slice",
            "voice_group",
            "face_group",
            "n_trials",
            "n_voice_speakers",
            "n_face_speakers",
        ],
    )
    ratios = cell_ratios(groups, accepted.astype(np.float64), voice, face) if groups else None
    return frame, ratios


def _counts(
    cells: Sequence[_Cell], voice: np.ndarray, face: np.ndarray, min_speakers: int
) -> pd.DataFrame:
    counts = pd.DataFrame(
        {
            "slice": [c.slice for c in cells],
            "group": [c.group for c in cells],
            "half": [c.half for c in cells],
            "n_trials": [len(c.trials) for c in cells],
            "n_voice_speakers": [_distinct(voice[c.trials]) for c in cells],
            "n_face_speakers": [_distinct(face[c.trials]) for c in cells],
        }
    )
    enough = counts[["n_voice_speakers", "n_face_speakers"]].min(axis=1) >= min_speakers
    return counts.assign(status=np.where(enough, OK, INSUFFICIENT))


def _distinct(codes: np.ndarray) -> int:
    return int(np.count_nonzero(np.bincount(codes))) if len(codes) else 0


def paired_p_value(estimate: np.ndarray, replicates: np.ndarray) -> np.ndarray:
    """Two-sided Wald p-value on the bootstrap SE; a difference that is exactly zero in
    every replicate gets 1, and no p-value is exactly 0."""
    se = bootstrap_se(replicates)
    p = bootstrap_z_pvalue(estimate, replicates)
    p = np.where((se == 0) & (estimate == 0), 1.0, p)
    return np.where(np.isnan(p), p, np.clip(p, np.finfo(np.float64).tiny, 1.0))


def _long(rows: pd.DataFrame, **columns: np.ndarray) -> pd.DataFrame:
    """``rows`` (one per cell) × METRICS as a metric-major long table; each of
    ``columns`` is ``(len(rows), len(METRICS))``."""
    frame = rows.iloc[np.tile(np.arange(len(rows)), len(METRICS))].reset_index(drop=True)
    frame.insert(0, "metric", np.repeat(METRICS, len(rows)))
    return frame.assign(**{name: array.T.ravel() for name, array in columns.items()})


def _difference(
    point: np.ndarray,
    replicates: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    *,
    tested: np.ndarray,
    level: float,
    clusters: np.ndarray,
) -> dict[str, np.ndarray]:
    """Cells ``first`` − cells ``second``: difference, its interval, and the p-value of
    ``tested`` rows (NaN elsewhere)."""
    difference = point[first] - point[second]
    schemes = replicates[:, :, first] - replicates[:, :, second]
    difference_replicates = cgm_replicates(difference, *schemes, clusters)
    low, high = percentile_interval(difference_replicates, level=level)
    p = paired_p_value(difference, difference_replicates)
    return {
        "difference": difference,
        "ci_low": low,
        "ci_high": high,
        "p_value": np.where(tested[:, None], p, np.nan),
    }


def _group_tables(
    cells: Sequence[_Cell],
    counts: pd.DataFrame,
    point: np.ndarray,
    replicates: np.ndarray,
    *,
    reference: str | Mapping[str, str],
    level: float,
    clusters: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The groups table (with disparities) and the heard/unheard table (with gaps)."""
    index = {(c.slice, c.group, c.half): i for i, c in enumerate(cells)}
    named = {} if isinstance(reference, str) else dict(reference)
    for column, group in named.items():
        if (column, group, ALL) not in index:
            raise InputError(UNKNOWN_REFERENCE.format(group=group, column=column))
    low, high = percentile_interval(cgm_replicates(point, *replicates, clusters), level=level)
    testable = (counts["status"] == OK).to_numpy()

    whole = np.array([i for i, c in enumerate(cells) if c.half == ALL])
    ref = np.array(
        [
            index[(cells[i].slice, named[cells[i].slice], ALL)]
            if cells[i].slice in named
            else index[(OVERALL, OVERALL, ALL)]
            for i in whole
        ]
    )
    compared = ref != whole
    diff = _difference(
        point,
        replicates,
        whole,
        ref,
        tested=compared & testable[whole] & testable[ref],
        level=level,
        clusters=clusters,
    )
    blank = ~compared[:, None]
    groups = _long(
        counts.iloc[whole]
        .drop(columns="half")
        .assign(reference=np.where(compared, counts["group"].to_numpy()[ref], None)),
        value=point[whole],
        ci_low=low[whole],
        ci_high=high[whole],
        difference=np.where(blank, np.nan, diff["difference"]),
        diff_ci_low=np.where(blank, np.nan, diff["ci_low"]),
        diff_ci_high=np.where(blank, np.nan, diff["ci_high"]),
        p_value=diff["p_value"],
    )
    heard = np.array([i for i, c in enumerate(cells) if c.half == HEARD], dtype=np.int64)
    if not len(heard):
        return groups, pd.DataFrame()
    unheard = np.array([index[(cells[i].slice, cells[i].group, UNHEARD)] for i in heard])
    gap = _difference(
        point,
        replicates,
        unheard,
        heard,
        tested=testable[heard] & testable[unheard],
        level=level,
        clusters=clusters,
    )
    halves = {HEARD: heard, UNHEARD: unheard}
    rows = counts.iloc[heard][["slice", "group"]].reset_index(drop=True)
    for half, cell in halves.items():
        for count in ("n_trials", "n_voice_speakers", "n_face_speakers"):
            rows[f"{count}_{half}"] = counts[count].to_numpy()[cell]
    rows["status"] = np.where(testable[heard] & testable[unheard], OK, INSUFFICIENT)
    values = {}
    for half, cell in halves.items():
        values |= {half: point[cell], f"{half}_ci_low": low[cell], f"{half}_ci_high": high[cell]}
    return groups, _long(
        rows,
        **values,
        gap=gap["difference"],
        gap_ci_low=gap["ci_low"],
        gap_ci_high=gap["ci_high"],
        p_value=gap["p_value"],
    )
