"""Label provenance in audit.json: ``true_landmarks_source`` says where landmarks came from."""

import numpy as np
import pandas as pd

from audit.engine import run_audit
from speech2face.prediction.artifact import Predictions


def test_landmark_sources_and_missing_labels_raise_no_source_caveat():
    rng = np.random.default_rng(0)
    n = 12
    table = pd.DataFrame(
        {
            "clip_id": [f"c{i}" for i in range(n)],
            "speaker_id": [f"s{i // 2}" for i in range(n)],
            "duration_s": 6.0,
            "gender": ["female", "male"] * (n // 2),
            "gender_source": "self_reported",
            "true_gender": ["female", "male"] * (n // 2),
            "true_gender_source": "inferred",
            "s2f_gender": rng.choice(["female", "male"], n),
            "true_landmarks_source": ["dlib"] * (n - 2) + ["unknown"] * 2,
            "ethnicity": "unknown",
            "ethnicity_source": "unknown",  # how load_manifest marks a missing label's source
        }
    )
    features = {name: rng.normal(size=(n, 8)) for name in ("pred_feature", "true_feature")}
    result = run_audit(
        Predictions(table=table, features=features), n_boot=5, min_speakers=2, seed=0
    )
    caveats = result.summary["caveats"]
    assert not [line for line in caveats if "unrecognised label sources" in line]
    assert any(line.startswith("true_gender labels of 12 clip(s) are inferred") for line in caveats)
    assert set(result.summary["label_provenance"]) == {"gender", "true_gender", "ethnicity"}
