"""Exports are safe to open: CSV cells are not formulas, control characters are visible."""

from __future__ import annotations

import pandas as pd
from matplotlib.text import Text

from audit.imbalance import analyze_dataset
from reports import _figures as figures
from reports._page import figure_html
from reports.dataset import dataset_report_html
from speech2face.audio.dataset import BadClip, read_bad_clips, write_bad_clips
from speech2face.manifest.load import fill_unknowns
from tests.report_artifacts import planted_manifest

FORMULAS = ['=HYPERLINK("http://x")', "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"]


def test_every_csv_cell_that_a_spreadsheet_would_run_is_neutralised(tmp_path):
    path = tmp_path / "skipped_clips.csv"
    clips = [BadClip(clip_id=text, path=f"{text}.wav", reason=text) for text in FORMULAS]
    write_bad_clips(path, [*clips, BadClip("ok", "a.wav", "bad header")])
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in raw.columns:
        assert not raw[column].str.startswith(("=", "+", "-", "@", "\t", "\r")).any(), column
    assert raw["clip_id"].tolist()[-1] == "ok"
    write_bad_clips(path, read_bad_clips(path))  # a rewrite neutralises nothing twice
    assert pd.read_csv(path, dtype=str)["clip_id"].iloc[0] == "'" + FORMULAS[0]


def test_nul_and_bidi_characters_in_user_strings_are_shown_escaped():
    manifest = fill_unknowns(planted_manifest())
    manifest["language"] = manifest["language"].where(manifest["language"] != "en", "e\u202en\x00")
    html = dataset_report_html(analyze_dataset(manifest), source="m\u2066.parquet")
    assert "\u202e" not in html and "\x00" not in html and "\u2066" not in html
    assert "e\\u202en\\u0000" in html and "m\\u2066.parquet" in html


def test_nul_and_bidi_characters_in_figure_labels_are_drawn_escaped():
    """A group named with a right-to-left override would draw reversed in a chart (and NUL
    invisibly): labels are written out as the page writes them."""
    frame = pd.DataFrame(
        {"group": ["e\u202en\x00", "fr"], "value": [0.5, 0.6], "ci_low": [0.4, 0.5]}
    ).assign(ci_high=[0.6, 0.7], status="ok", flag=False, reference="overall")
    figure = figures.forest_plot([("language", frame)], metric="m", unit="proportion")
    figure_html(figure, alt="forest")
    drawn = [text.get_text() for text in figure.findobj(Text)]
    drawn += [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert "e\\u202en\\u0000" in drawn
    assert not any("\u202e" in text or "\x00" in text for text in drawn)
