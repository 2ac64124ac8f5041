"""The run directory type, the task interface and the one loop: formats, one writer at a time,
exact resume after a kill at every step of a checkpoint, flags generated from TrainConfig."""

import json
import shutil
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from convnet.data.sources import load_dataset
from convnet.training.config import TrainConfig, resolve_options
from convnet.training.runs import FORMAT, RunDir
from helpers import assert_one_line_error, cli, cli_in_process, write_idx_set

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_run_made_by_the_previous_format_still_evaluates_predicts_and_resumes(tmp_path):
    """tests/fixtures/run-format1 was written by main before the run format had a version
    (a 7,890-parameter notation model, 1 epoch on the embedded digits)."""
    run = tmp_path / "old"
    shutil.copytree(FIXTURES / "run-format1", run)
    assert RunDir.open(run).format == 1 and RunDir.open(run).task == "classify"
    saved = json.loads((run / "results.json").read_text())["test"]
    out = cli_in_process("eval", run, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["accuracy"] == pytest.approx(saved["accuracy"])
    digit = tmp_path / "digit.png"
    Image.fromarray(load_dataset("digits").test.images[0, 0].numpy()).save(digit)
    out = cli_in_process("predict", run, digit, "--json")
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)[0]["top"]) == 3
    out = cli_in_process("train", "--resume", run, "--no-progress")
    assert out.returncode == 0 and "all 1 epochs already done" in out.stdout, out.stderr


def test_new_runs_record_format_task_engine_and_resolved_values(digits_run):
    config = json.loads((digits_run / "config.json").read_text())
    assert (config["format"], config["task"], config["engine"]) == (FORMAT, "classify", "torch")
    assert config["train"]["lr"] == 0.02 and config["augment"] == {"crop_padding": 2, "hflip": False}
    state = torch.load(digits_run / "state.pt", weights_only=True)
    assert [r["epoch"] for r in state["history"]] == [1, 2]
    weights = load_file(digits_run / "model.safetensors")
    assert all(torch.equal(weights[k], state["model"][k]) for k in weights)   # one checkpoint, two views


def test_a_second_writer_is_refused_while_the_first_holds_the_run(tmp_path):
    out = tmp_path / "busy"
    first = RunDir.create(str(out), "convnet", "digits")
    try:
        assert_one_line_error(cli_in_process("train", "--epochs", "1", "--out", out, "--no-progress"),
                              f"run directory {out} is being written by process")
        (out / "config.json").write_text(json.dumps({"train": {}, "model": {}}))
        assert_one_line_error(cli_in_process("train", "--resume", out, "--no-progress"), "is being written by")
    finally:
        first.release()
    assert sorted(p.name for p in out.iterdir()) == [".lock", "config.json"]


def test_resume_refuses_flags_it_would_not_honour(digits_run):
    assert_one_line_error(cli_in_process("train", "--resume", digits_run, "--epochs", "5"),
                          "--resume continues a run with its own configuration", "--epochs")


@pytest.mark.slow
@pytest.mark.parametrize("point", ["begin", "state", "weights", "metrics"])
def test_a_kill_at_any_step_of_a_checkpoint_resumes_bit_identical(tmp_path, point):
    """The process is stopped (injected, not timed) at one step of epoch 2's checkpoint; the
    resumed run must end with exactly the weights and metrics of an uninterrupted one."""
    data = write_idx_set(tmp_path / "data", n_train=192, n_test=32)
    args = ["train", "--data", data, "--model", "input(1,12,12)-conv(4,3)-relu-pool(2)-fc",
            "--epochs", "3", "--batch-size", "32", "--seed", "5", "--threads", "1", "--no-progress"]
    straight = cli(*args, "--out", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr
    killed = tmp_path / "killed"
    stopped = cli(*args, "--out", killed, env={"CONVNET_TEST_KILL_AT": f"{point}:2"})
    assert stopped.returncode == 99, stopped.stderr                   # stopped where it was told
    resumed = cli("train", "--resume", killed, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_file(killed / "model.safetensors"), load_file(tmp_path / "straight" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    expected = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["train_loss"] for r in rows] == [r["train_loss"] for r in expected]


def test_every_training_option_is_a_flag_with_its_help_and_default():
    out = cli_in_process("train", "--help")
    flagged = [f for f in fields(TrainConfig) if f.metadata.get("flag", True)]
    for f in flagged:
        name = f.metadata.get("negate") or "--" + f.name.replace("_", "-")
        assert name in out.stdout, name
    text = " ".join(out.stdout.split())                  # argparse wraps the help lines
    assert "(default: 256)" in text and "(default: onecycle)" in text


def test_config_file_values_pass_the_same_checks_as_flags(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("weight_decay: .inf\n")
    assert_one_line_error(cli_in_process("train", "--config", bad), "weight decay must be a finite number")


def test_defaults_meet_in_one_place_model_then_engine_then_project():
    cfg, used = resolve_options({"engine": "reference", "model": "lenet5"})
    assert (cfg.batch_size, cfg.lr, cfg.optimizer) == (64, 0.1, "sgd") and used == {"batch_size": 64, "lr": 0.1}
    cfg, _ = resolve_options({"engine": "reference", "model": "lenet5", "lr": 0.05})
    assert cfg.lr == 0.05
    cfg, used = resolve_options({"model": "capsnet"}, {"optimizer": "sgd"})
    assert cfg.optimizer == "sgd" and cfg.lr == 1e-3 and "optimizer" not in used
    assert resolve_options({"model": "lenet5"})[0].batch_size == 256


def test_tasks_are_listed_and_the_image_task_claims_image_data():
    from convnet.tasks import get_task, names, task_for

    assert "classify" in names() and names()[-1] == "classify"
    assert task_for("digits", None).name == "classify"
    assert get_task("classify").metric == "accuracy"
    out = cli_in_process("tasks", "--json")
    assert out.returncode == 0 and "classify" in [t["task"] for t in json.loads(out.stdout)]
    assert_one_line_error(cli_in_process("train", "--task", "nope"), "unknown task 'nope'")


def test_the_reference_engine_trains_through_the_same_loop(tmp_path):
    data = write_idx_set(tmp_path / "data", n_train=256, n_test=64)
    out = cli_in_process("train", "--engine", "reference", "--data", data, "--model",
                         "input(1,12,12)-conv(4,3)-relu-pool(2)-fc", "--epochs", "2",
                         "--out", tmp_path / "ref", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "the NumPy reference engine" in out.stdout and "epoch   2/2" in out.stdout
    config = json.loads((tmp_path / "ref" / "config.json").read_text())
    assert config["engine"] == "reference" and config["train"]["batch_size"] == 64
    results = json.loads((tmp_path / "ref" / "results.json").read_text())
    assert results["test"]["accuracy"] > 0.9
    ev = cli_in_process("eval", tmp_path / "ref", "--json")     # the PyTorch verbs read it as any run
    assert json.loads(ev.stdout)["accuracy"] == pytest.approx(results["test"]["accuracy"])
