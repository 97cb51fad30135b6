"""Speaker sampling and imbalance specs: exact group counts, mismatch, label noise, bad input."""

import json
from itertools import product

import numpy as np
import pytest

from speech2face.errors import InputError
from speech2face.manifest import age_to_group
from speech2face.synth import presets
from speech2face.synth.presets import (
    ATTRIBUTES,
    PRESETS,
    load_imbalance_config,
    resolve_imbalance,
    spec_from_dict,
)
from speech2face.synth.sentences import LANGUAGES
from speech2face.synth.speakers import (
    SPEAKER_COLUMNS,
    apportion,
    sample_speakers,
    split_sizes,
    spread,
)


def _speakers(spec, n=200, seed=0, test_fraction=0.6, val_fraction=0.1):
    return sample_speakers(
        n_speakers=n, spec=spec, seed=seed, test_fraction=test_fraction, val_fraction=val_fraction
    )


def test_apportion_is_exact_and_within_one_of_each_share():
    shares = {"a": 0.5, "b": 0.29, "c": 0.12, "d": 0.09}
    for total in range(0, 300, 7):
        counts = apportion(total, shares)
        assert sum(counts.values()) == total
        assert all(abs(counts[g] - shares[g] * total) < 1 for g in shares)
    assert apportion(10, {"x": 0.25, "y": 0.25, "z": 0.5}) == {"x": 3, "y": 2, "z": 5}


def test_spread_interleaves_groups_evenly():
    sequence = spread({"a": 6, "b": 3, "c": 3})
    assert sorted(sequence) == ["a"] * 6 + ["b"] * 3 + ["c"] * 3
    for start in range(len(sequence)):
        for stop in range(start + 1, len(sequence) + 1):
            window = sequence[start:stop]
            assert abs(window.count("a") - len(window) / 2) < 2


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("n", [57, 200, 2000])
def test_every_split_matches_its_requested_shares_within_one_speaker_per_cell(name, n):
    spec = PRESETS[name]
    speakers = _speakers(spec, n=n, seed=n)
    for split in ("train", "test"):
        rows = speakers[speakers["split"] == split]
        shares = spec.shares(split)
        for attribute in ATTRIBUTES:
            counts = rows[attribute].value_counts()
            for group, share in shares[attribute].items():
                assert abs(counts.get(group, 0) - share * len(rows)) < 1, (split, attribute, group)
        joint = rows.groupby(["ethnicity", "gender"]).size()
        for (ethnicity, e_share), (gender, g_share) in product(
            shares["ethnicity"].items(), shares["gender"].items()
        ):
            target = e_share * g_share * len(rows)
            assert abs(joint.get((ethnicity, gender), 0) - target) < 1
        mismatched = rows["language_mismatch"].sum()
        assert abs(mismatched - spec.mismatch(split) * len(rows)) <= 0.5


def test_speaker_table_columns_ages_and_ids():
    speakers = _speakers(PRESETS["balanced"])
    assert tuple(speakers.columns) == SPEAKER_COLUMNS
    assert speakers["speaker_id"].is_unique
    assert speakers["identity_seed"].is_unique
    assert (age_to_group(speakers["age"]) == speakers["age_group"].to_numpy()).all()
    assert speakers["split"].value_counts().to_dict() == {"test": 120, "train": 60, "val": 20}
    # ids are shuffled: the first speakers are not all of one split
    assert speakers["split"].head(20).nunique() > 1


def test_language_follows_ethnicity_except_for_mismatched_speakers():
    spec = PRESETS["balanced"]
    speakers = _speakers(spec, n=400)
    assert set(speakers["language"]) <= set(LANGUAGES)
    for row in speakers.itertuples():
        typical = spec.typical_languages[row.ethnicity]
        assert (row.language not in typical) == row.language_mismatch
    # every language is spoken, and every group speaks each of its typical languages
    assert set(speakers["language"]) == set(LANGUAGES)


def test_language_mismatch_preset_plants_mismatch_only_in_test():
    speakers = _speakers(PRESETS["language_mismatch"], n=400)
    by_split = speakers.groupby("split")["language_mismatch"].mean()
    assert by_split["train"] == 0
    assert by_split["test"] == pytest.approx(0.3, abs=0.01)


def test_missing_elders_has_no_train_elders_but_measurable_test_elders():
    speakers = _speakers(PRESETS["missing_elders"], n=400)
    train = speakers[speakers["split"] == "train"]
    test = speakers[speakers["split"] == "test"]
    assert train["age"].max() < 60
    assert (test["age"] >= 60).sum() == pytest.approx(len(test) / 3, abs=1)


def test_same_seed_same_speakers_other_seed_other_speakers():
    spec = PRESETS["paper_like"]
    first, again, other = _speakers(spec), _speakers(spec), _speakers(spec, seed=1)
    assert first.equals(again)
    assert not first["age"].equals(other["age"])


def test_label_noise_flips_exactly_the_requested_share_of_a_group():
    spec = spec_from_dict(
        {"label_noise": {"ethnicity": {"group_c": 0.2}, "gender": {"female": 0.1}}}
    )
    speakers = _speakers(spec, n=400, test_fraction=0.5, val_fraction=0.0)
    for split, rows in speakers.groupby("split"):
        group_c = rows[rows["ethnicity"] == "group_c"]
        flipped = (group_c["ethnicity_label"] != "group_c").sum()
        assert flipped == round(0.2 * len(group_c)), split
        others = rows[rows["ethnicity"] != "group_c"]
        assert (others["ethnicity_label"] == others["ethnicity"]).all()
        women = rows[rows["gender"] == "female"]
        assert (women["gender_label"] == "male").sum() == round(0.1 * len(women))
    assert set(speakers["ethnicity_label"]) <= set(presets.SYNTHETIC_ETHNICITIES)


def test_config_file_round_trips_and_presets_resolve(tmp_path):
    path = tmp_path / "skew.json"
    config = {
        "train": {"gender": {"female": 0.2, "male": 0.8}},
        "language_mismatch_rate": {"train": 0.0, "test": 0.25},
        "label_noise": {"ethnicity": {"group_d": 0.3}},
    }
    path.write_text(json.dumps(config))
    spec = resolve_imbalance(path)
    assert spec.name == "skew"
    assert dict(spec.train_shares["gender"]) == {"female": 0.2, "male": 0.8}
    assert dict(spec.test_shares["gender"]) == {"female": 0.5, "male": 0.5}
    assert spec.mismatch("train") == 0.0 and spec.mismatch("test") == 0.25
    assert spec_from_dict(spec.to_dict()) == spec
    assert resolve_imbalance("paper_like") is PRESETS["paper_like"]
    assert dict(PRESETS["paper_like"].train_shares["ethnicity"]) == {
        "group_a": 0.50,
        "group_b": 0.29,
        "group_c": 0.12,
        "group_d": 0.09,
    }


def test_test_split_defaults_to_balance_over_the_train_groups():
    spec = spec_from_dict({"train": {"age_group": {"20-29": 0.7, "30-39": 0.3}}})
    assert dict(spec.test_shares["age_group"]) == {"20-29": 0.5, "30-39": 0.5}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"train": {"gender": {"female": 0.3, "male": 0.6}}}, "gender shares sum to 0.9, not 1"),
        ({"train": {"ethnicity": {"group_z": 1.0}}}, "unknown ethnicity group 'group_z'"),
        ({"test": {"gender": {"female": 1.0, "male": 0.0}}}, "'male' would be empty in the test"),
        ({"test": {"gender": {"female": 1.0}}}, "'male' has train speakers but no test share"),
        ({"typical_languages": {"group_a": ["xx"]}}, "unknown language 'xx'"),
        ({"language_mismatch_rate": 1.5}, "rate 1.5 is not a number in [0, 1]"),
        ({"label_noise": {"age": {"20-29": 0.1}}}, "unknown key 'age'"),
        ({"trian": {}}, "unknown key 'trian'"),
        ({"train": {"gender": {"female": -0.5, "male": 1.5}}}, "share of 'female' is -0.5"),
    ],
)
def test_bad_configs_raise_one_line_input_errors(config, message):
    with pytest.raises(InputError) as caught:
        spec_from_dict(config, source="bias.json")
    assert message in str(caught.value)
    assert "bias.json" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_preset_and_unreadable_config_files(tmp_path):
    with pytest.raises(InputError, match="unknown --imbalance preset 'skewed'"):
        resolve_imbalance("skewed")
    with pytest.raises(InputError, match="file not found"):
        resolve_imbalance(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(InputError, match=r"broken\.json: not valid JSON"):
        load_imbalance_config(broken)


def test_split_sizes_and_too_small_test_splits():
    assert split_sizes(200, test_fraction=0.6, val_fraction=0.1) == {
        "train": 60,
        "val": 20,
        "test": 120,
    }
    with pytest.raises(InputError, match="--test-fraction"):
        split_sizes(10, test_fraction=0.95, val_fraction=0.1)
    with pytest.raises(InputError, match="6 age_group groups"):
        sample_speakers(
            n_speakers=8, spec=PRESETS["balanced"], seed=0, test_fraction=0.5, val_fraction=0.0
        )


def test_age_years_lie_inside_their_group():
    speakers = _speakers(PRESETS["balanced"], n=600)
    assert speakers["age"].between(20, 84).all()
    assert np.issubdtype(speakers["age"].dtype, np.integer)


def test_unheard_languages_move_every_speaker_of_theirs_to_test_and_nothing_else():
    from speech2face.synth.corpus import CorpusSettings

    spec = PRESETS["paper_like"]
    before = _speakers(spec)

    def unheard(languages):
        return sample_speakers(
            n_speakers=200,
            spec=spec,
            seed=0,
            test_fraction=0.6,
            val_fraction=0.1,
            unheard_languages=languages,
        )

    after = unheard(("sw",))
    held = after["language"] == "sw"
    assert held.any() and (after.loc[held, "split"] == "test").all()
    assert (before.loc[held, "split"] != "test").any()  # some were train or val
    assert after.drop(columns="split").equals(before.drop(columns="split"))
    assert after.loc[~held, "split"].equals(before.loc[~held, "split"])
    with pytest.raises(InputError, match="unknown language 'xx'"):
        unheard(("xx",))
    with pytest.raises(InputError, match="leave no train speaker"):
        unheard(LANGUAGES)
    settings = dict(
        speakers=10,
        clips_per_speaker=1,
        seed=0,
        imbalance=spec,
        face_size=64,
        renders_per_speaker=0,
        test_fraction=0.5,
        val_fraction=0.1,
    )
    plain, held_out = (
        CorpusSettings(**settings),
        CorpusSettings(**settings, unheard_languages=("sw",)),
    )
    assert "unheard_languages" not in plain.to_dict()  # an older corpus keeps its hash
    assert held_out.to_dict()["unheard_languages"] == ["sw"]
    assert plain.digest() != held_out.digest()
