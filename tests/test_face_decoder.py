"""Face decoder: the thin-plate-spline warp and decoder training on canonical renders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speech2face.craniofacial import craniofacial_measures
from speech2face.errors import InputError
from speech2face.models.face_decoder import (
    FaceDecoder,
    FaceDecoderConfig,
    thin_plate_spline,
    warp_images,
)
from speech2face.training.face_config import FaceDecoderTrainingConfig
from speech2face.training.face_models import (
    averaged_reconstructions,
    load_face_model,
    save_face_model,
    synthetic_face_set,
    train_face_decoder,
)


@pytest.fixture(scope="module")
def canonical():
    faces = synthetic_face_set(12, renders_per_identity=0, seed=5)
    return faces.canonical_images, faces.canonical_landmarks


def test_warp_is_the_identity_when_landmarks_equal_the_canonical_mean():
    torch.manual_seed(0)
    images = torch.rand(2, 3, 32, 32)
    landmarks = torch.rand(1, 68, 2).expand(2, -1, -1) * 0.6 + 0.2
    warped = warp_images(images, from_landmarks=landmarks, to_landmarks=landmarks.clone())
    torch.testing.assert_close(warped, images, atol=1e-4, rtol=0)

    config = FaceDecoderConfig(feature_dim=8, hidden_dim=16, image_size=32)
    decoder = FaceDecoder(config, mean_landmarks=landmarks[0])  # landmark head starts at zero
    decoded = decoder(torch.randn(2, 8))
    torch.testing.assert_close(decoded.landmarks, landmarks)
    torch.testing.assert_close(decoded.images, decoded.textures, atol=1e-4, rtol=0)


def test_thin_plate_spline_interpolates_its_controls_and_reproduces_affine_maps():
    rng = np.random.default_rng(1)
    controls = torch.tensor(rng.uniform(0, 1, (1, 20, 2)), dtype=torch.float64)
    values = torch.tensor(rng.uniform(0, 1, (1, 20, 2)), dtype=torch.float64)
    at_controls = thin_plate_spline(controls, values, controls)
    assert (at_controls - values).abs().max() < 1e-3  # the tiny ridge barely smooths
    # Coincident controls (a closed mouth's inner lips) stay solvable.
    doubled = torch.cat([controls, controls[:, :3]], dim=1)
    fitted = thin_plate_spline(doubled, torch.cat([values, values[:, :3]], dim=1), controls)
    assert torch.isfinite(fitted).all() and (fitted - values).abs().max() < 1e-3
    matrix, offset = torch.tensor([[1.1, 0.2], [-0.1, 0.9]], dtype=torch.float64), 0.05
    points = torch.tensor(rng.uniform(0, 1, (1, 50, 2)), dtype=torch.float64)
    affine = thin_plate_spline(controls, controls @ matrix.T + offset, points)
    torch.testing.assert_close(affine, points @ matrix.T + offset)


def test_warp_moves_a_blob_with_its_landmark():
    coords = torch.arange(32.0)
    blob = torch.exp(-((coords[:, None] - 15) ** 2 + (coords[None, :] - 15) ** 2) / 8)
    ring = torch.tensor([[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]])
    source = torch.cat([ring, torch.tensor([[15.5, 15.5]]) / 32])[None]  # the blob's peak
    target = source.clone()
    target[0, -1] += torch.tensor([3.0, 2.0]) / 32  # 3 px right, 2 px down
    warped = warp_images(blob[None, None], from_landmarks=source, to_landmarks=target)[0, 0]
    assert divmod(int(warped.argmax()), 32) == (15 + 2, 15 + 3)  # (row, column)
    assert float(warped.max()) == pytest.approx(1.0, abs=0.02)


def test_decoder_training_reduces_loss_and_predicts_landmarks(canonical, tmp_path):
    torch.set_num_threads(1)
    images, landmarks = canonical
    features = np.random.default_rng(0).standard_normal((len(images), 16)).astype(np.float32)
    config = FaceDecoderTrainingConfig(
        hidden_dim=64, texture_channels=(16, 8, 8), epochs=25, batch_size=6
    )
    decoder = train_face_decoder(features, images, landmarks, config=config, seed=0)
    assert decoder.first_layer.out_features == 64
    assert decoder.loss_history[-1] < 0.6 * decoder.loss_history[0]

    output, predicted = decoder.decode(torch.from_numpy(features))
    assert output.shape == (len(images), 3, 64, 64) and predicted.shape == (len(images), 68, 2)
    mean_error = np.abs(landmarks.mean(0) - landmarks).mean()
    assert np.abs(predicted.numpy() - landmarks).mean() < 0.8 * mean_error
    measures = craniofacial_measures(predicted.numpy())
    assert len(measures) == len(images) and np.isfinite(measures.to_numpy()).all()

    path = tmp_path / "decoder.pt"
    save_face_model(decoder, path)
    reloaded = load_face_model(path, kind="face_decoder")
    torch.testing.assert_close(reloaded.decode(torch.from_numpy(features))[0], output)
    with pytest.raises(InputError, match="holds a face_decoder model, expected a face_encoder"):
        load_face_model(path, kind="face_encoder")
    with pytest.raises(InputError, match="holds preset 'small', expected preset 'paper'"):
        load_face_model(path, kind="face_decoder", preset="paper")
    payload = torch.load(path, weights_only=True)
    payload["format"] = 99
    torch.save(payload, path)
    with pytest.raises(InputError, match="face-model format 99"):
        load_face_model(path, kind="face_decoder")
    with pytest.raises(InputError, match="not found"):
        load_face_model(tmp_path / "absent.pt", kind="face_decoder")


def test_averaged_reconstructions_decode_cell_means_with_the_cells_labels():
    torch.manual_seed(0)
    decoder = FaceDecoder(FaceDecoderConfig(feature_dim=8, hidden_dim=16, image_size=32))
    decoder.first_layer.bias.data.normal_()  # an untrained decoder, but not a constant one
    features = np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32)
    labels = {
        "genders": ["female", "female", "female", "male", "male", "female"],
        "ages": [21.0, 28.0, 25.0, 44.0, 33.0, 61.0],
        "ethnicities": ["group_a"] * 3 + ["group_b"] * 3,
    }
    alone = averaged_reconstructions(
        decoder, features, views_per_face=2, group_sizes=(1,), **labels
    )
    decoded = decoder.decode(torch.from_numpy(features))[0]
    expected = (decoded.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(alone.images, np.repeat(expected, 2, axis=0))
    assert list(alone.genders) == list(np.repeat(labels["genders"], 2))
    np.testing.assert_array_equal(alone.ages, np.repeat(labels["ages"], 2))

    mixed = averaged_reconstructions(
        decoder, features, views_per_face=8, group_sizes=(4,), **labels
    )
    assert mixed.images.shape == (48, 32, 32, 3)
    assert list(mixed.ethnicities) == list(np.repeat(labels["ethnicities"], 8))
    # Faces 0-2 share a cell (female, group_a, twenties): their means stay in the decade;
    # faces 3-5 each have a cell of their own, so averaging changes nothing.
    assert ((mixed.ages[:24] >= 21) & (mixed.ages[:24] <= 28)).all()
    assert len(np.unique(mixed.ages[:24])) > 1
    np.testing.assert_array_equal(mixed.ages[24:], np.repeat(labels["ages"][3:], 8))
    np.testing.assert_array_equal(mixed.images[24:], np.repeat(expected[3:], 8, axis=0))
    assert not np.array_equal(mixed.images[:8], np.repeat(expected[:1], 8, axis=0))
    none = averaged_reconstructions(decoder, features, views_per_face=0, **labels)
    assert none.images.shape == (0, 32, 32, 3) and len(none.genders) == 0
    with pytest.raises(InputError, match="genders"):
        averaged_reconstructions(
            decoder, features, views_per_face=1, **{**labels, "genders": ["female"]}
        )
