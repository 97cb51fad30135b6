import itertools

import pytest
import torch
from torch import nn

from speech2face.errors import InputError
from speech2face.models.registry import available_models, get_config, get_model
from speech2face.models.voice_config import Conv, MaxPoolTime
from speech2face.models.voice_encoder import same_padding


def _paper_on_meta():
    with torch.device("meta"):
        return get_model("paper")


def test_registry_lists_presets_and_rejects_unknown_names():
    assert available_models() == ["ge2e", "paper", "small"]
    with pytest.raises(InputError, match="unknown voice encoder preset 'huge'"):
        get_model("huge")


def test_paper_preset_follows_table_1_layer_by_layer():
    config = get_config("paper")
    convs = [(layer.channels, layer.stride) for layer in config.layers if isinstance(layer, Conv)]
    assert convs == [
        (64, 1),
        (64, 1),
        (128, 1),
        (128, 1),
        (128, 1),
        (256, 1),
        (512, 1),
        (512, 2),
        (512, 2),
    ]
    pools = [i for i, layer in enumerate(config.layers) if isinstance(layer, MaxPoolTime)]
    assert pools == [3, 5, 7, 9]
    assert (config.fc_hidden, config.out_dim, config.kernel_size) == (4096, 4096, 4)


def test_paper_blocks_are_conv_relu_batchnorm_with_2x1_time_pooling():
    model = _paper_on_meta()
    first = model.convs[0]
    assert [type(m) for m in first] == [type(first[0]), nn.ReLU, nn.BatchNorm2d]
    assert first[0].kernel_size == (4, 4)
    assert model.convs[3].kernel_size == (2, 1)


def test_paper_maps_six_seconds_to_4096_and_its_fc_sees_512_by_65():
    model = _paper_on_meta()
    out = model(torch.empty(2, 598, 257, 2, device="meta"))
    assert out.shape == (2, 4096)
    # 257 bins → 129 → 65 through the two stride-2 convolutions
    assert model.head[0].in_features == 512 * 65


def test_paper_parameter_count_equals_the_hand_count_from_the_table():
    channels = [2, 64, 64, 128, 128, 128, 256, 512, 512, 512]
    convs = sum(16 * a * b + b + 2 * b for a, b in itertools.pairwise(channels))
    fcs = (512 * 65 * 4096 + 4096) + (4096 * 4096 + 4096)
    assert sum(p.numel() for p in _paper_on_meta().parameters()) == convs + fcs


@pytest.mark.parametrize(
    ("size", "stride", "expected"), [(598, 1, (1, 2)), (37, 2, (1, 2)), (38, 2, (1, 1))]
)
def test_same_padding_matches_tensorflow(size, stride, expected):
    assert same_padding(size, kernel=4, stride=stride) == expected


def test_small_preset_runs_on_one_second_and_on_any_length():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = get_model("small").eval()
    with torch.no_grad():
        one_second = model(torch.randn(3, 98, 257, 2))
        three_seconds = model(torch.randn(1, 298, 257, 2))
    assert one_second.shape == (3, 128) and three_seconds.shape == (1, 128)
    assert get_model("small", out_dim=64).head[-1].out_features == 64


def test_small_is_at_least_100_times_lighter_than_paper():
    small = sum(p.numel() for p in get_model("small").parameters())
    paper = sum(p.numel() for p in _paper_on_meta().parameters())
    assert paper > 100 * small


def test_wrong_input_layout_is_rejected():
    with pytest.raises(ValueError, match=r"\(batch, frames, bins, 2\)"):
        get_model("small")(torch.randn(2, 2, 98, 257))
