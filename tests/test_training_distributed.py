"""Two gloo processes under torchrun train like one process with the same global batch."""

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from speech2face.errors import InputError
from speech2face.training.distributed import DistributedContext, epoch_batches

sys.path.insert(0, str(Path(__file__).parent))
from test_training import CONFIG, records, run

DDP_CONFIG = replace(CONFIG, max_steps=16, eval_every=8, checkpoint_every=8)


def test_ranks_split_each_global_batch_exactly():
    single = epoch_batches(40, batch_size=8, epoch=3, seed=5, context=DistributedContext())
    ranks = [
        epoch_batches(
            40, batch_size=8, epoch=3, seed=5, context=DistributedContext(rank=r, world_size=2)
        )
        for r in range(2)
    ]
    for whole, first, second in zip(single, *ranks, strict=True):
        assert sorted(first + second) == sorted(whole) and len(first) == len(second) == 4
    with pytest.raises(InputError, match="--batch-size 8 does not split over 3 processes"):
        epoch_batches(40, batch_size=8, epoch=0, seed=0, context=DistributedContext(0, 3))


def test_two_gloo_processes_follow_the_single_process_loss_curve(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [torchrun, "--standalone", "--nproc-per-node", "2", __file__, str(tmp_path / "ddp")]
    launcher = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, stderr = launcher.communicate(timeout=300)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
    assert launcher.returncode == 0, stderr.decode()[-2000:]
    _, single = run(tmp_path / "one", config=DDP_CONFIG)
    one = records(single.metrics, "train")
    two = records(tmp_path / "ddp" / "metrics.jsonl", "train")
    assert [r["step"] for r in two] == [r["step"] for r in one] == list(range(1, 17))
    # BatchNorm normalises each rank's half batch on CPU (no SyncBatchNorm without a GPU),
    # so the curves agree closely but not bit for bit: measured gaps are <1% on the total
    # and <4% on the decoder term, where another seed differs by 3% and 27%.
    for a, b in zip(one, two, strict=True):
        assert b["total"] == pytest.approx(a["total"], rel=0.02)
        assert b["decoder_l1"] == pytest.approx(a["decoder_l1"], rel=0.08)
    val_one = records(single.metrics, "val")[-1]["total"]
    val_two = records(tmp_path / "ddp" / "metrics.jsonl", "val")[-1]["total"]
    assert val_two == pytest.approx(val_one, rel=0.02)
    checkpoint = torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=False)
    assert checkpoint["step"] == 16


if __name__ == "__main__":  # each torchrun worker
    run(Path(sys.argv[1]), config=DDP_CONFIG)
    print(json.dumps({"rank": os.environ["RANK"]}))
