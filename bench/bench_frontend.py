"""Front-end speed on CPU: 6 s clips → 598×257×2 spectrograms, torch.stft vs plain numpy.

Run: .venv/bin/python bench/bench_frontend.py [--clips 64] [--batch 16] [--threads 1] [--repeats 7]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from speech2face.audio import PAPER_CONFIG, spectrogram


def numpy_reference(waves: np.ndarray) -> np.ndarray:
    """The same spectrogram by numpy framing and rfft, one clip at a time."""
    window = np.hanning(PAPER_CONFIG.win_length + 1)[:-1].astype(np.float32)
    out = []
    for wave in waves:
        frames = np.lib.stride_tricks.sliding_window_view(wave, PAPER_CONFIG.win_length)
        frames = frames[:: PAPER_CONFIG.hop_length] * window
        spectrum = np.fft.rfft(frames, n=PAPER_CONFIG.n_fft)
        parts = np.stack([spectrum.real, spectrum.imag], axis=-1).astype(np.float32)
        out.append(np.sign(parts) * np.abs(parts) ** PAPER_CONFIG.power)
    return np.stack(out)


def best_seconds(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time of each run, alternating them so machine load hits both alike."""
    best = dict.fromkeys(runs, float("inf"))
    for run in runs.values():
        run()  # warm-up
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    waves = rng.uniform(-0.5, 0.5, (args.clips, PAPER_CONFIG.num_samples)).astype(np.float32)
    tensor = torch.from_numpy(waves)

    def torch_run() -> None:
        for start in range(0, args.clips, args.batch):
            spectrogram(tensor[start : start + args.batch])

    best = best_seconds(
        {"torch": torch_run, "numpy": lambda: numpy_reference(waves)}, repeats=args.repeats
    )
    ours, reference = args.clips / best["torch"], args.clips / best["numpy"]
    print(f"front end, {args.clips} clips of 6 s, batch {args.batch}, {args.threads} thread(s)")
    print(f"torch.stft front end : {ours:8.1f} clips/s ({ours * 6:8.0f} s of audio per s)")
    print(f"numpy reference      : {reference:8.1f} clips/s")
    print(f"ratio torch / numpy  : {ours / reference:8.2f}x")


if __name__ == "__main__":
    main()
