"""Command-line options generated from config dataclasses, and the report options.

A field of a config (:mod:`audit.config`) becomes ``--field-name`` with the field's
default, help and metavar; ``bool`` is a switch, numbers are parsed by argparse, every
other value is passed as text for the config to parse and check (comma-separated names,
``column=group`` pairs), so that a bad value is the config's one-line InputError.
Standard library only: ``s2f --help`` builds its parsers from here.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from audit.config import Options, boolean, flag_of, integer, option
from audit.privacy import PRIVACY_K

C = TypeVar("C", bound=Options)

NO_DATASET_REPORT = "{path}: no such dataset report (write it first with s2f dataset-report)"


def _argument_type(annotation: Any) -> type:
    """``int | None`` is ``int``; anything but a bool or a number is passed as text."""
    kinds = [k for k in typing.get_args(annotation) or (annotation,) if k is not type(None)]
    return kinds[0] if len(kinds) == 1 and kinds[0] in (bool, int, float) else str


def _shown(default: Any) -> str:
    if isinstance(default, tuple | list):
        return ",".join(map(str, default))
    return str(default)


def add_config_options(
    parser: argparse.ArgumentParser, config: type[Options], *, exclude: Collection[str] = ()
) -> None:
    """One option per field of the ``config`` dataclass, but those in ``exclude``."""
    hints = typing.get_type_hints(config)
    for field in dataclasses.fields(config):  # type: ignore[arg-type]
        if field.name in exclude:
            continue
        default = (
            field.default_factory()  # type: ignore[misc]
            if field.default_factory is not dataclasses.MISSING
            else field.default
        )
        help_text = field.metadata["help"].replace("%", "%%")
        hidden = default is None or default is False or default in ({}, ())
        if not hidden and "default" not in help_text:
            help_text += f" (default: {_shown(default)})"
        kind = _argument_type(hints[field.name])
        arguments: dict[str, Any] = {"dest": field.name, "default": default, "help": help_text}
        if kind is bool:
            arguments["action"] = "store_true"
        else:
            arguments["type"] = kind
            if "metavar" in field.metadata:
                arguments["metavar"] = field.metadata["metavar"]
        parser.add_argument(flag_of(field), **arguments)


def config_from_args(config: type[C], args: argparse.Namespace) -> C:
    """The ``config`` of the parsed options (every field the namespace holds)."""
    names = [field.name for field in dataclasses.fields(config)]  # type: ignore[arg-type]
    return config(**{name: getattr(args, name) for name in names if hasattr(args, name)})


@dataclass(frozen=True, kw_only=True)
class ReportConfig(Options):
    """How the HTML report of an audit or a comparison is written."""

    privacy_k: int = option(
        PRIVACY_K,
        "suppress the numbers of groups with fewer speakers than this in the report",
        integer(1),
        "a positive integer",
    )
    no_report: bool = option(
        False, "write the artifact only, no report.html", boolean, "true or false"
    )


def add_audit_report_options(parser: argparse.ArgumentParser) -> None:
    """The audit report's own options of ``s2f audit``."""
    parser.add_argument(
        "--include-faces",
        action="store_true",
        help="show example true faces of flagged groups even when they are photographs of "
        "real people (synthetic faces are shown anyway; faces come from the predictions' "
        "face_path or their manifest)",
    )
    parser.add_argument(
        "--dataset-report",
        type=_existing_file,
        metavar="REPORT.html",
        help="link the evaluation data section to this dataset report (s2f dataset-report)",
    )


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(NO_DATASET_REPORT.format(path=path))
    return path
