"""The running average of the weights: its closed form, checkpoints, resume and the CLI."""

from dataclasses import replace

import pytest
import torch
from test_training import CONFIG, assert_same_weights, records, run
from torch import nn

from s2f.cli import main
from speech2face.training.averaging import WeightAverage
from speech2face.training.checkpoint import load_checkpoint, load_voice_encoder


def test_the_average_follows_its_warmed_up_recursion_and_copies_integer_buffers():
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    with torch.no_grad():
        model[0].weight.fill_(0.0)
    average = WeightAverage(model, decay=0.9)
    expected = 0.0
    for n, value in enumerate([1.0, 2.0, 4.0, -3.0, 5.0] * 6):
        with torch.no_grad():
            model[0].weight.fill_(value)
        model[1].num_batches_tracked += 1
        average.update(model)
        decay = min(0.9, (1 + n) / (10 + n))
        expected = decay * expected + (1 - decay) * value
        assert average.model[0].weight.item() == pytest.approx(expected, abs=1e-5)
    assert average.model[1].num_batches_tracked.item() == 30 and average.updates == 30
    assert not any(p.requires_grad for p in average.model.parameters())
    with pytest.raises(ValueError, match="decay must be in"):
        WeightAverage(model, decay=1.0)


AVERAGED = replace(CONFIG, weight_average=0.9)


def test_the_checkpoint_predicts_with_the_average_and_resumes_both_bit_identical(tmp_path):
    trained, result = run(tmp_path / "full", config=AVERAGED)
    payload = load_checkpoint(result.checkpoint, preset="small")
    loaded = load_voice_encoder(result.checkpoint, preset="small")
    training = payload["training_model"]
    assert all(torch.equal(training[k], v) for k, v in trained.state_dict().items())
    averaged = payload["model"]
    assert not torch.equal(averaged["head.2.weight"], training["head.2.weight"])
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in averaged.items())
    assert payload["weight_average"]["updates"] == 12

    run(tmp_path / "split", config=replace(AVERAGED, max_steps=7))
    resumed, again = run(tmp_path / "split", config=AVERAGED, resume=True)
    assert_same_weights(trained, resumed)
    resumed_payload = load_checkpoint(again.checkpoint, preset="small")
    for key, value in averaged.items():
        assert torch.equal(resumed_payload["model"][key], value), key
    scheduled = [r for r in records(again.metrics, "val") if r["step"] % 4 == 0]
    assert scheduled == records(result.metrics, "val")  # validation scores the same average


def test_without_averaging_the_checkpoint_holds_the_last_weights_only(tmp_path):
    trained, result = run(tmp_path, config=CONFIG)
    payload = load_checkpoint(result.checkpoint, preset="small")
    assert "training_model" not in payload and "weight_average" not in payload
    assert all(torch.equal(payload["model"][k], v) for k, v in trained.state_dict().items())


@pytest.mark.parametrize("decay", ["1.0", "0.0", "-0.5"])
def test_a_decay_outside_zero_to_one_is_a_one_line_error(tmp_path, capsys, decay):
    argv = ["train", "--manifest", "m.csv", "--out", str(tmp_path), "--average-weights", decay]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith(f"--average-weights must be between 0 and 1 (e.g. 0.99), not {decay}")
    assert len(error.splitlines()) == 1
