import gc
import os
import stat

import pandas as pd
import pytest
from matplotlib.figure import Figure

from reports._page import (
    Section,
    collected_once,
    figure_html,
    render_page,
    table_html,
    write_html,
)
from tests.browser import chromium_page, console_errors

HOSTILE = "<script>alert(1)</script>"


def _page(tmp_path):
    figure = Figure(figsize=(3, 2))
    figure.subplots().plot([0, 1, 2], [2, 0, 1])
    table = table_html(pd.DataFrame({"group": [HOSTILE, "b", "a"], "value": [0.5, 0.25, 2.0]}))
    html = render_page(
        title=f"Audit of {HOSTILE}",
        kind="Model audit",
        source=tmp_path / HOSTILE,
        findings=[f"group {HOSTILE} differs"],
        sections=[Section("results", "Results", table + figure_html(figure, alt=HOSTILE))],
    )
    return write_html(html, tmp_path / "report.html")


def test_user_strings_are_escaped_in_the_markup(tmp_path):
    html = _page(tmp_path).read_text()
    assert "<script>alert(1)</script>" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4
    assert "http://" not in html and "https://" not in html  # nothing fetched from a network


def test_write_html_replaces_an_existing_report_whole(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("old")
    write_html("new", target)
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    previous = os.umask(0o022)
    try:
        write_html("again", target)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # readable by others, like open()


@pytest.mark.browser
def test_a_figure_embeds_as_the_same_svg_every_time():
    """Figures are SVG (text as text) with no date and fixed ids: a re-render is identical."""
    figure = Figure(figsize=(3, 2))
    figure.subplots().plot([0, 1, 2], [2, 0, 1], label=HOSTILE)
    figure.axes[0].legend()
    first = figure_html(figure, alt="x", tight=False)
    assert 'src="data:image/svg+xml;base64,' in first and 'width="330"' in first  # 3 in x 110
    assert figure_html(figure, alt="x", tight=False) == first


def test_reports_build_with_the_collector_paused_and_restore_it():
    seen = []

    @collected_once
    def build(fail: bool = False) -> int:
        seen.append(gc.isenabled())
        if fail:
            raise ValueError("bad")
        return 1

    assert build() == 1 and seen == [False] and gc.isenabled()
    with pytest.raises(ValueError):
        build(fail=True)
    assert gc.isenabled()
    gc.disable()  # a caller that turned it off keeps it off
    try:
        build()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_page_loads_cleanly_escapes_and_sorts_in_chromium(tmp_path):
    path = _page(tmp_path)
    with chromium_page(path) as driver:
        assert console_errors(driver) == []
        assert driver.execute_script("return document.querySelectorAll('script').length") == 1
        cells = driver.find_elements("css selector", "tbody td:first-child")
        assert [c.text for c in cells] == [HOSTILE, "b", "a"]
        assert driver.execute_script("return document.images[0].naturalWidth") > 100
        header = driver.find_elements("css selector", "thead th")[1]
        header.click()
        values = [c.text for c in driver.find_elements("css selector", "tbody td:nth-child(2)")]
        assert values == ["0.25", "0.5", "2"]
        header.click()
        values = [c.text for c in driver.find_elements("css selector", "tbody td:nth-child(2)")]
        assert values == ["2", "0.5", "0.25"]
        driver.save_screenshot(str(tmp_path / "page.png"))
    assert (tmp_path / "page.png").stat().st_size > 10_000
