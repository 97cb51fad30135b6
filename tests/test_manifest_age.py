import math

import numpy as np
import pytest

from speech2face.errors import InputError
from speech2face.manifest import AgeBinning, age_to_group, interval_to_group
from speech2face.manifest.age import BAD_BINNING, FAIRFACE, NEGATIVE_AGE, PAPER
from speech2face.vocabulary import AGE_DECADE_EDGES, AGE_DECADES


def test_paper_binning_puts_edges_in_the_upper_decade():
    ages = [0, 19.99, 20, 29.5, 30, 45, 59, 60, 69.9, 70, 101]
    expected = ["<20", "<20", "20-29", "20-29", "30-39", "40-49", "50-59", "60-69", "60-69"]
    expected += ["70+", "70+"]
    assert list(age_to_group(ages)) == expected


def test_paper_binning_agrees_with_digitize_on_the_shared_vocabulary():
    ages = np.random.default_rng(0).uniform(0, 100, size=500)
    reference = np.asarray(AGE_DECADES)[np.digitize(ages, AGE_DECADE_EDGES)]
    assert (age_to_group(ages) == reference).all()


def test_fairface_binning():
    ages = [0, 2, 3, 9, 10, 19, 20, 69, 70, 95]
    expected = ["0-2", "0-2", "3-9", "3-9", "10-19", "10-19", "20-29", "60-69", "70+", "70+"]
    assert list(age_to_group(ages, binning="fairface")) == expected


def test_missing_and_non_numeric_ages_are_unknown():
    assert list(age_to_group([np.nan, None, "", "forty", 33])) == [
        "unknown",
        "unknown",
        "unknown",
        "unknown",
        "30-39",
    ]


def test_negative_age_is_an_input_error():
    with pytest.raises(InputError, match=NEGATIVE_AGE.format(age=-1.0)):
        age_to_group([30, -1])


def test_edges_as_text_label_themselves():
    binning = "18,30,45,65"
    assert list(age_to_group([17, 18, 29, 30, 44, 45, 64, 65], binning=binning)) == [
        "<18",
        "18-29",
        "18-29",
        "30-44",
        "30-44",
        "45-64",
        "45-64",
        "65+",
    ]


def test_custom_binning_with_labels():
    binning = AgeBinning(edges=(13, 18), labels=("child", "teen", "adult"))
    assert list(age_to_group([5, 13, 40], binning=binning)) == ["child", "teen", "adult"]


@pytest.mark.parametrize(
    ("edges", "labels", "reason"),
    [
        ((30, 20), ("a", "b", "c"), "edges must increase"),
        ((20,), ("a",), "needs one label more than edges"),
        ((20,), ("a", "a"), "labels must be distinct"),
        ((0, 20), ("a", "b", "c"), "edges must be positive"),
    ],
)
def test_bad_binnings_are_refused(edges, labels, reason):
    with pytest.raises(InputError, match=reason):
        AgeBinning(edges=edges, labels=labels)


def test_unknown_binning_name_is_refused():
    message = BAD_BINNING.format(spec="decades", reason="")
    with pytest.raises(InputError, match=message.split(":")[0]):
        age_to_group([30], binning="decades")


def test_intervals_map_to_a_group_only_when_inside_one_bin():
    assert interval_to_group(20, 29) == "20-29"
    assert interval_to_group(0, 19) == "<20"
    assert interval_to_group(70, math.inf) == "70+"
    assert interval_to_group(15, 24) == "unknown"
    assert interval_to_group(0, 19, binning=FAIRFACE) == "unknown"
    assert interval_to_group(10, 19, binning=FAIRFACE) == "10-19"
    assert PAPER.labels == AGE_DECADES
