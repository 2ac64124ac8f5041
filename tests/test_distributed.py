"""torchrun data-parallel training: 2 CPU processes on loopback (gloo)."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from helpers import cli, write_idx_set

TINY = "input(1,12,12)-conv(8,3)-relu-pool(2)-fc"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args, n=2, timeout=300):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n), "--master-addr",
           "127.0.0.1", "--master-port", str(free_port()), "-m", "convnet", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_two_processes_train_one_run_directory_in_line_with_one(tmp_path):
    data = write_idx_set(tmp_path / "data", n_train=512, n_test=96)
    common = ["--data", data, "--model", TINY, "--epochs", "3", "--batch-size", "32", "--seed", "1",
              "--threads", "1", "--no-progress"]
    out = torchrun("train", *common, "--out", tmp_path / "ddp")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("training ") == 1 and "2 processes" in out.stdout       # process 0 alone prints
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "ddp"]             # one run directory
    config = json.loads((tmp_path / "ddp" / "config.json").read_text())
    assert config["distributed"] == {"processes": 2}
    rows = [json.loads(x) for x in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[0]["images_per_second"] > 0
    one = cli("train", *common, "--out", tmp_path / "one")
    assert one.returncode == 0, one.stderr
    acc = [json.loads((tmp_path / r / "results.json").read_text())["test"]["accuracy"] for r in ("ddp", "one")]
    assert acc[0] >= 0.9 and abs(acc[0] - acc[1]) <= 0.1, acc
    again = torchrun("train", *common, "--out", tmp_path / "ddp2")                   # same seed, same world size
    assert again.returncode == 0, again.stderr[-2000:]
    a, b = load_file(tmp_path / "ddp" / "model.safetensors"), load_file(tmp_path / "ddp2" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
