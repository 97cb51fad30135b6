"""Atomic writes: a reader finds the old file (or folder) or the new one, never half of one.

Everything is staged beside its target under one naming scheme, ``.NAME.TAG`` (TAG is
``tmp-<hex>`` for a file, ``staging-<hex>`` / ``retired-<hex>`` for a folder), and moved
into place with :func:`os.replace`. On any exception the staged copy is removed and the
old target is left as it was.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

WRITE_MODES = ("w", "wb")


def hidden_sibling(path: str | os.PathLike, tag: str) -> Path:
    """``.NAME.TAG`` in the folder of ``path``: where a write to ``path`` is staged."""
    path = Path(path)
    return path.with_name(f".{path.name}.{tag}")


def _fresh(path: Path, kind: str) -> Path:
    return hidden_sibling(path, f"{kind}-{secrets.token_hex(4)}")


@contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "wb", *, fsync: bool = False, encoding: str = "utf-8"
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    The file gets the permissions :func:`open` would give it (0666 less the umask).
    """
    if mode not in WRITE_MODES:
        raise ValueError(f"atomic_write mode must be one of {WRITE_MODES}, not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _fresh(path, "tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        text = {"encoding": encoding, "newline": ""} if mode == "w" else {}
        with os.fdopen(descriptor, mode, **text) as handle:
            yield handle
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb", fsync=fsync) as handle:
        handle.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w", fsync=fsync) as handle:
        handle.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, payload: Any, **dumps: Any) -> Path:
    """Write ``json.dumps(payload, **dumps)`` to ``path`` atomically."""
    return write_text(path, json.dumps(payload, **dumps))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet reads a cell that begins with one of these as a formula."""


def spreadsheet_safe(value: Any) -> Any:
    """``value``, with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def write_csv(path: str | os.PathLike, frame: Any) -> Path:
    """Write the DataFrame ``frame`` as CSV atomically, every text cell spreadsheet-safe."""
    with atomic_write(path, "w") as handle:
        frame.map(spreadsheet_safe).to_csv(handle, index=False)
    return Path(path)


def swap_folder(staging: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move the finished folder ``staging`` to ``target``, replacing an older ``target`` whole.

    The old folder is renamed aside first and deleted only once the new one is in place;
    if the swap fails, it is put back.
    """
    staging, target = Path(staging), Path(target)
    retired = _fresh(target, "retired") if target.exists() else None
    if retired is not None:
        os.replace(target, retired)
    try:
        os.replace(staging, target)
    except BaseException:
        if retired is not None:
            os.replace(retired, target)
        raise
    if retired is not None and retired.is_dir():
        shutil.rmtree(retired, ignore_errors=True)
    elif retired is not None:
        retired.unlink(missing_ok=True)


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; on success it replaces ``path`` whole.

    On any exception the staging folder is removed and an old ``path`` is left intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = _fresh(path, "staging")
    staging.mkdir()
    try:
        yield staging
        swap_folder(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
