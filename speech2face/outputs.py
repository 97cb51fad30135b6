"""The one guard of every ``--out``: the toolkit replaces only what it wrote itself.

A folder artifact carries a :data:`~speech2face.artifacts.KIND_FILE` naming its kind; a
report file carries :data:`~speech2face.artifacts.REPORT_MARKER`. :func:`check_out` allows
writing to a path that does not exist, an empty folder, or an artifact of the same kind;
everything else (a foreign folder or file, the working folder or one above it, a folder
holding an input, a path under a file, an unwritable place) is a one-line InputError.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from speech2face.artifacts import KIND_FILE, LEGACY_KIND_FILES, REPORT_KINDS, REPORT_MARKER
from speech2face.atomic import write_text
from speech2face.errors import InputError

OUT_FOREIGN = (
    "--out {out}: holds {found}, not a {kind} written by s2f; "
    "choose a new or empty place (nothing was changed)"
)
OUT_IS_FILE = "--out {out}: is a file; a {kind} is a folder"
OUT_IS_FOLDER = "--out {out}: is a folder; a {kind} is a file"
OUT_UNDER_FILE = "--out {out}: {parent} is a file, not a folder"
OUT_HOLDS_CWD = "--out {out}: is the working folder or holds it; name a folder of its own"
OUT_HOLDS_INPUT = "--out {out}: would replace the input {input}; write elsewhere"
OUT_UNWRITABLE = "--out {out}: cannot write in {parent}"


def mark(folder: str | os.PathLike, kind: str) -> None:
    """Record ``kind`` in ``folder`` (a staging folder, or one written in place)."""
    write_text(Path(folder) / KIND_FILE, kind + "\n")


def artifact_kind(path: str | os.PathLike) -> str | None:
    """The kind of the artifact at ``path`` (a folder or a report file); None if foreign."""
    path = Path(path)
    if path.is_file():
        with open(path, "rb") as handle:
            head = handle.read(4096).decode("utf-8", "replace")
        return next((k for k in REPORT_KINDS if REPORT_MARKER.format(kind=k) in head), None)
    try:
        return (path / KIND_FILE).read_text().strip() or None
    except (OSError, UnicodeDecodeError):
        pass
    return next((kind for name, kind in LEGACY_KIND_FILES.items() if (path / name).is_file()), None)


def check_out(
    out: str | os.PathLike,
    kind: str,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    file: bool = False,
) -> Path:
    """``out`` if writing a ``kind`` there destroys nothing the toolkit did not write.

    ``file`` is True for a single-file output (a report), whose ``kind`` is then the
    report kind of :data:`REPORT_MARKER`. Raises :class:`InputError` otherwise.
    """
    out = Path(os.path.expanduser(out))
    resolved = out.resolve()
    for parent in resolved.parents:
        if parent.exists() and not parent.is_dir():
            raise InputError(OUT_UNDER_FILE.format(out=out, parent=parent))
    cwd = Path.cwd().resolve()
    if not file and (resolved == cwd or resolved in cwd.parents):
        raise InputError(OUT_HOLDS_CWD.format(out=out))
    for given in inputs:
        source = Path(os.path.expanduser(given)).resolve()
        if source == resolved or resolved in source.parents:
            raise InputError(OUT_HOLDS_INPUT.format(out=out, input=given))
    if out.is_file() and not file:
        raise InputError(OUT_IS_FILE.format(out=out, kind=kind))
    if out.is_dir() and file:
        raise InputError(OUT_IS_FOLDER.format(out=out, kind=kind))
    occupied = out.is_file() or (out.is_dir() and any(out.iterdir()))
    if occupied and (found := artifact_kind(out)) != kind:
        shown = f"a {found}" if found else "files s2f did not write"
        raise InputError(OUT_FOREIGN.format(out=out, kind=kind, found=shown))
    parent = next(p for p in resolved.parents if p.exists())
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(OUT_UNWRITABLE.format(out=out, parent=parent))
    return out


def open_folder(
    out: str | os.PathLike, kind: str, *, inputs: Iterable[str | os.PathLike] = ()
) -> Path:
    """Check ``out`` (:func:`check_out`), create it and mark it: for artifacts written in place."""
    out = check_out(out, kind, inputs=inputs)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / KIND_FILE).is_file():
        mark(out, kind)
    return out
