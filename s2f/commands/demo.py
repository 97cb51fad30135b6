"""``s2f demo``: the embedded default, end to end (the pipeline is :mod:`s2f.demo`)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from s2f.demo import DemoSettings, run_demo
from speech2face.training.driver import METHODS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="the embedded default end to end: corpus, models, audits, comparison, reports",
        description="Synthesise a corpus with the paper_like imbalance, train the small face "
        "models and a baseline voice encoder, audit it, retrain the voice encoder on a "
        "rebalanced train split with the same face models, audit that, and compare the two. "
        "Every stage is cached under --out and rerun only when its settings or inputs change.",
    )
    defaults = DemoSettings()
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder")
    parser.add_argument(
        "--speakers",
        type=int,
        default=defaults.speakers,
        help=f"corpus speakers, half in the test split (default {defaults.speakers})",
    )
    parser.add_argument(
        "--rebalance",
        choices=METHODS,
        default=defaults.rebalance,
        help="reweight: sample clips by inverse group share; resample: equal clips per group",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="one seed for everything")
    parser.add_argument(
        "--steps", type=int, default=defaults.voice_steps, help="voice encoder training steps"
    )
    parser.add_argument("--n-boot", type=int, default=defaults.n_boot, help="bootstrap replicates")
    parser.set_defaults(handler=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    """Handler of ``s2f demo``."""
    settings = replace(
        DemoSettings(),
        speakers=args.speakers,
        rebalance=args.rebalance,
        seed=args.seed,
        voice_steps=args.steps,
        n_boot=args.n_boot,
    )
    result = run_demo(args.out, settings)
    print("Reports:")
    for name, path in result.reports.items():
        print(f"  {name:<11} {path}")
    print("What the audit found:")
    for line in result.summary:
        print(f"  {line}")
    return 0
