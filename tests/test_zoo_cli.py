"""`convnet models`, `convnet summary`, and zoo models trained through `convnet train`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from convnet.cli.main import main


def test_models_json_lists_every_model_with_its_numbers(capsys):
    from convnet.models import names

    assert main(["models", "--json", "--no-progress"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(names())
    assert rows["resnet50"]["params"] == 25_557_032 and round(rows["resnet50"]["macs"] / 1e9, 2) == 4.09
    assert rows["vgg16"]["year"] == 2014 and "Simonyan" in rows["vgg16"]["paper"]
    assert rows["capsnet"]["input"] == [1, 28, 28] and rows["resnet20"]["input"] == [3, 32, 32]
    assert all(r["params"] > 0 and r["macs"] > 0 for r in rows.values())
    assert rows["capsnet"]["training"]["optimizer"] == "adamw" and rows["lenet5"]["training"] == {}


    from convnet.cli.models import format_rows        # the table is printed from the same rows

    line = next(l for l in format_rows(list(rows.values())).splitlines() if l.startswith("alexnet "))
    assert "2012" in line and "61,100,840" in line and "714.19M" in line


def test_summary_rows_and_totals(capsys):
    assert main(["summary", "resnet18"]) == 0
    out = capsys.readouterr().out
    assert "total: 11,689,512 parameters" in out and "1,814,073,344 multiply-adds" in out
    stem = next(l for l in out.splitlines() if l.startswith("stem.0 "))
    assert "64x112x112" in stem and "9,408" in stem and stem.split()[-1] == "7"   # 7x7 conv: rf 7


def test_summary_json_at_another_input_size(capsys):
    assert main(["summary", "resnet20", "--input", "1x28x28", "--classes", "10", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["input"] == [1, 28, 28] and s["output"] == [10]
    assert s["params"] == 269_722 - 2 * 9 * 16      # one input channel instead of three
    assert sum(l["params"] for l in s["layers"]) == s["params"]
    assert s["layers"][-1]["type"] == "Linear" and s["layers"][-2]["output"] == [64, 1, 1]


@pytest.mark.parametrize("argv,fragment", [
    (["summary", "resnet18", "--input", "3xax2"], "'3xax2' is not CxHxW"),
    (["summary", "lenet5", "--input", "3x64x64"], "model lenet5 does not accept input 3x64x64"),
    (["summary", "resnet81"], "unknown model 'resnet81'"),
    (["summary", "conv(8,3)-pool(99)"], "pool(99) does not fit its 28x28 input"),
    (["train", "--model", "capsnet", "--input-size", "32"], "capsnet needs 28x28 input"),
])
def test_bad_input_is_one_line_and_exit_2(argv, fragment, capsys):
    try:
        code = main(argv)
    except SystemExit as e:                               # argparse rejects bad option values
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_help_stays_light():
    """`convnet models`/`summary` must not pull torch into `convnet --help`."""
    code = ("import sys; from convnet.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'tqdm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory, shared_datasets) -> Path:
    """32 training and 16 test digits of mnist-10k, as IDX files."""
    from convnet.data.idx import write_idx_subset

    return write_idx_subset(shared_datasets / "mnist-10k", tmp_path_factory.mktemp("tiny-mnist"), 32, 16)


def test_capsnet_trains_through_the_cli_with_its_own_loss(tiny_mnist, tmp_path, capsys):
    from convnet.inference import Classifier
    from convnet.training.runs import read_metrics

    out = tmp_path / "caps"
    assert main(["train", "--model", "capsnet", "--data", "mnist", "--data-dir", str(tiny_mnist),
                 "--epochs", "2", "--batch-size", "16", "--out", str(out), "--no-progress"]) == 0
    metrics = read_metrics(out)
    # the margin loss of untrained capsules is about 0.8 (cross-entropy would start near 2.3)
    assert 0 < metrics[0]["train_loss"] < 1.5 and metrics[1]["train_loss"] < metrics[0]["train_loss"]
    clf = Classifier.load(out)
    assert sum(p.numel() for p in clf.model.parameters()) == 8_215_568
    probs = clf.probabilities(torch.zeros(3, 1, 28, 28, dtype=torch.uint8))
    assert probs.shape == (3, 10) and torch.allclose(probs.sum(1), torch.ones(3), atol=1e-5)


def test_a_cifar_resnet_trains_on_an_image_folder(texture_folder, tmp_path, capsys):
    from convnet.training.runs import read_config

    out = tmp_path / "resnet"
    assert main(["train", "--model", "resnet20", "--data", str(texture_folder), "--epochs", "1",
                 "--batch-size", "32", "--out", str(out), "--no-progress"]) == 0
    config = read_config(out)
    assert config["preprocess"]["size"] == [32, 32]           # the model's own input size
    channels = config["model"]["in_channels"]
    assert config["params"] == 269_722 - (3 - channels) * 9 * 16 - 7 * 65   # 3 classes, not 10
    results = json.loads((out / "results.json").read_text())
    assert 0 <= results["test"]["accuracy"] <= 1 and len(results["test"]["confusion"]) == 3
