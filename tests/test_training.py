"""Voice encoder training on a learnable synthetic task: convergence, seeds, resume, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from speech2face.errors import InputError
from speech2face.models.registry import get_model
from speech2face.training.checkpoint import load_checkpoint, load_voice_encoder, save_checkpoint
from speech2face.training.voice import (
    FaceHeads,
    FeaturePairs,
    TrainingConfig,
    train_voice_encoder,
)

FRAMES, BINS, FEATURE_DIM = 32, 33, 16
TINY = {"freq_bins": BINS, "out_dim": FEATURE_DIM, "fc_hidden": 32}
CONFIG = TrainingConfig(batch_size=8, max_steps=12, eval_every=4, checkpoint_every=4, log_every=1)


def synthetic_pairs(n: int, *, seed: int, bad_clip: int | None = None) -> FeaturePairs:
    """Each clip's speaker latent z shapes its spectrum; the face feature is a function of z."""
    fixed = torch.Generator().manual_seed(99)
    spectral_basis = torch.randn(4, BINS, 2, generator=fixed)
    face_map = torch.randn(4, FEATURE_DIM, generator=fixed)
    generator = torch.Generator().manual_seed(seed)
    latent = torch.randn(n, 4, generator=generator)
    noise = torch.randn(n, FRAMES, BINS, 2, generator=generator)
    spectrograms = torch.einsum("nk,kfc->nfc", latent, spectral_basis)[:, None] + noise
    features = torch.tanh(latent @ face_map) * 3
    if bad_clip is not None:
        spectrograms[bad_clip, 0, 0, 0] = float("nan")
    return FeaturePairs([f"clip{i:03d}" for i in range(n)], spectrograms, features)


def frozen_heads() -> FaceHeads:
    torch.manual_seed(123)
    return FaceHeads(decoder_head=nn.Linear(FEATURE_DIM, 12), fc8_head=nn.Linear(FEATURE_DIM, 10))


def run(out: Path, *, config: TrainingConfig = CONFIG, resume: bool = False, n: int = 48, **kw):
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    model = get_model("small", **TINY)
    result = train_voice_encoder(
        model,
        preset="small",
        train_set=kw.pop("train_set", None) or synthetic_pairs(n, seed=1),
        val_set=synthetic_pairs(16, seed=2),
        heads=frozen_heads(),
        config=config,
        out_dir=out,
        manifest_hash="m" * 64,
        resume=resume,
        progress=False,
        **kw,
    )
    return model, result


def records(path: Path, split: str) -> list[dict]:
    lines = path.read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


def distillation_floor(dataset: FeaturePairs) -> float:
    """λ₂ × the entropy of the face's softened classes: the distillation term's minimum."""
    with torch.no_grad():
        p = torch.softmax(frozen_heads().fc8_head(dataset.face_features) / 2, dim=-1)
    return 200 * -(p * p.log()).sum(dim=-1).mean().item()


def test_every_loss_term_falls_on_a_learnable_task(tmp_path):
    config = replace(CONFIG, max_steps=60, eval_every=20, checkpoint_every=60)
    _, result = run(tmp_path, config=config, n=64)
    val = records(result.metrics, "val")
    assert [r["step"] for r in val] == [20, 40, 60]
    assert len(records(result.metrics, "train")) == 60
    first, last = val[0], val[-1]
    assert last["decoder_l1"] < 0.75 * first["decoder_l1"]
    assert last["feature_l2"] < 0.6 * first["feature_l2"]
    floor = distillation_floor(synthetic_pairs(16, seed=2))
    assert last["distillation"] - floor < 0.8 * (first["distillation"] - floor)
    for r in val:
        assert r["total"] == pytest.approx(r["decoder_l1"] + r["feature_l2"] + r["distillation"])


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    first, _ = run(tmp_path / "a")
    second, _ = run(tmp_path / "b")
    assert_same_weights(first, second)
    third, _ = run(tmp_path / "c", config=replace(CONFIG, seed=1))
    assert not torch.equal(first.head[-1].weight, third.head[-1].weight)


def test_resume_after_a_stop_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    # 48 clips / batch 8 = 6 steps per epoch: the stop at 7 is mid-epoch 2
    uninterrupted, _ = run(tmp_path / "full")
    run(tmp_path / "split", config=replace(CONFIG, max_steps=7))
    resumed, result = run(tmp_path / "split", resume=True)
    assert result.step == 12
    assert_same_weights(uninterrupted, resumed)
    steps = [r["step"] for r in records(result.metrics, "train")]
    assert steps == list(range(1, 13))
    assert load_voice_encoder(result.checkpoint, preset="small").config.out_dim == FEATURE_DIM


def test_resume_after_a_hard_kill_is_bit_identical(tmp_path):
    out = tmp_path / "killed"
    child = subprocess.Popen(
        [sys.executable, __file__, str(out)], stderr=subprocess.PIPE, env={**os.environ}
    )
    checkpoint = out / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert checkpoint.exists(), child.stderr.read().decode()
    killed_at = load_checkpoint(checkpoint)["step"]
    assert 0 < killed_at < 200
    config = replace(CONFIG, max_steps=killed_at + 3, checkpoint_every=1)
    resumed, _ = run(out, config=config, resume=True)
    uninterrupted, _ = run(tmp_path / "full", config=config)
    assert_same_weights(uninterrupted, resumed)


def test_checkpoint_from_another_preset_version_or_manifest_is_refused(tmp_path):
    _, result = run(tmp_path, config=replace(CONFIG, max_steps=2))
    with pytest.raises(InputError, match="holds preset 'small', not 'paper'"):
        load_checkpoint(result.checkpoint, preset="paper")
    with pytest.raises(InputError, match="trained on another manifest"):
        load_checkpoint(result.checkpoint, manifest_hash="x" * 64)
    payload = load_checkpoint(result.checkpoint)
    save_checkpoint(result.checkpoint, {**payload, "preset": "paper"})  # relabelled
    with pytest.raises(InputError, match="labelled preset 'paper' but holds a 'small' encoder"):
        run(tmp_path, resume=True)
    with pytest.raises(InputError, match="labelled preset 'paper'"):
        load_voice_encoder(result.checkpoint)
    del payload["format"]
    save_checkpoint(result.checkpoint, {**payload, "version": "0.0.1"})
    with pytest.raises(InputError, match=r"written by speech2face 0\.0\.1"):
        run(tmp_path, resume=True)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a speech2face voice encoder checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_nan_in_a_batch_stops_naming_the_clip_and_keeps_the_good_checkpoint(tmp_path):
    config = replace(CONFIG, max_steps=24, batch_size=8)
    with pytest.raises(
        InputError, match=r"non-finite loss at step \d+ from clip\(s\) clip005;"
    ) as e:
        run(tmp_path, config=config, train_set=synthetic_pairs(48, seed=1, bad_clip=5))
    failed_step = int(str(e.value).split()[4])
    payload = load_checkpoint(tmp_path / "checkpoint.pt")
    assert payload["step"] == failed_step - 1
    assert all(torch.isfinite(t).all() for t in payload["model"].values() if t.is_floating_point())


def test_too_few_clips_for_one_batch_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="4 training clips are fewer than one batch of 8"):
        run(tmp_path, n=4)


def test_a_fresh_run_never_overwrites_an_existing_checkpoint(tmp_path):
    run(tmp_path, config=replace(CONFIG, max_steps=2))
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(InputError, match="already exists; pass --resume"):
        run(tmp_path)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


if __name__ == "__main__":  # the child that test_resume_after_a_hard_kill kills
    run(Path(sys.argv[1]), config=replace(CONFIG, max_steps=100_000, checkpoint_every=3))


OOM_CHILD = """
import resource, sys
sys.path.insert(0, {tests!r})
import torch
from dataclasses import replace
from pathlib import Path
import test_training as t
from speech2face.errors import InputError
big = t.synthetic_pairs(32, seed=0)
big.spectrograms = torch.randn(32, 598, 257, 2)  # 6 s clips, batch 32 ≈ 79 MB of input
torch.manual_seed(0)
model = t.get_model("small", out_dim=t.FEATURE_DIM)
vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1])
limit = vm * 1024 + 250 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    t.train_voice_encoder(model, preset="small", train_set=big, val_set=None,
        heads=t.frozen_heads(), config=replace(t.CONFIG, batch_size=32, max_steps=1),
        out_dir=Path({out!r}), manifest_hash="m", progress=False)
except InputError as error:
    print(error)
"""


def test_a_batch_that_does_not_fit_in_memory_names_the_batch_size(tmp_path):
    code = OOM_CHILD.format(tests=str(Path(__file__).parent), out=str(tmp_path))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.startswith("out of memory on cpu at batch size 32 (32 per process)")
    assert "try --batch-size 16" in child.stdout


def test_resume_drops_metrics_after_the_checkpoint_and_a_line_cut_by_a_kill(tmp_path):
    run(tmp_path, config=replace(CONFIG, max_steps=4))
    metrics = tmp_path / "metrics.jsonl"
    # what a kill after step 5 but before its checkpoint leaves behind
    late = json.dumps({"step": 5, "split": "train", "total": 0.0})
    metrics.write_text(metrics.read_text() + late + "\n" + '{"step": 6, "spl')
    _, result = run(tmp_path, config=replace(CONFIG, max_steps=8), resume=True)
    assert [r["step"] for r in records(result.metrics, "train")] == list(range(1, 9))
    assert all(r["total"] > 0 for r in records(result.metrics, "train"))
