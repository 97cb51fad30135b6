"""Face encoders: the exact VGG-Face architecture and its weight loading, the small encoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speech2face.errors import InputError
from speech2face.models.face_encoder import (
    VGGFACE_KEY_MISMATCH,
    VGGFACE_MISSING_FILE,
    VGGFACE_SHAPE_MISMATCH,
    VGGFace,
    encode_images,
    load_vggface,
)
from speech2face.training.face_config import FaceEncoderTrainingConfig
from speech2face.training.face_models import (
    TOO_FEW_IDENTITIES,
    _best_threshold,
    load_face_encoder,
    save_face_model,
    synthetic_face_set,
    train_face_encoder,
    verification_score,
)

# Parkhi et al. 2015: VGG-16's 13 conv layers (14,714,688 parameters) + fc6 (25088 → 4096)
# + fc7 (4096 → 4096) + fc8 (4096 → 2622 identities), weights and biases.
VGG16_CONV_PARAMETERS = 14_714_688
VGGFACE_PARAMETERS = VGG16_CONV_PARAMETERS + (25088 + 1) * 4096 + 4097 * 4096 + 4097 * 2622


@pytest.fixture(scope="module")
def face_set():
    return synthetic_face_set(32, renders_per_identity=4, seed=0)


def _prefix(template: str) -> str:
    return template.split("{")[0].strip()


def test_vggface_has_the_published_layer_sizes_and_parameter_count():
    with torch.device("meta"):
        model = VGGFace()
    assert VGGFACE_PARAMETERS == 145_002_878
    assert sum(p.numel() for p in model.parameters()) == VGGFACE_PARAMETERS
    assert model.fc7.out_features == model.feature_dim == 4096
    assert (model.fc8.in_features, model.fc8.out_features) == (4096, 2622)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128] + [256] * 3 + [512] * 6
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)


def test_vggface_round_trips_a_saved_state_dict_and_computes_fc7_and_fc8(tmp_path):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    original = VGGFace().eval()
    path = tmp_path / "vgg_face.pt"
    torch.save(original.state_dict(), path)
    loaded = load_vggface(path).eval()
    for key, tensor in original.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key
    images = torch.rand(1, 3, 64, 64)  # resized to 224 inside
    with torch.no_grad():
        feature = loaded(images)
        assert feature.shape == (1, 4096)
        assert torch.equal(feature, original(images))
        assert (feature >= 0).all()  # fc7 after its ReLU
        assert loaded.logits(images).shape == (1, 2622)
    del original


def test_vggface_missing_file_names_the_file_and_the_expected_keys(tmp_path):
    path = tmp_path / "absent.pt"
    with pytest.raises(InputError, match=_prefix(VGGFACE_MISSING_FILE)) as error:
        load_vggface(path)
    assert str(path) in str(error.value)
    assert "conv_1_1.weight" in str(error.value)
    assert "\n" not in str(error.value)


def test_vggface_wrong_keys_and_shapes_are_named(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(InputError, match=_prefix(VGGFACE_KEY_MISMATCH)) as error:
        load_vggface(path)
    assert "features.0.weight" in str(error.value)
    assert "conv_1_1.bias" in str(error.value)

    with torch.device("meta"):
        shapes = {k: v.shape for k, v in VGGFace().state_dict().items()}
    state = {k: torch.zeros(()).expand(shape) for k, shape in shapes.items()}
    state["fc8.weight"] = torch.zeros(()).expand(10, 4096)
    torch.save(state, path)
    with pytest.raises(InputError, match=_prefix(VGGFACE_SHAPE_MISMATCH)) as error:
        load_vggface(path)
    assert "fc8.weight" in str(error.value) and "(2622, 4096)" in str(error.value)


def test_small_encoder_separates_held_out_identities(face_set, tmp_path):
    torch.set_num_threads(1)
    train = face_set.identities < 20
    config = FaceEncoderTrainingConfig(
        feature_dim=64, widths=(16, 32, 64, 64), epochs=10, batch_size=16
    )
    encoder = train_face_encoder(
        face_set.images[train], face_set.identities[train], config=config, seed=0
    )
    assert encoder.loss_history[-1] < 0.7 * encoder.loss_history[0]
    held_out = ~train
    features = encode_images(encoder, face_set.images[held_out])
    assert features.shape == (held_out.sum(), 64)
    result = verification_score(features, face_set.identities[held_out], seed=0)
    assert result.accuracy > 0.65  # chance is 0.5 (seeds 0-2 give 0.75-0.81)

    path = tmp_path / "encoder.pt"
    save_face_model(encoder, path)
    reloaded = load_face_encoder(path, name="small")
    assert not reloaded.training and not any(p.requires_grad for p in reloaded.parameters())
    with pytest.raises(InputError, match="unknown face encoder 'vgg'"):
        load_face_encoder(path, name="vgg")
    np.testing.assert_array_equal(
        encode_images(reloaded, face_set.images[:4]), encode_images(encoder, face_set.images[:4])
    )


def test_small_encoder_training_is_deterministic(face_set):
    torch.set_num_threads(1)
    config = FaceEncoderTrainingConfig(feature_dim=16, widths=(8, 8, 8, 8), epochs=1)
    images, ids = face_set.images[:40], face_set.identities[:40]
    first = train_face_encoder(images, ids, config=config, seed=3)
    second = train_face_encoder(images, ids, config=config, seed=3)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_freeze_turns_off_gradients_and_training_mode(face_set):
    config = FaceEncoderTrainingConfig(feature_dim=16, widths=(8, 8, 8, 8), epochs=1)
    encoder = train_face_encoder(face_set.images[:20], face_set.identities[:20], config=config)
    encoder.train()
    assert encoder.freeze() is encoder
    assert not encoder.training
    assert not any(p.requires_grad for p in encoder.parameters())


def test_threshold_search_matches_brute_force():
    rng = np.random.default_rng(0)
    similarity = rng.uniform(-1, 1, 200)
    same = rng.random(200) < 0.5 + 0.4 * similarity
    threshold, accuracy = _best_threshold(similarity, same)
    candidates = np.concatenate([[-2.0], np.sort(similarity) + 1e-9, [2.0]])
    brute = max(np.mean((similarity >= t) == same) for t in candidates)
    assert accuracy == pytest.approx(brute)
    assert np.mean((similarity >= threshold) == same) == pytest.approx(brute)


def test_verification_score_is_high_for_clustered_features_and_chance_for_noise():
    rng = np.random.default_rng(0)
    identities = np.repeat(np.arange(20), 3)
    centres = rng.standard_normal((20, 8))
    features = centres[identities] + 0.8 * rng.standard_normal((60, 8))
    result = verification_score(features, identities, seed=1)
    assert 0.5 < result.accuracy <= 1.0
    assert result.n_test_pairs == 2 * 10 * 3  # 10 identities × 3 same pairs, as many different
    # Random features: chance level.
    noise = verification_score(rng.standard_normal((60, 8)), identities, seed=1)
    assert abs(noise.accuracy - 0.5) < 0.2

    with pytest.raises(InputError, match=_prefix(TOO_FEW_IDENTITIES)):
        verification_score(features[:6], identities[:6])
