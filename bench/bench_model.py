"""Voice encoder speed on CPU: paper forward clips/s, small training steps/s, vs FLOP ideals.

The reference each figure competes with is the machine's own float32 matmul
rate: ``ideal = measured matmul GFLOP/s ÷ FLOPs per clip (or step)``, FLOPs
counted by ``torch.utils.flop_counter.FlopCounterMode``. The ratio is the
model-FLOP utilisation a convolution network reaches on this CPU. Input layout
(the front end's channels-last view vs a contiguous NCHW copy) is compared too.

Run: .venv/bin/python bench/bench_model.py [--threads 2] [--batch 8] [--steps 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from speech2face.audio import PAPER_CONFIG, spectrogram
from speech2face.models.registry import get_model
from speech2face.training.voice import FaceHeads, FeaturePairs, TrainingConfig, VoiceTrainer


def seconds(run: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` runs after one warm-up."""
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matrix-multiply rate, the CPU's practical peak."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / seconds(lambda: a @ b, repeats) / 1e9


def flops(run: Callable[[], object]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        run()
    return counter.get_total_flops()


def bench_paper_forward(batch: int, repeats: int, peak: float) -> None:
    model = get_model("paper").eval()
    waves = torch.randn(batch, PAPER_CONFIG.num_samples)
    with torch.no_grad():
        per_clip = flops(lambda: model(spectrogram(waves[:1])))
        front = seconds(lambda: spectrogram(waves), repeats)
        as_given = spectrogram(waves)
        contiguous = as_given.permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1)
        layouts = {
            "channels-last view": seconds(lambda: model(as_given), repeats),
            "contiguous NCHW": seconds(lambda: model(contiguous), repeats),
        }
    best = min(layouts.values())
    clips_per_s = batch / (front + best)
    ideal = peak * 1e9 / per_clip
    print(f"paper forward: {per_clip / 1e9:.1f} GFLOP per 6 s clip")
    print(f"  front end         {batch / front:8.1f} clips/s")
    for name, took in layouts.items():
        print(f"  encoder, {name:18s} {batch / took:6.2f} clips/s")
    print(f"  front end + paper encoder: {clips_per_s:.2f} clips/s (batch {batch})")
    print(f"  FLOP ideal at matmul rate: {ideal:.2f} clips/s → ratio {clips_per_s / ideal:.2f}")


def bench_small_training(batch: int, steps: int, peak: float, out_dir) -> None:
    torch.manual_seed(0)
    model = get_model("small")
    n = batch * (steps + 1)
    data = FeaturePairs(
        [str(i) for i in range(n)],
        spectrogram(torch.randn(n, PAPER_CONFIG.num_samples)),
        torch.randn(n, model.config.out_dim),
    )
    heads = FaceHeads(decoder_head=nn.Linear(128, 1000), fc8_head=nn.Linear(128, 500))
    config = TrainingConfig(batch_size=batch, max_steps=steps + 1, checkpoint_every=10**9)
    trainer = VoiceTrainer(
        model,
        preset="small",
        heads=heads,
        config=config,
        out_dir=out_dir,
        manifest_hash="bench",
        progress=False,
    )
    batch_items = [data[i] for i in range(batch)]
    ids = [item[0] for item in batch_items]
    x = torch.stack([item[1] for item in batch_items])
    y = torch.stack([item[2] for item in batch_items])
    per_step = flops(lambda: trainer.train_step(ids, x, y))
    trainer.train_step(ids, x, y)  # warm-up
    start = time.perf_counter()
    for step in range(steps):
        items = [data[i] for i in range(step * batch, (step + 1) * batch)]
        trainer.train_step(
            [i[0] for i in items],
            torch.stack([i[1] for i in items]),
            torch.stack([i[2] for i in items]),
        )
    rate = steps / (time.perf_counter() - start)
    ideal = peak * 1e9 / per_step
    print(f"small training: {per_step / 1e9:.2f} GFLOP per step (batch {batch}, 6 s clips)")
    print(f"  {rate:.2f} steps/s = {rate * batch:.1f} clips/s")
    print(f"  FLOP ideal at matmul rate: {ideal:.2f} steps/s → ratio {rate / ideal:.2f}")


def main() -> None:
    import tempfile
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5, help="timed small training steps")
    parser.add_argument("--repeats", type=int, default=1, help="timed paper forward passes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_gflops()
    print(f"{args.threads} thread(s); float32 matmul {peak:.1f} GFLOP/s")
    with tempfile.TemporaryDirectory() as scratch:
        bench_small_training(args.batch, args.steps, peak, Path(scratch))
    bench_paper_forward(args.batch, args.repeats, peak)


if __name__ == "__main__":
    main()
