import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from speech2face.errors import InputError
from speech2face.importers._common import (
    assign_splits,
    manifest_path_value,
    move_to_validation,
    split_by_speaker,
)
from speech2face.importers.vocabulary_map import (
    ETHNICITIES,
    VOCABULARY_MAP,
    map_age_group,
    map_category,
    mapping_table_markdown,
)
from speech2face.vocabulary import GENDERS, UNKNOWN

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "importers"


def _fraction(speaker):
    return int(hashlib.sha1(speaker.encode()).hexdigest()[:12], 16) / 16**12


def test_split_by_speaker_follows_the_hash_and_never_splits_a_speaker():
    speakers = pd.Series([f"spk{i % 300}" for i in range(900)])
    splits = split_by_speaker(speakers, "0.7,0.2,0.1")
    expected = [
        "train" if _fraction(s) < 0.7 else "val" if _fraction(s) < 0.9 else "test" for s in speakers
    ]
    assert list(splits) == expected
    per_speaker = pd.Series(splits).groupby(speakers).nunique()
    assert per_speaker.max() == 1
    shares = pd.Series(splits).groupby(speakers).first().value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.7, abs=0.08)


def test_move_to_validation_moves_only_training_speakers_below_the_fraction():
    speakers = pd.Series(["a", "b", "c", "d", "e", "a"])
    splits = np.array(["train", "train", "test", "train", "train", "train"], dtype=object)
    moved = move_to_validation(splits, speakers, 0.5)
    expected = [
        "val" if (split == "train" and _fraction(s) < 0.5) else split
        for s, split in zip(speakers, splits, strict=True)
    ]
    assert list(moved) == expected
    assert splits[0] == "train"


@pytest.mark.parametrize("fractions", ["0.5,0.5", "0.8,0.3,-0.1", "a,b,c", "0.5,0.2,0.2"])
def test_bad_fractions(fractions):
    with pytest.raises(InputError, match="split fractions"):
        split_by_speaker(pd.Series(["a"]), fractions)


def test_forced_split_and_bad_split():
    assert list(assign_splits(None, pd.Series(["a", "b"]), split="test")) == ["test", "test"]
    with pytest.raises(InputError, match="split 'dev'"):
        assign_splits(None, pd.Series(["a"]), split="dev")


def test_paths_inside_the_manifest_folder_are_relative(tmp_path):
    assert manifest_path_value(tmp_path / "a" / "b.wav", tmp_path) == "a/b.wav"
    assert manifest_path_value(Path("/data/x.wav"), tmp_path) == "/data/x.wav"


def test_mapping_table_targets_the_toolkit_vocabulary():
    for entry in VOCABULARY_MAP:
        if entry.column == "gender":
            assert entry.value in (*GENDERS, UNKNOWN)
        elif entry.column == "ethnicity":
            assert entry.value in ETHNICITIES
        else:
            assert entry.column == "age" and entry.years[0] <= entry.years[1]
    keys = [(e.dataset, e.column, e.original.casefold()) for e in VOCABULARY_MAP]
    assert len(keys) == len(set(keys))


def test_mapping_ignores_case_and_spaces_and_keeps_missing_unknown():
    values = pd.Series([" MALE ", "Female", "", None])
    assert list(map_category("fairface", "gender", values)) == ["male", "female", UNKNOWN, UNKNOWN]
    ages = pd.Series(["more than 70", "3-9", ""])
    assert list(map_age_group("fairface", ages)) == ["70+", "<20", UNKNOWN]


def test_docs_show_the_mapping_table_exactly():
    docs = (ROOT / "docs" / "importers.md").read_text()
    assert mapping_table_markdown() in docs
