"""What every report test checks in Chromium: clean console, one script, sections, figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.browser import console_errors


@dataclass(frozen=True)
class PageOutline:
    """What a reader's browser shows of a report."""

    errors: list[str]
    scripts: int
    sections: list[str]
    image_widths: list[int]
    title: str


def outline(driver: object) -> PageOutline:
    """Console errors, script count, section ids in order, decoded widths of every image."""
    run = driver.execute_script
    return PageOutline(
        errors=console_errors(driver),
        scripts=run("return document.querySelectorAll('script').length"),
        sections=run(
            "return Array.from(document.querySelectorAll('main section[id]')).map(s => s.id)"
        ),
        image_widths=run("return Array.from(document.images).map(i => i.naturalWidth)"),
        title=run("return document.title"),
    )


def assert_clean(page: PageOutline, sections: list[str]) -> None:
    """No console error, only the page's own script, the sections in order, images decoded."""
    assert page.errors == []
    assert page.scripts == 1  # a hostile group name added no script
    assert page.sections == sections
    assert page.image_widths and min(page.image_widths) > 200


def screenshot(driver: object, path: Path) -> Path:
    """Save what the browser shows; a blank page would be far smaller than this bound."""
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 50_000
    return path
