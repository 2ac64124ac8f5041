"""On a CUDA machine (benchmarks/gpu.sh runs these; the CPU suite deselects the `gpu` marker):
training, evaluation and prediction on the GPU with bf16 autocast and channels_last."""

import json

import pytest
import torch

from helpers import cli_in_process

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _needs_cuda():
    if not torch.cuda.is_available():
        pytest.fail("the gpu tests need a CUDA device (run them with benchmarks/gpu.sh on a GPU machine)")


def test_train_eval_predict_on_the_gpu(tmp_path):
    run = tmp_path / "r"
    out = cli_in_process("train", "--epochs", "3", "--device", "cuda", "--out", run, "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "cuda" in out.stdout and "bf16" in out.stdout
    results = json.loads((run / "results.json").read_text())["test"]
    assert results["accuracy"] > 0.9
    ev = json.loads(cli_in_process("eval", run, "--device", "cuda", "--json").stdout)
    assert ev["accuracy"] == pytest.approx(results["accuracy"], abs=0.005)   # bf16 rounding aside
