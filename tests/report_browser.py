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


PRINTED_PAGE_PX = 703
"""Width of the printed text block in CSS pixels: A4 (210 mm) less the report's 12 mm
``@page`` margins each side, at 96 px per inch (the narrower of A4 and US Letter)."""


def tables_wider_than_print(driver: object, width: int = PRINTED_PAGE_PX) -> list[str]:
    """Open folded tables, lay the page out as printed at ``width`` px, return every table
    (caption or first header) that is wider than the page or scrolls sideways."""
    driver.execute_script("window.dispatchEvent(new Event('beforeprint'))")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        return driver.execute_script(
            """
            const page = document.documentElement.clientWidth;
            const wide = [];
            document.querySelectorAll('table').forEach(function (table) {
              const wrap = table.closest('.table-wrap') || table.parentElement;
              const box = table.getBoundingClientRect();
              if (box.width === 0) { wide.push('hidden: ' + table.innerText.slice(0, 60)); }
              else if (box.right > page + 0.5 || wrap.scrollWidth > wrap.clientWidth + 0.5) {
                const name = table.caption ? table.caption.innerText : table.rows[0].innerText;
                wide.push(Math.round(box.width) + ' px: ' + name.slice(0, 80));
              }
            });
            if (document.documentElement.scrollWidth > page) { wide.push('the page scrolls'); }
            return wide;
            """
        )
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
