"""Retrieval speed against the machine's own matrix-multiply throughput, measured in one run.

    .venv/bin/python bench/bench_retrieval.py            # 20,000 × 20,000 × 4096-D, 2 threads

Prints, for cosine and L2, the time of exact recall@k (``true_face_ranks``) and of a
plain ``torch.matmul`` of the same shape, their effective FLOP/s (2·n·G·d) and the
ratio (target: ≤ 2). L1 has no matrix-product form; its time is measured on
``--l1-queries`` queries and scaled to all of them.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from audit.retrieval import true_face_ranks


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


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
    matmul_s = seconds(lambda: torch.matmul(left, right))
    print(f"plain torch.matmul          {matmul_s:7.1f} s  {flop / matmul_s / 1e9:7.1f} GFLOP/s")
    for metric in ("cosine", "l2"):
        took = seconds(
            lambda metric=metric: true_face_ranks(
                queries, gallery, true_index=true_index, metric=metric
            )
        )
        print(
            f"retrieval {metric:<6}            {took:7.1f} s  {flop / took / 1e9:7.1f} GFLOP/s"
            f"  ratio to matmul {took / matmul_s:.2f}"
        )

    n_l1 = min(args.l1_queries, args.queries)
    took = seconds(
        lambda: true_face_ranks(queries[:n_l1], gallery, true_index=true_index[:n_l1], metric="l1")
    )
    print(
        f"retrieval l1 ({n_l1} queries) {took:7.1f} s  "
        f"→ {took * args.queries / n_l1:7.1f} s for all {args.queries} queries"
    )


if __name__ == "__main__":
    main()
