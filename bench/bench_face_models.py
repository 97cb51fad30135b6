"""Train the small face models on synthetic renders; time them and measure their quality.

Renders ``--identities`` training identities (plus ``--held-out`` more) with
``--renders`` varied renders each, then trains, with the default small configs:

- the face encoder (identity softmax): training time, verification accuracy on the
  held-out identities' varied renders (threshold from a validation half; chance 50%);
- the face decoder on the encoder's features of canonical faces: training time, loss
  curve, image L1 and landmark error on held-out identities vs the mean face;
- the attribute classifier: training time, accuracy on held-out identities' varied
  renders, canonical faces and their decoder reconstructions (F2F) vs majority class.

Writes the true-vs-reconstructed grid to ``--grid`` (default docs/images/face_decoder_grid.png)::

    .venv/bin/python bench/bench_face_models.py --threads 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from speech2face.models.attribute_classifier import age_decades, predict_attributes
from speech2face.models.face_encoder import encode_images
from speech2face.training.face_models import (
    synthetic_face_set,
    train_attribute_classifier,
    train_face_decoder,
    train_face_encoder,
    verification_score,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=200)
    parser.add_argument("--held-out", type=int, default=50)
    parser.add_argument("--renders", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", type=Path, default=Path("docs/images/face_decoder_grid.png"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    faces = synthetic_face_set(
        args.identities + args.held_out, renders_per_identity=args.renders, seed=args.seed
    )
    print(
        f"rendered {len(faces.images)} varied + {len(faces.canonical_images)} canonical "
        f"64x64 faces in {time.perf_counter() - start:.1f} s"
    )
    ids = faces.identities
    train = ids < args.identities
    held = np.arange(args.identities, args.identities + args.held_out)

    start = time.perf_counter()
    encoder = train_face_encoder(faces.images[train], ids[train], seed=args.seed)
    encoder_s = time.perf_counter() - start
    verification = verification_score(
        encode_images(encoder, faces.images[~train]), ids[~train], seed=args.seed
    )
    print(
        f"face encoder: trained in {encoder_s:.1f} s ({args.threads} threads); held-out "
        f"verification accuracy {verification.accuracy:.3f} on {verification.n_test_pairs} "
        f"pairs (chance 0.5; validation {verification.validation_accuracy:.3f})"
    )

    features = encode_images(encoder, faces.canonical_images)
    start = time.perf_counter()
    decoder = train_face_decoder(
        features[: args.identities],
        faces.canonical_images[: args.identities],
        faces.canonical_landmarks[: args.identities],
        seed=args.seed,
    )
    decoder_s = time.perf_counter() - start
    images, landmarks = decoder.decode(torch.from_numpy(features))
    reconstructions = (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    truth = faces.canonical_images.astype(np.float32) / 255
    image_l1 = np.abs(reconstructions[held] / 255 - truth[held]).mean()
    mean_face_l1 = np.abs(truth[: args.identities].mean(0) - truth[held]).mean()
    landmark_error = np.abs(landmarks.numpy()[held] - faces.canonical_landmarks[held]).mean()
    mean_landmark_error = np.abs(
        faces.canonical_landmarks[: args.identities].mean(0) - faces.canonical_landmarks[held]
    ).mean()
    curve = ", ".join(
        f"{loss:.3f}" for loss in decoder.loss_history[:: max(1, len(decoder.loss_history) // 6)]
    )
    print(
        f"face decoder: trained in {decoder_s:.1f} s; loss {decoder.loss_history[0]:.3f} -> "
        f"{decoder.loss_history[-1]:.3f} (every few epochs: {curve})"
    )
    print(
        f"  held-out image L1 {image_l1:.4f} (mean face {mean_face_l1:.4f}, ratio "
        f"{image_l1 / mean_face_l1:.2f}); landmark error {landmark_error:.2f} px (mean "
        f"landmarks {mean_landmark_error:.2f} px, ratio {landmark_error / mean_landmark_error:.2f})"
    )
    _save_grid(faces.canonical_images[held[:8]], reconstructions[held[:8]], args.grid)
    print(f"  wrote {args.grid}")

    genders, ages, ethnicities = faces.genders[ids], faces.ages[ids], faces.ethnicities[ids]
    start = time.perf_counter()
    classifier = train_attribute_classifier(
        faces.images[train],
        genders=genders[train],
        ages=ages[train],
        ethnicities=ethnicities[train],
        seed=args.seed,
    )
    classifier_s = time.perf_counter() - start
    print(f"attribute classifier: trained in {classifier_s:.1f} s")
    print("  faces                      gender  age decade  age MAE (y)  ethnicity")
    cases = {
        "held-out varied renders": (faces.images[~train], ids[~train]),
        "held-out canonical (true)": (faces.canonical_images[held], held),
        "held-out F2F reconstruct.": (reconstructions[held], held),
    }
    predicted_by_case = {}
    for name, (images_, who) in cases.items():
        predicted = predicted_by_case[name] = predict_attributes(classifier, images_)
        print(
            f"  {name:26s} {np.mean(predicted['gender'] == faces.genders[who]):6.3f}  "
            f"{np.mean(predicted['age_decade'] == age_decades(faces.ages[who])):10.3f}  "
            f"{np.abs(predicted['age_years'] - faces.ages[who]).mean():11.1f}  "
            f"{np.mean(predicted['ethnicity'] == faces.ethnicities[who]):9.3f}"
        )
    majority = {
        "gender": _majority_share(faces.genders[held], faces.genders[: args.identities]),
        "decade": _majority_share(
            age_decades(faces.ages[held]), age_decades(faces.ages[: args.identities])
        ),
        "ethnicity": _majority_share(faces.ethnicities[held], faces.ethnicities[: args.identities]),
    }
    true_faces = predicted_by_case["held-out canonical (true)"]
    f2f_faces = predicted_by_case["held-out F2F reconstruct."]
    agreement = {
        attribute: np.mean(true_faces[attribute] == f2f_faces[attribute])
        for attribute in ("gender", "age_decade", "ethnicity")
    }
    print(
        "  F2F agreement with the true face's labels: "
        + ", ".join(f"{name} {value:.3f}" for name, value in agreement.items())
    )
    mean_age_error = np.abs(faces.ages[held] - faces.ages[: args.identities].mean()).mean()
    print(
        f"  {'majority class / mean age':26s} {majority['gender']:6.3f}  "
        f"{majority['decade']:10.3f}  {mean_age_error:11.1f}  {majority['ethnicity']:9.3f}"
    )


def _majority_share(test: np.ndarray, train: np.ndarray) -> float:
    values, counts = np.unique(train, return_counts=True)
    return float(np.mean(test == values[counts.argmax()]))


def _save_grid(truth: np.ndarray, reconstructed: np.ndarray, path: Path) -> None:
    """Top row true canonical faces, bottom row their reconstructions, 2× enlarged."""
    grid = np.concatenate([np.concatenate(list(truth), 1), np.concatenate(list(reconstructed), 1)])
    height, width = grid.shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).resize((width * 2, height * 2), Image.NEAREST).save(path)


if __name__ == "__main__":
    main()
