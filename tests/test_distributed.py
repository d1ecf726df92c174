"""Two CPU processes under torchrun (gloo) behave like one process on the concatenated batch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "ddp_train.py")


def _run(cmd, tmp):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.path.dirname(os.path.dirname(__file__)))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=tmp)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.distributed
def test_two_processes_match_one_process_on_the_global_batch(tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    single.mkdir()
    multi.mkdir()
    _run([sys.executable, SCRIPT, str(single), "16"], tmp_path)
    _run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            "29517",
            SCRIPT,
            str(multi),
            "8",
        ],
        tmp_path,
    )
    one = torch.load(single / "result-rank0.pt", weights_only=True)
    r0 = torch.load(multi / "result-rank0.pt", weights_only=True)
    r1 = torch.load(multi / "result-rank1.pt", weights_only=True)
    assert one["world_size"] == 1
    assert r0["world_size"] == 2 and r1["world_size"] == 2, "torchrun did not start a real 2-process group"
    # DisA is solved over the gathered global batch: same loss as one process on 16 images
    assert len(one["disa"]) == 3
    assert r0["disa"] == pytest.approx(one["disa"], abs=1e-5)
    # the SpA class means are all-reduced: identical on both ranks and equal to the single-process ones
    assert torch.allclose(r0["tracker"], one["tracker"], atol=1e-5)
    assert torch.equal(r0["tracker"], r1["tracker"])
    for name, value in one["params"].items():
        assert torch.equal(r0["params"][name], r1["params"][name]), f"ranks differ in {name}"
        assert torch.allclose(r0["params"][name], value, atol=1e-5), f"DDP differs from one process in {name}"
