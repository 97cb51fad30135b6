"""Exact face retrieval from predicted voice features: recall@k over a gallery of true faces.

The paper's protocol: each query (a face feature predicted from a voice) ranks a
gallery of true face features, one per speaker; recall@k is the share of queries
whose own speaker's face is among the k closest. With a gallery of G faces,
chance is K/G.

Distances are exact and computed in float32 with torch on the CPU, query chunk by
query chunk, so a million memory-mapped queries never make an n × G matrix:

- ``cosine``: ``q · ĝ`` with the gallery rows normalised (the query's norm does
  not change its ranking);
- ``l2``: ``q · g − ½‖g‖²``, the matrix-product form of ``−½(‖q − g‖² − ‖q‖²)``;
- ``l1``: ``−torch.cdist(q, g, p=1)`` (no matrix-product form exists; much slower:
  ``bench/bench_retrieval.py`` prints by how much).

Ties are broken by gallery position: a gallery face that is exactly as close as
the true face counts ahead of it when it comes earlier in the gallery. The same
order (score descending, position ascending) governs :func:`topk_indices`.

Galleries come from :func:`build_gallery`; :func:`retrieval_components` gives
per-query ranks and hits that the audit aggregates per group.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from audit.config import DEFAULT_GALLERY_SIZE, DISTANCES
from speech2face.errors import InputError
from speech2face.vocabulary import UNKNOWN

METRICS = DISTANCES
"""Retrieval distances, declared in ``audit.config``."""
KS = (1, 2, 5, 10)
SCORE_BLOCK_ELEMENTS = 2**25
"""Query chunks hold about this many scores (128 MiB of float32) unless told otherwise."""

UNKNOWN_METRIC = "unknown retrieval metric {metric!r}; choose one of {choices}"
NOT_A_MATRIX = "{name} must be a 2-D matrix, got shape {shape}"
DIMENSION_MISMATCH = "queries have {dq} dimensions, the gallery has {dg}"
TRUE_INDEX_SHAPE = "true_index must hold one gallery row per query ({n}), got shape {shape}"
TRUE_INDEX_RANGE = "true_index of query row {row} is {value}, outside the gallery of {size}"
BAD_K = "k must be a positive integer no larger than the gallery ({size}), got {k}"
NON_FINITE = "{name} row {row} holds a NaN or infinite feature value"
MISSING_COLUMN = "predictions table lacks column {column!r} needed for {purpose}"
MIXED_GROUPS = (
    "speaker {speaker!r} has more than one {column!r} value ({values}); "
    "a matched gallery needs one group per speaker"
)
ROWS_RANGE = "rows must index the {n} query rows"
EMPTY_TABLE = "cannot build a retrieval gallery from an empty predictions table"


@dataclass(frozen=True)
class GalleryBlock:
    """One gallery and the queries ranked against it.

    ``face_rows[i]`` is the table row whose true face stands for ``speakers[i]``;
    ``query_rows[j]`` is a table row whose speaker's face is ``true_index[j]``.
    """

    speakers: np.ndarray
    face_rows: np.ndarray
    query_rows: np.ndarray
    true_index: np.ndarray
    group: str | None = None

    @property
    def size(self) -> int:
        """Number of faces G in this gallery."""
        return len(self.speakers)


@dataclass(frozen=True)
class Gallery:
    """Galleries covering every query row of a predictions table.

    ``mode`` is ``"mixed"`` (galleries of random speakers) or ``"matched"``
    (each query's gallery holds only speakers of its own ``group_column`` value).
    """

    blocks: tuple[GalleryBlock, ...]
    n_queries: int
    nominal_size: int
    mode: str
    seed: int
    group_column: str | None = None
    excluded: tuple[tuple[str, int, int], ...] = ()
    """Matched groups too small for the common gallery: (group, speakers, query rows)."""

    def sizes(self) -> np.ndarray:
        """Gallery size G seen by each query row (chance of recall@k is k / G); 0 for rows
        of an excluded group, which are not ranked."""
        sizes = np.zeros(self.n_queries, dtype=np.int64)
        for block in self.blocks:
            sizes[block.query_rows] = block.size
        return sizes

    def chance(self, k: int) -> np.ndarray:
        """Recall@k of a model that ranks at random, per query row: k / G (NaN if unranked)."""
        sizes = self.sizes().astype(np.float64)
        with np.errstate(divide="ignore"):
            return np.where(sizes > 0, np.minimum(k / sizes, 1.0), np.nan)

    def summary(self, ks: Sequence[int] = KS) -> pd.DataFrame:
        """One row per group (``all`` when mixed): galleries, G, queries and chance of recall@k."""
        rows = []
        for group, blocks in itertools.groupby(self.blocks, key=lambda block: block.group):
            blocks = list(blocks)
            size = blocks[0].size
            rows.append(
                {
                    "group": "all" if group is None else group,
                    "n_galleries": len(blocks),
                    "gallery_size": size,
                    "n_queries": sum(len(block.query_rows) for block in blocks),
                    **{f"chance@{k}": min(k / size, 1.0) for k in ks},
                }
            )
        for group, n_speakers, n_queries in self.excluded:
            rows.append(
                {
                    "group": group,
                    "n_galleries": 0,
                    "gallery_size": 0,
                    "n_queries": n_queries,
                    **{f"chance@{k}": float("nan") for k in ks},
                    "excluded": f"{n_speakers} speaker(s), fewer than the common gallery size",
                }
            )
        return pd.DataFrame(rows)


def build_gallery(
    table: pd.DataFrame,
    *,
    size: int = DEFAULT_GALLERY_SIZE,
    seed: int = 0,
    match_on: str | None = None,
    min_group_speakers: int = 2,
) -> Gallery:
    """Choose, with ``seed``, the gallery each query row of ``table`` is ranked against.

    Each speaker contributes one true face: its first row in ``table``. Speakers
    are shuffled and cut into galleries of exactly ``G = min(size, n_speakers)``
    faces; the last gallery is filled up with speakers of the one before it, so
    every query's own speaker is in its gallery and every gallery has G faces.
    With ``match_on`` (a column such as ``"ethnicity"``) galleries are drawn per
    group from that group's speakers only, all of one common size
    ``G = min(size, smallest group with at least min_group_speakers speakers)`` so that
    chance (k / G) is the same for every group; groups with fewer speakers than G are
    not ranked (``Gallery.excluded``; their rows get gallery size 0).
    """
    if len(table) == 0:
        raise InputError(EMPTY_TABLE)
    if "speaker_id" not in table.columns:
        raise InputError(MISSING_COLUMN.format(column="speaker_id", purpose="retrieval"))
    speaker_codes, speakers = pd.factorize(table["speaker_id"], sort=True)
    face_rows = np.unique(speaker_codes, return_index=True)[1]
    rng = np.random.default_rng(seed)

    excluded: list[tuple[str, int, int]] = []
    if match_on is None:
        groups = {None: np.arange(len(speakers))}
    else:
        groups = _speakers_by_group(table, speaker_codes, speakers, match_on)
        size = _common_size(groups, size, min_group_speakers)
        for group, members in list(groups.items()):
            if len(members) < size:
                n_rows = int(np.isin(speaker_codes, members).sum())
                excluded.append((str(group), len(members), n_rows))
                del groups[group]
    blocks = []
    for group, group_speakers in groups.items():
        blocks.extend(
            _blocks_for(
                rng.permutation(group_speakers),
                size=size,
                speaker_codes=speaker_codes,
                speakers=np.asarray(speakers),
                face_rows=face_rows,
                group=group,
            )
        )
    return Gallery(
        blocks=tuple(blocks),
        n_queries=len(table),
        nominal_size=size,
        mode="mixed" if match_on is None else "matched",
        seed=seed,
        group_column=match_on,
        excluded=tuple(excluded),
    )


def _common_size(groups: dict, size: int, min_group_speakers: int) -> int:
    """One gallery size for every matched group: ``size`` or the smallest group that has
    at least ``min_group_speakers`` speakers (at least 2), whichever is smaller."""
    counts = sorted(len(members) for members in groups.values())
    eligible = [n for n in counts if n >= max(2, min_group_speakers)]
    if not eligible:
        eligible = [n for n in counts if n >= 2] or counts
    return min(size, eligible[0])


def _speakers_by_group(
    table: pd.DataFrame, speaker_codes: np.ndarray, speakers: pd.Index, column: str
) -> dict[str, np.ndarray]:
    if column not in table.columns:
        raise InputError(MISSING_COLUMN.format(column=column, purpose="a matched gallery"))
    values = table[column].astype(object).where(table[column].notna(), UNKNOWN).astype(str)
    pairs = pd.DataFrame({"speaker": speaker_codes, "group": values.to_numpy()})
    pairs = pairs.drop_duplicates()
    repeated = pairs["speaker"].duplicated(keep=False)
    if repeated.any():
        speaker = int(pairs.loc[repeated, "speaker"].iloc[0])
        values = sorted(pairs.loc[pairs["speaker"] == speaker, "group"])
        raise InputError(
            MIXED_GROUPS.format(speaker=speakers[speaker], column=column, values=values)
        )
    return {
        str(group): np.sort(members["speaker"].to_numpy())
        for group, members in pairs.groupby("group", sort=True)
    }


def _blocks_for(
    order: np.ndarray,
    *,
    size: int,
    speaker_codes: np.ndarray,
    speakers: np.ndarray,
    face_rows: np.ndarray,
    group: str | None,
) -> Iterator[GalleryBlock]:
    """Cut shuffled speakers into galleries of G; a speaker's queries go to its first one."""
    g = min(size, len(order))
    starts = [min(b * g, len(order) - g) for b in range(-(-len(order) // g))]
    owner = np.full(len(speakers), -1, dtype=np.int64)
    for b, start in reversed(list(enumerate(starts))):
        owner[order[start : start + g]] = b
    query_owner = owner[speaker_codes]
    for b, start in enumerate(starts):
        block_speakers = order[start : start + g]
        position = np.full(len(speakers), -1, dtype=np.int64)
        position[block_speakers] = np.arange(g)
        rows = np.flatnonzero(query_owner == b)
        yield GalleryBlock(
            speakers=speakers[block_speakers],
            face_rows=face_rows[block_speakers],
            query_rows=rows,
            true_index=position[speaker_codes[rows]],
            group=group,
        )


def true_face_ranks(
    queries: np.ndarray,
    gallery: np.ndarray,
    *,
    true_index: np.ndarray,
    metric: str = "cosine",
    rows: np.ndarray | None = None,
    chunk_size: int | None = None,
    num_threads: int | None = None,
) -> np.ndarray:
    """0-based rank of each query's true face in the gallery (ties by gallery position).

    ``rows`` selects query rows (streamed chunk by chunk, so ``queries`` may be a
    memory-mapped matrix of any height); ``true_index`` is aligned with them.
    """
    rows = _query_rows(queries, gallery, rows)
    true_index = _checked_true_index(true_index, len(rows), len(gallery))
    prepared = _prepare_gallery(gallery, metric)
    ranks = np.empty(len(rows), dtype=np.int64)
    positions = torch.arange(len(gallery))
    with _torch_threads(num_threads):
        for start, stop, chunk in _chunks(queries, rows, len(gallery), chunk_size):
            scores = _scores(chunk, prepared, metric)
            truth = torch.from_numpy(true_index[start:stop]).unsqueeze(1)
            true_score = scores.gather(1, truth)
            rank = (scores > true_score).sum(1)
            ties = (scores == true_score).sum(1) > 1
            if ties.any():
                tied = ties.nonzero().squeeze(1)
                earlier = (scores[tied] == true_score[tied]) & (positions < truth[tied])
                rank[tied] += earlier.sum(1)
            ranks[start:stop] = rank.numpy()
    return ranks


def retrieval_hits(
    queries: np.ndarray,
    gallery: np.ndarray,
    *,
    true_index: np.ndarray,
    ks: Sequence[int] = KS,
    metric: str = "cosine",
    rows: np.ndarray | None = None,
    chunk_size: int | None = None,
    num_threads: int | None = None,
) -> np.ndarray:
    """Boolean (n, len(ks)): is each query's true face among its k nearest gallery faces."""
    for k in ks:
        _check_k(k, len(gallery))
    ranks = true_face_ranks(
        queries,
        gallery,
        true_index=true_index,
        metric=metric,
        rows=rows,
        chunk_size=chunk_size,
        num_threads=num_threads,
    )
    return ranks[:, None] < np.asarray(ks, dtype=np.int64)[None, :]


def topk_indices(
    queries: np.ndarray,
    gallery: np.ndarray,
    *,
    k: int = 10,
    metric: str = "cosine",
    rows: np.ndarray | None = None,
    exclude_index: np.ndarray | None = None,
    chunk_size: int | None = None,
    num_threads: int | None = None,
) -> np.ndarray:
    """Gallery positions of each query's k nearest faces, nearest first (ties by position).

    ``exclude_index`` (one gallery position per query, e.g. its true face) is left
    out of that query's ranking, to see where the model looks when it is wrong.
    """
    rows = _query_rows(queries, gallery, rows)
    _check_k(k, len(gallery) - (exclude_index is not None))
    if exclude_index is not None:
        exclude_index = _checked_true_index(exclude_index, len(rows), len(gallery))
    prepared = _prepare_gallery(gallery, metric)
    out = np.empty((len(rows), k), dtype=np.int64)
    with _torch_threads(num_threads):
        for start, stop, chunk in _chunks(queries, rows, len(gallery), chunk_size):
            scores = _scores(chunk, prepared, metric)
            if exclude_index is not None:
                excluded = torch.from_numpy(exclude_index[start:stop]).unsqueeze(1)
                scores.scatter_(1, excluded, -torch.inf)
            out[start:stop] = _deterministic_topk(scores, k).numpy()
    return out


def _deterministic_topk(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Top-k positions per row in (score descending, position ascending) order."""
    values, index = torch.topk(scores, k, dim=1, sorted=True)
    kth = values[:, -1:]
    spill = (scores == kth).sum(1) > (values == kth).sum(1)
    for row in spill.nonzero().squeeze(1).tolist():
        index[row] = torch.sort(scores[row], descending=True, stable=True).indices[:k]
    index, _ = index.sort(dim=1)
    order = torch.sort(scores.gather(1, index), dim=1, descending=True, stable=True).indices
    return index.gather(1, order)


def cross_group_confusion(
    top_k_indices: np.ndarray,
    query_groups: np.ndarray,
    gallery_groups: np.ndarray,
    *,
    excluded_index: np.ndarray | None = None,
) -> pd.DataFrame:
    """Which groups each query group's top-k hits come from, against chance.

    Returns one row per (query_group, hit_group): ``n_hits``, ``hit_share`` (of
    that query group's hits) and ``chance_share`` (what a model ranking at random
    would give: the hit group's share of the gallery, less the face in
    ``excluded_index`` when :func:`topk_indices` left one out). Pivot with
    ``df.pivot(index="query_group", columns="hit_group", values="hit_share")``.
    """
    hits, expected = _confusion_counts(
        np.asarray(top_k_indices),
        np.asarray(query_groups).astype(str),
        np.asarray(gallery_groups).astype(str),
        excluded_index,
    )
    return _confusion_frame(hits, expected)


def _confusion_counts(
    top_k_indices: np.ndarray,
    query_groups: np.ndarray,
    gallery_groups: np.ndarray,
    excluded_index: np.ndarray | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hit counts and chance-expected hit counts, query group × hit group."""
    k = top_k_indices.shape[1]
    hits = pd.crosstab(np.repeat(query_groups, k), gallery_groups[top_k_indices].ravel())
    composition = pd.Series(gallery_groups).value_counts()
    per_group = pd.Series(query_groups).value_counts()
    expected = pd.DataFrame(
        np.outer(per_group.to_numpy(), composition.to_numpy()),
        index=per_group.index,
        columns=composition.index,
    )
    candidates = len(gallery_groups)
    if excluded_index is not None:
        removed = pd.crosstab(query_groups, gallery_groups[np.asarray(excluded_index)])
        expected = expected.sub(removed, fill_value=0.0)
        candidates -= 1
    return hits.astype(float), expected * (k / candidates)


def _confusion_frame(hits: pd.DataFrame, expected: pd.DataFrame) -> pd.DataFrame:
    hits, expected = hits.align(expected, fill_value=0.0)
    hits = hits.sort_index().sort_index(axis=1)
    expected = expected.loc[hits.index, hits.columns]
    frame = pd.DataFrame(
        {
            "n_hits": hits.stack(),
            "hit_share": hits.div(hits.sum(axis=1), axis=0).stack(),
            "chance_share": expected.div(expected.sum(axis=1), axis=0).stack(),
        }
    )
    frame.index.names = ["query_group", "hit_group"]
    frame["n_hits"] = frame["n_hits"].round().astype(np.int64)
    return frame.reset_index()


def retrieval_components(
    pred_features: np.ndarray,
    true_features: np.ndarray,
    gallery: Gallery,
    *,
    metrics: Sequence[str] = METRICS,
    ks: Sequence[int] = KS,
    feature_rows: np.ndarray | None = None,
    chunk_size: int | None = None,
    num_threads: int | None = None,
) -> pd.DataFrame:
    """Per-query retrieval components, one row per table row (in table order).

    Columns: ``gallery_size`` (G), ``rank_<metric>`` (0-based rank of the true
    face; -1 and G = 0 for rows of a matched group too small to rank, whose recall is
    False and must be left out) and boolean ``recall@<k>_<metric>``; the mean of a
    recall column over a group is that group's recall@k, and the mean of
    ``k / gallery_size`` its chance.
    ``feature_rows[i]`` is the feature row of the gallery's table row i (default:
    the same row), so a subset of a memory-mapped artifact needs no copy.
    """
    columns: dict[str, np.ndarray] = {"gallery_size": gallery.sizes()}
    for metric in metrics:
        ranks = np.full(gallery.n_queries, -1, dtype=np.int64)
        for block in gallery.blocks:
            ranks[block.query_rows] = true_face_ranks(
                pred_features,
                _faces(true_features, block, feature_rows),
                true_index=block.true_index,
                metric=metric,
                rows=_feature_rows(block.query_rows, feature_rows),
                chunk_size=chunk_size,
                num_threads=num_threads,
            )
        columns[f"rank_{metric}"] = ranks
        for k in ks:
            columns[f"recall@{k}_{metric}"] = (ranks >= 0) & (ranks < k)
    return pd.DataFrame(columns)


def retrieval_confusion(
    pred_features: np.ndarray,
    true_features: np.ndarray,
    gallery: Gallery,
    groups: np.ndarray,
    *,
    k: int = 10,
    metric: str = "cosine",
    exclude_true: bool = True,
    feature_rows: np.ndarray | None = None,
    chunk_size: int | None = None,
    num_threads: int | None = None,
) -> pd.DataFrame:
    """:func:`cross_group_confusion` over all galleries of ``gallery``.

    ``groups`` holds each table row's group (e.g. ``table["ethnicity"]``); a
    gallery face's group is that of the row its face came from. With
    ``exclude_true`` the true face is left out, so the table shows where the
    model's k best *wrong* candidates come from. ``feature_rows`` as in
    :func:`retrieval_components`.
    """
    groups = np.asarray(groups).astype(str)
    hits = expected = None
    for block in gallery.blocks:
        excluded = block.true_index if exclude_true else None
        top = topk_indices(
            pred_features,
            _faces(true_features, block, feature_rows),
            k=k,
            metric=metric,
            rows=_feature_rows(block.query_rows, feature_rows),
            exclude_index=excluded,
            chunk_size=chunk_size,
            num_threads=num_threads,
        )
        block_hits, block_expected = _confusion_counts(
            top, groups[block.query_rows], groups[block.face_rows], excluded
        )
        hits = block_hits if hits is None else hits.add(block_hits, fill_value=0.0)
        expected = (
            block_expected if expected is None else expected.add(block_expected, fill_value=0.0)
        )
    return _confusion_frame(hits, expected)


def _feature_rows(table_rows: np.ndarray, feature_rows: np.ndarray | None) -> np.ndarray:
    return table_rows if feature_rows is None else np.asarray(feature_rows)[table_rows]


def _faces(
    true_features: np.ndarray, block: GalleryBlock, feature_rows: np.ndarray | None
) -> np.ndarray:
    """The block's gallery matrix; a non-finite face is named by its feature row."""
    rows = _feature_rows(block.face_rows, feature_rows)
    faces = np.asarray(true_features[rows], dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(faces).all(axis=1))
    if len(bad):
        raise InputError(NON_FINITE.format(name="true_feature", row=int(rows[bad[0]])))
    return faces


def _query_rows(queries: np.ndarray, gallery: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    for name, matrix in (("queries", queries), ("gallery", gallery)):
        if np.ndim(matrix) != 2:
            raise InputError(NOT_A_MATRIX.format(name=name, shape=np.shape(matrix)))
    if queries.shape[1] != gallery.shape[1]:
        raise InputError(DIMENSION_MISMATCH.format(dq=queries.shape[1], dg=gallery.shape[1]))
    bad = np.flatnonzero(~np.isfinite(np.asarray(gallery)).all(axis=1))
    if len(bad):
        raise InputError(NON_FINITE.format(name="gallery", row=int(bad[0])))
    if rows is None:
        return np.arange(len(queries))
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) and (rows.min() < 0 or rows.max() >= len(queries)):
        raise InputError(ROWS_RANGE.format(n=len(queries)))
    return rows


def _checked_true_index(true_index: np.ndarray, n: int, size: int) -> np.ndarray:
    true_index = np.asarray(true_index)
    if true_index.shape != (n,):
        raise InputError(TRUE_INDEX_SHAPE.format(n=n, shape=true_index.shape))
    bad = np.flatnonzero((true_index < 0) | (true_index >= size))
    if len(bad):
        row = int(bad[0])
        raise InputError(TRUE_INDEX_RANGE.format(row=row, value=true_index[row], size=size))
    return true_index.astype(np.int64)


def _check_k(k: int, size: int) -> None:
    if not (isinstance(k, (int, np.integer)) and 0 < k <= size):
        raise InputError(BAD_K.format(k=k, size=size))


def _prepare_gallery(gallery: np.ndarray, metric: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The gallery as the right-hand side of the score product, plus its bias term."""
    if metric not in METRICS:
        raise InputError(UNKNOWN_METRIC.format(metric=metric, choices=", ".join(METRICS)))
    matrix = torch.from_numpy(np.ascontiguousarray(gallery, dtype=np.float32))
    if metric == "cosine":
        norms = torch.linalg.vector_norm(matrix, dim=1, keepdim=True)
        return (matrix / norms.clamp_min(torch.finfo(torch.float32).tiny)).T.contiguous(), None
    if metric == "l2":
        return matrix.T.contiguous(), -0.5 * (matrix * matrix).sum(1)
    return matrix, None


def _scores(chunk: torch.Tensor, prepared: tuple[torch.Tensor, torch.Tensor | None], metric: str):
    """Similarity scores (higher is closer) of a query chunk against the prepared gallery."""
    right, bias = prepared
    if metric == "l1":
        return torch.cdist(chunk, right, p=1).neg_()
    if bias is None:
        return chunk @ right
    return torch.addmm(bias, chunk, right)


def _chunks(
    queries: np.ndarray, rows: np.ndarray, gallery_size: int, chunk_size: int | None
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Query rows as float32 tensors, ``chunk_size`` at a time, read straight from a memmap."""
    step = chunk_size or max(1, SCORE_BLOCK_ELEMENTS // max(gallery_size, 1))
    for start in range(0, len(rows), step):
        stop = min(start + step, len(rows))
        first, last = int(rows[start]), int(rows[stop - 1])
        if last - first == stop - start - 1 and np.all(np.diff(rows[start:stop]) == 1):
            block = queries[first : last + 1]
        else:
            block = queries[rows[start:stop]]
        chunk = torch.from_numpy(np.array(block, dtype=np.float32, order="C"))
        finite = torch.isfinite(chunk).all(1)
        if not bool(finite.all()):
            row = int(rows[start + int((~finite).nonzero()[0])])
            raise InputError(NON_FINITE.format(name="query", row=row))
        yield start, stop, chunk


@contextlib.contextmanager
def _torch_threads(num_threads: int | None) -> Iterator[None]:
    """Run torch with ``num_threads`` intra-op threads, restoring the previous setting."""
    if num_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
