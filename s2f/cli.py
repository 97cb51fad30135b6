"""The ``s2f`` command line: one entry point, one subcommand per module.

Each subcommand module exposes ``register(subparsers)``, which adds its parser
and sets ``handler`` to a function taking the parsed arguments and returning
an exit status. Bad input (:class:`~speech2face.errors.InputError`) becomes a
one-line message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from speech2face.errors import InputError

COMMAND_MODULES: tuple[str, ...] = (
    "s2f.commands.demo",
    "s2f.commands.manifest",
    "s2f.commands.synth",
    "s2f.commands.train",
    "s2f.commands.predict",
    "s2f.commands.audit",
    "s2f.commands.trials",
    "s2f.commands.dataset_report",
    "s2f.commands.faces",
    "s2f.commands.conditions",
)
"""Modules that each register one or more subcommands, in ``--help`` order."""


def build_parser() -> argparse.ArgumentParser:
    """The ``s2f`` parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="s2f",
        description="Audit voice-to-face models for bias: data, model and comparison reports.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``s2f`` subcommand and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except InputError as error:
        print(f"s2f {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"s2f {args.command}: interrupted; finished work is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
