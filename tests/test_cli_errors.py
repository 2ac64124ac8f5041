"""Bad input: one line naming the problem, a non-zero exit, no traceback, nothing lost."""

import json
import time

import pytest
from PIL import Image

from helpers import assert_one_line_error, cli, cli_in_process, write_idx_set


@pytest.mark.parametrize("args, fragments", [
    (["train", "--epochs", "-1"], ["--epochs", "-1 must be at least 1"]),
    (["train", "--epochs", "0"], ["--epochs", "0 must be at least 1"]),
    (["train", "--batch-size", "0"], ["--batch-size", "0 must be at least 1"]),
    (["train", "--lr", "-0.1"], ["--lr", "must be greater than 0"]),
    (["train", "--lr", "nan"], ["--lr", "not a finite number"]),
    (["train", "--label-smoothing", "1.5"], ["--label-smoothing", "must be in [0, 1)"]),
    (["train", "--optimizer", "rmsprop"], ["--optimizer", "invalid choice: 'rmsprop'"]),
    (["train", "--model", "resnet9000"], ["unknown model 'resnet9000'"]),
    (["train", "--data", "/no/such/folder"], ["unknown data set '/no/such/folder'", "no such folder"]),
    (["train", "--data", "mnist", "--data-dir", "/no/such/dir"], ["--data-dir /no/such/dir: no such folder"]),
    (["train", "--device", "cuda:0"], ["CUDA is not available"]),
    (["train", "--device", "tpu"], ["unknown device 'tpu'"]),
    (["eval", "/no/such/run"], ["run directory not found: /no/such/run"]),
    (["predict", "/no/such/run", "x.png"], ["run directory not found"]),
    (["frobnicate"], ["invalid choice: 'frobnicate'"]),
])
def test_bad_options(args, fragments):
    assert_one_line_error(cli_in_process(*args), *fragments)


def test_bad_option_from_a_real_process():
    assert_one_line_error(cli("train", "--batch-size", "0"), "--batch-size", "0 must be at least 1")


def test_bad_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("train", "--data", tmp_path / "empty"), "no class sub-folders with images")
    (tmp_path / "one" / "cats").mkdir(parents=True)
    Image.new("L", (8, 8)).save(tmp_path / "one" / "cats" / "a.png")
    assert_one_line_error(cli("train", "--data", tmp_path / "one"), "only one class ('cats')")


def test_bad_idx_files(tmp_path):
    data = write_idx_set(tmp_path / "bad")
    (data / "train-images-idx3-ubyte.gz").write_bytes(b"\x00\x00\x08\x03garbage")
    assert_one_line_error(cli("train", "--data", data), "train-images-idx3-ubyte", "truncated IDX")
    data = write_idx_set(tmp_path / "magic")
    (data / "t10k-labels-idx1-ubyte.gz").write_bytes(b"PK\x03\x04 not idx")
    assert_one_line_error(cli("train", "--data", data), "wrong magic number")


def test_existing_run_directory_is_never_overwritten(tmp_path):
    run = tmp_path / "precious"
    run.mkdir()
    (run / "model.safetensors").write_bytes(b"irreplaceable")
    before = time.time()
    result = cli("train", "--epochs", "1", "--out", run)
    assert_one_line_error(result, f"run directory {run} already exists", "--resume")
    assert (run / "model.safetensors").read_bytes() == b"irreplaceable"
    assert sorted(p.name for p in run.iterdir()) == ["model.safetensors"]
    assert time.time() - before < 60


def test_run_directory_problems(digits_run, tmp_path):
    no_model = tmp_path / "no-model"
    no_model.mkdir()
    (no_model / "config.json").write_text((digits_run / "config.json").read_text())
    assert_one_line_error(cli("eval", no_model), "has no trained model (model.safetensors is missing)")
    not_run = tmp_path / "plain"
    not_run.mkdir()
    assert_one_line_error(cli("predict", not_run, "x.png"), "is not a run directory (no config.json)")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{ not json")
    assert_one_line_error(cli("eval", broken), "corrupt JSON")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((digits_run / "config.json").read_text())
    (pickled / "model.safetensors").write_bytes(b"\x80\x04\x95 a pickle, not safetensors")
    assert_one_line_error(cli("eval", pickled), "unreadable weights")


def test_predict_bad_images(digits_run, tmp_path, shared_images):
    (tmp_path / "notes.jpg").write_text("hello")
    assert_one_line_error(cli("predict", digits_run, tmp_path / "notes.jpg"), "not an image Pillow can read")
    data = (shared_images / "chelsea.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:5000])
    assert_one_line_error(cli("predict", digits_run, tmp_path / "cut.png"), "corrupt or truncated")
    Image.new("L", (4000, 4000)).save(tmp_path / "bomb.png")
    assert_one_line_error(cli("predict", digits_run, tmp_path / "bomb.png", env={"CONVNET_MAX_PIXELS": "1000000"}),
                          "image bomb refused")
    assert_one_line_error(cli("predict", digits_run, tmp_path / "missing.png"), "no such file")


def test_eval_with_mismatched_classes(digits_run, texture_folder):
    assert_one_line_error(cli("eval", digits_run, "--data", texture_folder), "has classes [brick, grass, gravel] (3) but the run was trained on [0, 1")


def test_help_is_fast_and_lists_every_verb():
    start = time.perf_counter()
    out = cli("--help")
    assert out.returncode == 0 and time.perf_counter() - start < 10
    for verb in ("train", "eval", "predict", "demo"):
        assert verb in out.stdout
    code = "import sys, convnet; print('torch' in sys.modules)"
    import subprocess
    import sys

    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
