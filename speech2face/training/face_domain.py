"""The domain of a run's faces: what its face stack and attribute classifiers learnt from.

A face encoder, decoder and attribute classifier trained by ``s2f train-faces`` have seen
only the synthetic corpus's drawings; dlib descriptors and ``s2f attributes train``
classifiers come from photographs; VGG-Face weights are the user's. Applied to faces of
another domain they mislabel without any sign of it. ``s2f train`` records the domain in
``RUN/face_domain.json``; ``s2f predict`` compares it with the manifest's faces (a
synthetic corpus's, or photos), warns on a mismatch and writes the comparison into the
predictions' ``meta.json``, from which the audit report carries the caveat.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from speech2face.artifacts import FACE_DOMAIN_FILE, FACE_STACK_FILE
from speech2face.atomic import write_json
from speech2face.synth.provenance import manifest_faces_synthetic

SYNTHETIC, REAL, USER = "synthetic", "real", "user"
DESCRIPTIONS = {
    SYNTHETIC: "synthetic drawings (the synthetic corpus)",
    REAL: "real photos",
    USER: "the user's own weights (VGG-Face, trained on photos)",
}
STACK_DOMAINS = {
    "face_models": (SYNTHETIC, "face models trained by s2f train-faces on synthetic drawings"),
    "vggface": (USER, "the user's VGG-Face weights"),
}
DOMAIN_MISMATCH = (
    "warning: the {part} of {run} learnt from {learnt}, but the faces of {manifest} are "
    "{faces}: its features and attributes of these faces are out of domain and can be "
    "wrong with no sign of it; {fix}"
)
FIXES = {
    SYNTHETIC: "use a face stack of real faces (s2f face-features, s2f train on stored "
    "descriptors, s2f attributes train; docs/real-data.md)",
    REAL: "use face models trained on the synthetic corpus (s2f train-faces)",
}


def manifest_face_domain(manifest: str | os.PathLike) -> str:
    """``synthetic`` when every face of the manifest is one a synthetic corpus recorded
    (path and content hash), else ``real`` (photos)."""
    return SYNTHETIC if manifest_faces_synthetic(manifest) else REAL


def run_face_domain(kind: str, manifest: str | os.PathLike) -> dict[str, Any]:
    """The domain record of a run trained with face stack ``kind`` on ``manifest``."""
    if kind in STACK_DOMAINS:
        domain, source = STACK_DOMAINS[kind]
    else:  # stored features: those of the training manifest's faces
        domain = manifest_face_domain(manifest)
        source = f"stored face features of {DESCRIPTIONS[domain]}"
    attributes = SYNTHETIC if kind == "face_models" else None
    return {
        "face_stack": {"kind": kind, "domain": domain, "source": source},
        "attribute_classifier": None
        if attributes is None
        else {"domain": attributes, "source": "attribute classifier of s2f train-faces"},
    }


def record_face_domain(run_dir: str | os.PathLike, kind: str, manifest: str | os.PathLike):
    """Write ``RUN/face_domain.json``."""
    write_json(Path(run_dir) / FACE_DOMAIN_FILE, run_face_domain(kind, manifest), indent=2)


def read_face_domain(run_dir: str | os.PathLike) -> dict[str, Any]:
    """A run's face domain; a run that did not record it is judged by its face stack."""
    path = Path(run_dir) / FACE_DOMAIN_FILE
    if path.is_file():
        return json.loads(path.read_text())
    stack_file = Path(run_dir) / FACE_STACK_FILE
    kind = json.loads(stack_file.read_text())["face_stack"] if stack_file.is_file() else None
    if kind is None or kind == "face_models":
        return run_face_domain("face_models", run_dir)
    record = run_face_domain(kind, run_dir)
    record["face_stack"]["domain"] = USER  # not recorded: stored features of unknown origin
    record["face_stack"]["source"] = "stored face features (domain not recorded)"
    return record


def compare_domains(
    run_domain: dict[str, Any],
    manifest: str | os.PathLike,
    *,
    run: str | os.PathLike,
    descriptor_classifiers: bool = False,
) -> dict[str, Any]:
    """The run's domains beside the manifest's faces, and a warning per mismatch."""
    faces = manifest_face_domain(manifest)
    parts = {"face stack": run_domain.get("face_stack")}
    attributes = run_domain.get("attribute_classifier")
    if attributes is None and descriptor_classifiers:
        attributes = {"domain": REAL, "source": "s2f attributes train on photo descriptors"}
    parts["attribute classifier"] = attributes
    warnings = []
    for part, record in parts.items():
        if not record:
            continue
        learnt = record["domain"]
        mismatch = (learnt == SYNTHETIC) != (faces == SYNTHETIC)
        if mismatch:
            warnings.append(
                DOMAIN_MISMATCH.format(
                    part=part,
                    run=run,
                    learnt=DESCRIPTIONS[learnt],
                    manifest=manifest,
                    faces=DESCRIPTIONS[faces],
                    fix=FIXES[learnt if learnt == SYNTHETIC else REAL],
                )
            )
    return {
        "faces": faces,
        "face_stack": parts["face stack"],
        "attribute_classifier": attributes,
        "mismatch": bool(warnings),
        "warnings": warnings,
    }
