"""Example faces of flagged groups: synthetic shown, real only when asked, never below k."""

from __future__ import annotations

import base64
import io
import re
import shutil

import pandas as pd
import pytest
from PIL import Image

from audit.engine import run_audit
from reports._faces import (
    INCLUDE_FACES_NEEDS_SOURCE,
    SPEAKERS_PER_GROUP,
    THUMBNAIL_PX,
    FaceSource,
)
from reports.audit import audit_report_html, render_audit_report
from s2f.cli import main
from s2f.commands.options import NO_DATASET_REPORT
from speech2face.errors import InputError
from speech2face.prediction.artifact import write_predictions
from speech2face.synth.provenance import is_synthetic_face
from tests.browser import chromium_page
from tests.report_artifacts import LOW_AGREEMENT_GROUP, face_manifest, planted_predictions
from tests.report_browser import outline

FACE = re.compile(
    r'<img alt="(synthetic|true) face of speaker (s\d+)" src="data:image/jpeg;base64,([^"]+)"'
)


@pytest.fixture(scope="module")
def predictions():
    return planted_predictions()


@pytest.fixture(scope="module")
def result(predictions):
    """Gender agreement only (fast to render); ethnicity group_c is flagged."""
    return run_audit(
        predictions,
        slices=["gender", "ethnicity", "language"],
        metrics=["s2f_gender_agreement"],
        n_boot=60,
        fairlearn_views=False,
    )


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory, predictions):
    return face_manifest(tmp_path_factory.mktemp("synthetic"), predictions, synthetic=True)


@pytest.fixture(scope="module")
def real(tmp_path_factory, predictions):
    return face_manifest(tmp_path_factory.mktemp("real"), predictions, synthetic=False)


def _strip(html: str, title: str) -> list[tuple[str, str, str]]:
    """The (kind, speaker, base64 JPEG) faces shown under ``title``."""
    start = html.index(f'<p class="note">{title}</p>')
    end = html.index("</div>", start)
    return FACE.findall(html[start:end])


def test_synthetic_faces_of_a_flagged_group_are_its_own_speakers(result, synthetic):
    html = audit_report_html(result, source="a", faces=synthetic)
    flags = html[html.index('<section id="flags">') : html.index('<section id="groups">')]
    assert "Example faces of flagged groups" in flags
    faces = _strip(flags, f"ethnicity = {LOW_AGREEMENT_GROUP}")
    assert len(faces) == SPEAKERS_PER_GROUP
    components = result.components
    members = set(
        components.loc[components["slice:ethnicity"] == LOW_AGREEMENT_GROUP, "speaker_id"]
    )
    assert {speaker for _, speaker, _ in faces} <= members
    assert len({speaker for _, speaker, _ in faces}) == SPEAKERS_PER_GROUP
    for kind, _, data in faces:
        assert kind == "synthetic"
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        assert image.size == (THUMBNAIL_PX, THUMBNAIL_PX) and len(data) < 12_000
    assert "face image(s) of" in html[html.index('<section id="caveats">') :]


def test_real_faces_only_with_include_faces(result, real):
    hidden = audit_report_html(result, source="a", faces=real)
    assert not FACE.search(hidden)
    assert "photographs of real people, shown only with include_faces" in hidden
    shown = audit_report_html(result, source="a", faces=real, include_faces=True)
    faces = _strip(shown, f"ethnicity = {LOW_AGREEMENT_GROUP}")
    assert [kind for kind, _, _ in faces] == ["true"] * SPEAKERS_PER_GROUP
    assert "because include_faces was given" in shown


def test_no_faces_for_a_group_below_the_privacy_threshold(result, synthetic):
    """With k = 50 the flagged group (40 speakers) is suppressed: no table row, no face."""
    html = audit_report_html(result, source="a", faces=synthetic, privacy_k=50)
    assert not FACE.search(html)


def test_include_faces_without_faces_is_an_error(result, tmp_path):
    with pytest.raises(InputError, match=re.escape(INCLUDE_FACES_NEEDS_SOURCE)):
        audit_report_html(result, source="a", include_faces=True)
    bare = tmp_path / "manifest.csv"
    bare.write_text("clip_id,speaker_id\nc1,s1\n")
    with pytest.raises(InputError, match="no face_path column"):
        audit_report_html(result, source="a", faces=bare, include_faces=True)
    assert "no face images were given" in audit_report_html(result, source="a")


@pytest.mark.browser
def test_faces_decode_in_chromium(result, synthetic, tmp_path):
    path = render_audit_report(result, tmp_path / "report.html", faces=synthetic)
    with chromium_page(path) as driver:
        assert outline(driver).errors == []
        widths = driver.execute_script(
            "return Array.from(document.querySelectorAll('figure.face img'))"
            ".map(i => i.naturalWidth)"
        )
        assert widths and set(widths) == {THUMBNAIL_PX}


def test_s2f_audit_shows_faces_named_by_the_predictions_manifest(tmp_path, predictions):
    """``s2f audit --include-faces --dataset-report``: faces via meta.json's manifest."""
    faces = face_manifest(tmp_path / "data", predictions, synthetic=False)
    dataset_report = tmp_path / "data" / "report.html"
    dataset_report.write_text("<html></html>")
    folder = tmp_path / "predictions"
    meta = {**predictions.meta, "manifest": str(faces)}
    write_predictions(folder, predictions.table, features=predictions.features, meta=meta)
    options = ["--metrics", "s2f_gender_agreement", "--slices", "gender,ethnicity"]
    out = tmp_path / "runs" / "audit"
    argv = ["audit", str(folder), "--out", str(out), "--n-boot", "40", *options]
    assert main([*argv, "--include-faces", "--dataset-report", str(dataset_report)]) == 0
    html = (out / "report.html").read_text()
    assert len(_strip(html, f"ethnicity = {LOW_AGREEMENT_GROUP}")) == SPEAKERS_PER_GROUP
    assert '<a href="../../data/report.html">dataset report</a>' in html
    assert main(argv) == 0  # real faces, not asked for: none
    assert not FACE.search((out / "report.html").read_text())


def test_s2f_audit_dataset_report_must_exist(tmp_path, capsys):
    missing = tmp_path / "nowhere.html"
    with pytest.raises(SystemExit) as exit_:
        main(
            ["audit", str(tmp_path), "--out", str(tmp_path / "a"), "--dataset-report", str(missing)]
        )
    assert exit_.value.code == 2
    assert NO_DATASET_REPORT.format(path=missing) in capsys.readouterr().err


def test_a_manifest_beside_a_corpus_record_does_not_make_photos_synthetic(
    result, synthetic, real, tmp_path
):
    """Synthetic-ness comes from the corpus's record of each face (path and content hash),
    not from a ``ground_truth.json`` beside the manifest or a file copied into a corpus."""
    assert FaceSource.read(synthetic).synthetic and not FaceSource.read(real).synthetic
    beside = synthetic.parent / "photos.csv"  # a manifest saved in the corpus folder
    photos = pd.read_csv(real).assign(face_path=lambda f: str(real.parent) + "/" + f["face_path"])
    photos.to_csv(beside, index=False)
    assert not FaceSource.read(beside).synthetic
    html = audit_report_html(result, source="a", faces=beside)
    assert not FACE.search(html)  # shown only with --include-faces
    swapped = tmp_path / "swapped"
    shutil.copytree(synthetic.parent, swapped)
    first = sorted(swapped.glob("*.png"))[0]
    shutil.copy(sorted(real.parent.glob("*.png"))[1], first)  # a photo under a recorded name
    assert not is_synthetic_face(first)
    assert not FaceSource.read(swapped / synthetic.name).synthetic
