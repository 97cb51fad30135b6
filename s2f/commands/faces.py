"""``s2f faces`` (real face analysis) and ``s2f attributes train`` (ethnicity from descriptors)."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from speech2face.backends.face_options import (
    DEFAULT_FPS,
    DEFAULT_WORKERS,
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
)

if TYPE_CHECKING:
    import pandas as pd


def register(subparsers: argparse._SubParsersAction) -> None:
    faces = subparsers.add_parser(
        "faces",
        help="real photos and video frames → face descriptor, landmarks, craniofacial measures, "
        "age, gender",
        description=(
            "Detect, align and analyse the face in each image and in frames sampled from each "
            "video (needs the [faces] extra). One row per image or frame; an image with no face "
            "or several faces is a row that says so, and so is a file that cannot be read. "
            "Images and frames unchanged since an earlier run into the same --out are not "
            "analysed again."
        ),
    )
    faces.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE_VIDEO_OR_DIR",
        help=f"image or video files, or folders searched recursively for images "
        f"({', '.join(IMAGE_SUFFIXES)}) and videos ({', '.join(VIDEO_SUFFIXES)})",
    )
    faces.add_argument("--out", required=True, type=Path, help="faces table (Parquet)")
    faces.add_argument("--detector", choices=("hog", "cnn"), default="hog")
    faces.add_argument(
        "--upsample", type=int, default=1, help="detector upsampling steps (finds smaller faces)"
    )
    faces.add_argument(
        "--video-fps",
        type=float,
        default=DEFAULT_FPS,
        metavar="F",
        help=f"video frames analysed per second of video (default {DEFAULT_FPS:g}; a rate at or "
        "above the video's own takes every frame)",
    )
    faces.add_argument(
        "--max-frames-per-video",
        type=int,
        metavar="N",
        help="at most N frames per video, spread evenly over it (default: no limit)",
    )
    faces.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"processes analysing batches side by side, each loading the models once "
        f"(default {DEFAULT_WORKERS}); the table is the same for any N",
    )
    faces.add_argument(
        "--batch-size",
        type=int,
        default=16,
        help="images or frames per batch; each finished batch is saved, so a killed run resumes",
    )
    faces.set_defaults(handler=run_faces)

    attach = subparsers.add_parser(
        "face-features",
        help="attach a faces table to a manifest: descriptors as face features, inferred labels",
        description=(
            "Write a copy of MANIFEST whose face_feature_path points at each face image's 128-D "
            "descriptor (.npy), the true face feature for s2f train/predict. With "
            "--infer-demographics, missing gender and age are filled from the faces table and "
            "marked inferred."
        ),
    )
    attach.add_argument("--manifest", required=True, type=Path)
    attach.add_argument("--faces", required=True, type=Path, help="faces table (s2f faces)")
    attach.add_argument("--out", required=True, type=Path, help="manifest to write (.parquet)")
    attach.add_argument("--features-dir", type=Path, help="default: face_features/ beside --out")
    attach.add_argument("--infer-demographics", action="store_true")
    attach.add_argument(
        "--trust-assumed-aligned",
        action="store_true",
        help="also infer labels from assumed_aligned rows (small crops taken whole as the face; "
        "by default they get a feature but no inferred gender or age)",
    )
    attach.set_defaults(handler=run_face_features)

    attributes = subparsers.add_parser(
        "attributes", help="attribute classifiers on real face descriptors"
    )
    actions = attributes.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = actions.add_parser(
        "train",
        help="train an ethnicity classifier on labelled face descriptors (FairFace, UTKFace)",
        description=(
            "Fit a classifier from 128-D face descriptors (s2f faces) to a label column of a "
            "face manifest (s2f import fairface|utkface); report held-out accuracy per class. "
            "With test rows, train+val fit and test measures; without (FairFace ships only "
            "train and val labels), train fits and val measures."
        ),
    )
    train.add_argument(
        "--manifest",
        required=True,
        type=Path,
        action="append",
        help="face manifest; repeat to combine several (FairFace's train and val imports)",
    )
    train.add_argument("--faces", required=True, type=Path, help="faces table of its images")
    train.add_argument(
        "--out",
        required=True,
        type=Path,
        help="classifier file, a Python pickle (.pkl); loading a pickle runs code, so load only "
        "files you made",
    )
    train.add_argument("--label", default="ethnicity", help="manifest column to predict")
    train.add_argument("--model", choices=("logistic", "mlp"), default="logistic")
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(handler=run_attributes_train)


def run_faces(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from speech2face.backends.face_inputs import face_inputs, find_media
    from speech2face.backends.face_pool import FacePool
    from speech2face.backends.face_table import build_faces_table, check_batch_size
    from speech2face.backends.photo_faces import FaceAnalyzer, FaceSettings
    from speech2face.backends.video import VideoSampling

    check_batch_size(args.batch_size)
    settings = FaceSettings(detector=args.detector, upsample=args.upsample)
    sampling = VideoSampling(fps=args.video_fps, max_frames=args.max_frames_per_video)
    inputs = face_inputs(find_media(args.images), sampling=sampling)
    analysis = (
        nullcontext(FaceAnalyzer(settings))
        if args.workers == 1
        else FacePool(settings, workers=args.workers)
    )
    with (
        analysis as analyzer,
        tqdm(total=len(inputs), unit="image", file=sys.stderr, desc="faces") as bar,
    ):
        table = build_faces_table(
            inputs, analyzer=analyzer, out=args.out, batch_size=args.batch_size, progress=bar.update
        )
    print(f"{args.out}: {_faces_summary(table)}")
    return 0


def _faces_summary(table: pd.DataFrame) -> str:
    """``4 images, 6 frames of 1 video (8 ok, 2 no_face)``: what a faces table holds."""
    from speech2face.backends.video import is_video

    videos = table["image_path"].map(is_video).to_numpy()
    held = [] if videos.all() else [_count(int((~videos).sum()), "image")]
    if videos.any():
        frames = int((table["frame_index"] >= 0).sum())
        n_videos = table.loc[videos, "image_path"].nunique()
        held.append(f"{_count(frames, 'frame')} of {_count(n_videos, 'video')}")
    counts = ", ".join(f"{n} {status}" for status, n in table["status"].value_counts().items())
    return f"{', '.join(held)} ({counts})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def run_face_features(args: argparse.Namespace) -> int:
    from speech2face.backends.face_features import attach_face_features

    result = attach_face_features(
        manifest=args.manifest,
        faces=args.faces,
        out=args.out,
        features_dir=args.features_dir,
        infer=args.infer_demographics,
        trust_assumed_aligned=args.trust_assumed_aligned,
    )
    print(result.summary())
    return 0


def run_attributes_train(args: argparse.Namespace) -> int:
    from speech2face.backends.label_classifier import train_label_classifier

    result = train_label_classifier(
        manifest=args.manifest,
        faces=args.faces,
        out=args.out,
        label=args.label,
        model=args.model,
        seed=args.seed,
    )
    print(result.summary())
    return 0
