"""Retrieval speed against the machine's own matrix-multiply throughput, measured in one run.

    .venv/bin/python bench/bench_retrieval.py            # 20,000 × 20,000 × 4096-D, 2 threads

Prints, for cosine and L2, the time of exact recall@k (``true_face_ranks``) and of a
plain ``torch.matmul`` of the same shape timed just before it, their effective FLOP/s
(2·n·G·d) and the ratio (target: ≤ 2), in wall-clock and in process CPU seconds (the
fairer figure on a shared machine). L1 has no matrix-product form; its time is
measured on ``--l1-queries`` queries and scaled to all of them.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from audit.retrieval import true_face_ranks


def seconds(fn) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def report(label: str, took: tuple[float, float], flop: float, reference=None) -> None:
    wall, cpu = took
    line = f"{label:<28} {wall:7.1f} s wall {cpu:7.1f} s cpu  {flop / wall / 1e9:6.1f} GFLOP/s"
    if reference is not None:
        line += f"  ratio to matmul {wall / reference[0]:.2f} wall, {cpu / reference[1]:.2f} cpu"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--gallery", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--l1-queries", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    queries = torch.randn(args.queries, args.dim, generator=generator).numpy()
    gallery = torch.randn(args.gallery, args.dim, generator=generator).numpy()
    true_index = np.random.default_rng(0).integers(0, args.gallery, size=args.queries)
    flop = 2.0 * args.queries * args.gallery * args.dim
    print(
        f"{args.queries} queries × {args.gallery} gallery × {args.dim}-D, "
        f"{args.threads} torch threads, {flop / 1e12:.2f} TFLOP per metric"
    )

    left, right = torch.from_numpy(queries), torch.from_numpy(gallery).T.contiguous()
    for metric in ("cosine", "l2"):
        matmul = seconds(lambda: torch.matmul(left, right))
        report("plain torch.matmul", matmul, flop)
        took = seconds(
            lambda metric=metric: true_face_ranks(
                queries, gallery, true_index=true_index, metric=metric
            )
        )
        report(f"retrieval {metric}", took, flop, reference=matmul)

    n_l1 = min(args.l1_queries, args.queries)
    wall, cpu = seconds(
        lambda: true_face_ranks(queries[:n_l1], gallery, true_index=true_index[:n_l1], metric="l1")
    )
    scale = args.queries / n_l1
    print(
        f"retrieval l1 ({n_l1} queries) {wall:7.1f} s wall {cpu:7.1f} s cpu  "
        f"→ {wall * scale:.0f} s wall for all {args.queries} queries"
    )


if __name__ == "__main__":
    main()
