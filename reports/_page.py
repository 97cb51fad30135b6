"""Page assembly shared by every report: template, escaping, tables, figures, atomic write.

Every string that comes from user data goes through Jinja's autoescaping or
:func:`markupsafe.escape`; only markup built here is marked safe. On the finished page,
NUL, other control characters and bidirectional overrides are shown as ``\\uXXXX``
(:func:`visible_controls`), so that no user string can hide or reorder text.
"""

from __future__ import annotations

import base64
import functools
import gc
import io
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import ParamSpec, TypeVar

import jinja2
import pandas as pd
from markupsafe import Markup, escape
from matplotlib import rc_context
from matplotlib.figure import Figure

import speech2face
from speech2face.atomic import write_text

_CONTROLS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def visible_controls(html: str) -> str:
    """``html`` with each control or bidi character written out as the text ``\\uXXXX``."""
    return _CONTROLS.sub(lambda match: f"\\u{ord(match.group()):04x}", html)


P = ParamSpec("P")
R = TypeVar("R")

_TEMPLATES = resources.files("reports") / "templates"
_SCRIPTS = ("sortable.js", "print.js")
"""Inline scripts, in one <script> element: sortable tables; folded tables open to print."""
_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Section:
    """One titled section of a report; ``body`` is markup built by this package."""

    anchor: str
    title: str
    body: Markup


def render_page(
    *,
    title: str,
    kind: str,
    source: str | os.PathLike,
    sections: Sequence[Section],
    findings: Sequence[str] = (),
    subtitle: str = "",
    banners: Sequence[str] = (),
) -> str:
    """Render one self-contained page: findings first, then sections, CSS and script inline.

    ``subtitle`` is one line under the title (what was evaluated, e.g. the clip duration);
    ``banners`` are warnings shown above everything else (e.g. training speakers audited).
    """
    page = _ENVIRONMENT.get_template("report.html.j2").render(
        title=title,
        subtitle=subtitle,
        kind=kind,
        source=str(source),
        sections=sections,
        findings=findings,
        banners=list(banners),
        version=speech2face.__version__,
        rendered_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        css=(_TEMPLATES / "report.css").read_text(),
        script="\n".join((_TEMPLATES / name).read_text() for name in _SCRIPTS),
    )
    return visible_controls(page)


def collected_once(build: Callable[P, R]) -> Callable[P, R]:
    """Build a report with Python's cyclic garbage collector paused, then collect what the
    build left (the youngest generation: everything allocated meanwhile) once.

    A report makes hundreds of thousands of short-lived matplotlib objects; collecting them
    as they came (each full collection walks every object of the process) was about a tenth
    of an audit report's render.
    """

    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not gc.isenabled():
            return build(*args, **kwargs)
        gc.disable()
        try:
            return build(*args, **kwargs)
        finally:
            gc.enable()
            gc.collect(0)

    return wrapper


def write_html(html: str, path: str | os.PathLike) -> Path:
    """Write a report atomically: a good earlier report is never left half overwritten."""
    return write_text(path, html)


_SVG = {"svg.fonttype": "none", "svg.hashsalt": "speech2face-report"}
"""Figures as SVG with text as text: the browser draws the glyphs (rasterising them was most
of a report's render time), and element ids do not change from one render to the next."""
_SVG_WIDTH = re.compile(rb'<svg[^>]*?\swidth="([0-9.]+)pt"')


def figure_html(
    figure: Figure, *, alt: str, caption: str = "", dpi: int = 110, tight: bool = True
) -> Markup:
    """Embed a figure (made with ``Figure()``, not pyplot) as an SVG data URI with escaped text.

    ``dpi``: pixels per inch the figure is shown at (and the resolution of its raster
    images, e.g. confusion tiles). ``tight`` crops the figure to its drawn content (one more
    layout pass); a figure that places its own margins passes False.
    """
    buffer = io.BytesIO()
    with rc_context(_SVG):
        figure.savefig(
            buffer,
            format="svg",
            dpi=dpi,
            bbox_inches="tight" if tight else None,
            metadata={"Date": None},
        )
    svg = buffer.getvalue()
    width = round(float(_SVG_WIDTH.search(svg).group(1)) * dpi / 72)
    data = base64.b64encode(svg).decode("ascii")
    caption_html = Markup("<figcaption>{}</figcaption>").format(caption) if caption else ""
    return Markup(
        '<figure><img alt="{}" width="{}" src="data:image/svg+xml;base64,{}">{}</figure>'
    ).format(alt, width, Markup(data), caption_html)


Formatter = Callable[[object], str]


def table_html(
    frame: pd.DataFrame,
    *,
    formats: Mapping[str, Formatter] | None = None,
    badges: Mapping[str, Callable[[object], str | None]] | None = None,
    caption: str = "",
    sortable: bool = True,
) -> Markup:
    """A sortable HTML table; numbers keep their raw value in ``data-value`` for sorting."""
    formats = dict(formats or {})
    badges = dict(badges or {})
    numeric = {c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])}
    head = "".join(
        f'<th scope="col"{_num_class(c in numeric)}>{escape(str(c))}</th>' for c in frame.columns
    )
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, record, strict=True):
            text = formats[column](value) if column in formats else _default_format(value)
            badge_class = badges[column](value) if column in badges else None
            shown = escape(text)
            if badge_class:
                shown = Markup('<span class="badge {}">{}</span>').format(badge_class, text)
            data_value = f' data-value="{escape(str(value))}"' if column in numeric else ""
            cells.append(f"<td{_num_class(column in numeric)}{data_value}>{shown}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption_html = f"<caption>{escape(caption)}</caption>" if caption else ""
    table_class = ' class="sortable"' if sortable else ""
    return Markup(
        f'<div class="table-wrap"><table{table_class}>{caption_html}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _num_class(is_numeric: bool) -> str:
    return ' class="num"' if is_numeric else ""


def _default_format(value: object) -> str:
    if isinstance(value, float):
        return "–" if pd.isna(value) else f"{value:.3g}"
    return str(value)
