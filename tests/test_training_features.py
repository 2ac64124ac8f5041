"""What Keras, fastai and Ultralytics users reach for, in the one loop: early stopping and the
best checkpoint, EMA, TensorBoard events, lr-find, fine-tuning, class weights, a balanced
sampler, mixup/cutmix, a time budget."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from convnet.tasks.classify import balanced_weights, inverse_frequency, mix
from helpers import assert_one_line_error, cli, cli_in_process, write_idx_set

TINY = "input(1,12,12)-conv(8,3)-relu-pool(2)-fc"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_idx_set(tmp_path_factory.mktemp("tiny") / "data", n_train=300, n_test=60)


def train(*args):
    out = cli_in_process("train", "--model", TINY, "--batch-size", "32", "--no-progress", *args)
    assert out.returncode == 0, out.stderr
    return out


def test_patience_stops_and_resume_after_an_early_stop_does_nothing(tiny, tmp_path):
    run = tmp_path / "r"
    # no gain can exceed 0.5 after the first epoch: it must stop after exactly 1 + patience epochs
    out = train("--data", tiny, "--epochs", "8", "--val-fraction", "0.2", "--patience", "2",
                "--min-delta", "0.5", "--out", run)
    assert "stopping early" in out.stdout
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    results = json.loads((run / "results.json").read_text())
    assert results["epochs_trained"] == 3 and results["best_epoch"] == 1 and results["weights"] == "best"
    again = cli_in_process("train", "--resume", run, "--no-progress")
    assert again.returncode == 0 and "stopped early at epoch 3" in again.stdout
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3


def test_patience_without_a_validation_split_refuses(tiny, tmp_path):
    assert_one_line_error(cli_in_process("train", "--data", tiny, "--patience", "2", "--out", tmp_path / "r"),
                          "--patience watches the validation split")
    assert not (tmp_path / "r").exists()


def test_best_checkpoint_holds_the_best_validation_epoch_and_eval_uses_it(tiny, tmp_path):
    run = tmp_path / "r"
    train("--data", tiny, "--epochs", "4", "--val-fraction", "0.25", "--lr", "0.5", "--schedule", "constant",
          "--out", run)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    best = json.loads((run / "results.json").read_text())["best_epoch"]
    top = max(r["val_accuracy"] for r in rows)
    assert rows[best - 1]["val_accuracy"] == top               # the best epoch is a best one
    val = json.loads(cli_in_process("eval", run, "--split", "val", "--json", "--weights", "best").stdout)
    assert val["accuracy"] == pytest.approx(top)
    last = json.loads(cli_in_process("eval", run, "--split", "val", "--json", "--weights", "last").stdout)
    assert last["accuracy"] == pytest.approx(rows[-1]["val_accuracy"])
    auto = json.loads(cli_in_process("eval", run, "--json").stdout)
    assert auto["accuracy"] == pytest.approx(json.loads((run / "results.json").read_text())["test"]["accuracy"])


@pytest.mark.slow
def test_ema_state_survives_a_resume_bit_for_bit(tiny, tmp_path):
    args = ["train", "--data", tiny, "--model", TINY, "--epochs", "3", "--batch-size", "32", "--ema", "0.9",
            "--threads", "1", "--no-progress"]
    straight = cli(*args, "--out", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr
    killed = cli(*args, "--out", tmp_path / "killed", env={"CONVNET_TEST_KILL_AT": "state:2"})
    assert killed.returncode == 99
    assert cli("train", "--resume", tmp_path / "killed", "--no-progress").returncode == 0
    a, b = load_file(tmp_path / "killed" / "model.safetensors"), load_file(tmp_path / "straight" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    state = torch.load(tmp_path / "straight" / "state.pt", weights_only=True)
    assert "ema" in state and not all(torch.equal(state["model"][k], b[k]) for k in b)   # saved = the average


def test_tensorboard_events_are_read_back_by_tensorboard(tiny, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "r"
    train("--data", tiny, "--epochs", "2", "--val-fraction", "0.2", "--log", "tensorboard", "--out", run)
    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "val/accuracy", "train/lr"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("val/accuracy")] == [1, 2]
    assert {"final/confusion", "final/curves"} <= set(tags["images"])
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,train_loss")


def test_lr_find_leaves_nothing_behind_and_suggests_a_rate_that_trains(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = cli_in_process("lr-find", "--data", tiny, "--model", TINY, "--batch-size", "32", "--steps", "80",
                         "--plot", "curve.png", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png"]      # no run directory
    lr = float(out.stdout.split("suggested learning rate ")[1].split()[0])
    assert 1e-6 < lr < 10
    result = train("--data", tiny, "--epochs", "3", "--lr", str(lr), "--out", tmp_path / "r")
    assert json.loads((tmp_path / "r" / "results.json").read_text())["test"]["accuracy"] >= 0.9, result.stdout


def test_fine_tuning_replaces_the_head_and_freezes_what_it_is_told(tiny, tmp_path):
    first = tmp_path / "a"
    train("--data", tiny, "--epochs", "2", "--out", first)
    two = write_idx_set(tmp_path / "two", n_train=120, n_test=40, classes=2)
    second = tmp_path / "b"
    out = train("--data", two, "--epochs", "1", "--init", first, "--freeze", "1", "--body-lr-mult", "0.1",
                "--out", second)
    assert "starting from" in out.stdout
    config = json.loads((second / "config.json").read_text())
    assert config["init"]["from"] == str(first.resolve()) and config["model"]["num_classes"] == 2
    assert config["init"]["new"]                                     # the 3-class head could not be kept
    a, b = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    frozen = [k for k in a if k.startswith("0.")]                       # the first conv block
    assert frozen and all(torch.equal(a[k], b[k]) for k in frozen)
    assert all(a[k].shape != b[k].shape for k in config["init"]["new"] if k in a)


def test_class_weights_and_the_balanced_sampler():
    labels = torch.tensor([0] * 80 + [1] * 16 + [2] * 4)
    w = inverse_frequency(labels, 3)
    assert torch.allclose(w[labels].mean(), torch.tensor(1.0)) and w[2] / w[0] == pytest.approx(20)
    draws = torch.multinomial(balanced_weights(labels), 30_000, replacement=True,
                              generator=torch.Generator().manual_seed(0))
    share = torch.bincount(labels[draws], minlength=3).float() / 30_000
    assert torch.all((share - 1 / 3).abs() < 0.02), share


def test_mixup_and_cutmix_blend_with_the_weight_they_report():
    torch.manual_seed(0)
    x = torch.zeros(8, 1, 16, 16)
    x[::2] = 1.0                                   # half the images white, half black
    y = torch.arange(8)
    mixed, y2, lam = mix(x, y, 0.4, 0.0)
    assert 0 <= lam <= 1 and torch.allclose(mixed, lam * x + (1 - lam) * x[[int(v) for v in y2]])
    cut, y2, lam = mix(x, y, 0.0, 1.0)
    pasted = (cut != x).float().mean(dim=(1, 2, 3))            # where the partner differed
    differs = (x.flatten(1)[:, 0] != x.flatten(1)[y2, 0])
    assert torch.allclose(pasted[differs], torch.full_like(pasted[differs], 1 - lam))


def test_a_time_budget_sets_the_epochs_and_records_them(tiny, tmp_path):
    out = train("--data", tiny, "--time", "3", "--out", tmp_path / "r")
    assert "--time 3:" in out.stdout
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    rows = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    assert config["train"]["epochs"] == len(rows) >= 1


def test_amp_auto_measures_both_precisions_once_and_keeps_the_faster(tiny, tmp_path, monkeypatch):
    """On a CPU with native bf16 (flags faked here: the decision is what is tested, not the CPU),
    the choice follows the measured times, and the second run reads the cached measurement."""
    from convnet.training import amp_probe

    monkeypatch.setattr(amp_probe, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    monkeypatch.setenv("CONVNET_CACHE", str(tmp_path / "cache"))
    out = train("--data", tiny, "--epochs", "1", "--out", tmp_path / "a")
    line = next(x for x in out.stdout.splitlines() if x.startswith("amp auto:"))
    cache = json.loads((tmp_path / "cache" / "amp.json").read_text())
    (m,) = cache.values()
    chose_bf16 = m["fp32_ms"] / m["bf16_ms"] >= amp_probe.MARGIN
    assert line.startswith(f"amp auto: {'bf16' if chose_bf16 else 'fp32'}") and "measured now" in line
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert ("bf16" in config["hardware"]) == chose_bf16
    again = train("--data", tiny, "--epochs", "1", "--out", tmp_path / "b")
    assert "measured before on this machine" in again.stdout
    monkeypatch.setattr(amp_probe, "cpu_flags", lambda: frozenset())
    plain = train("--data", tiny, "--epochs", "1", "--out", tmp_path / "c")
    assert "amp auto" not in plain.stdout and "fp32" in plain.stdout
