"""train / eval / predict end to end, the run directory, resume and reproducibility."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import convnet
from convnet.data.sources import load_dataset
from convnet.inference import Classifier
from convnet.training.config import TrainConfig
from convnet.training.loop import train
from helpers import cli, write_idx_set


def test_run_directory_contents(digits_run):
    config = json.loads((digits_run / "config.json").read_text())
    assert config["classes"] == [str(d) for d in range(10)]
    assert config["model"] == {"name": "convnet", "num_classes": 10, "in_channels": 1}
    assert config["preprocess"]["size"] == [28, 28] and len(config["preprocess"]["mean"]) == 1
    assert config["train"]["seed"] == 0 and config["environment"]["torch"] == torch.__version__
    metrics = [json.loads(line) for line in (digits_run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert all(0 <= m["test_accuracy"] <= 1 and m["images_per_second"] > 0 for m in metrics)
    weights = load_file(digits_run / "model.safetensors")
    assert sum(v.numel() for v in weights.values() if v.is_floating_point()) >= config["params"]
    state = torch.load(digits_run / "state.pt", weights_only=True)     # no pickled objects inside
    assert state["epoch"] == 2
    results = json.loads((digits_run / "results.json").read_text())
    assert results["test"]["n"] == 1000 and sum(map(sum, results["test"]["confusion"])) == 1000


def test_eval_json_matches_results_file(digits_run):
    out = cli("eval", digits_run, "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    saved = json.loads((digits_run / "results.json").read_text())["test"]
    assert report["n"] == 1000 and report["accuracy"] == pytest.approx(saved["accuracy"])
    assert 0 <= report["accuracy"] <= 1 and set(report["per_class_accuracy"]) == set("0123456789")


def test_eval_on_another_data_set_and_text_output(digits_run, shared_datasets):
    out = cli("eval", digits_run, "--data", "mnist", "--data-dir", shared_datasets / "mnist-10k")
    assert out.returncode == 0, out.stderr
    assert "mnist test: accuracy" in out.stdout and "(2,000 images)" in out.stdout
    assert len([line for line in out.stdout.splitlines() if "%" in line]) == 11   # total + 10 classes


def test_predict_on_image_files_agrees_with_the_tensor_path(digits_run, tmp_path):
    test = load_dataset("digits").test
    paths = []
    for i in range(12):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(test.images[i, 0].numpy()).save(path)
        paths.append(path)
    out = cli("predict", digits_run, *paths, "--top", "2", "--json")
    assert out.returncode == 0, out.stderr
    predictions = json.loads(out.stdout)
    clf = Classifier.load(digits_run)
    probs = clf.probabilities(test.images[:12])
    for p, row in zip(predictions, probs):
        assert len(p["top"]) == 2 and p["top"][0]["probability"] >= p["top"][1]["probability"]
        assert p["top"][0]["class"] == clf.classes[int(row.argmax())]
        assert p["top"][0]["probability"] == pytest.approx(float(row.max()), abs=1e-5)
    text = cli("predict", digits_run, paths[0])
    assert text.returncode == 0 and text.stdout.startswith(f"{paths[0]}: ")


def test_python_api(digits_run, shared_images):
    clf = convnet.load(digits_run)
    (pred,) = clf.predict(shared_images / "coins.png", top=3)      # any photo is converted and resized
    assert len(pred.top) == 3 and abs(sum(p for _, p in pred.top)) <= 1.0 + 1e-6
    array_pred = clf.predict([np.zeros((28, 28), np.uint8)])[0]
    assert array_pred.label in clf.classes


def test_image_folder_end_to_end(texture_folder, tmp_path):
    run = tmp_path / "tex"
    out = cli("train", "--data", texture_folder, "--input-size", "32", "--epochs", "12", "--lr", "0.02",
              "--batch-size", "16", "--out", run, "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "96 train / 24 val images" in out.stdout           # 20% of each class held out
    report = json.loads(cli("eval", run, "--json").stdout)
    assert report["n"] == 24 and report["accuracy"] >= 0.7       # three very different textures
    config = json.loads((run / "config.json").read_text())
    assert config["classes"] == ["brick", "grass", "gravel"] and config["preprocess"]["size"] == [32, 32]
    crop = next((texture_folder / "gravel").iterdir())
    assert cli("predict", run, crop).returncode == 0


def test_same_seed_same_result(tmp_path):
    data = write_idx_set(tmp_path / "data", n_train=256, n_test=64)
    runs = []
    for name in ("a", "b"):
        cfg = TrainConfig(data=str(data), epochs=2, batch_size=32, lr=0.05, seed=7, out=str(tmp_path / name),
                          progress=False)
        runs.append(train(cfg, log=lambda *_: None))
    a, b = (load_file(r.run_dir / "model.safetensors") for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["train_loss"] for h in runs[0].history] == [h["train_loss"] for h in runs[1].history]
    c = train(TrainConfig(data=str(data), epochs=1, batch_size=32, lr=0.05, seed=8, out=str(tmp_path / "c"),
                          progress=False), log=lambda *_: None)
    assert c.history[0]["train_loss"] != runs[0].history[0]["train_loss"]


def test_learns_a_synthetic_task_with_each_optimizer_and_schedule(tmp_path):
    data = write_idx_set(tmp_path / "data", n_train=384, n_test=96)
    for optimizer, schedule in (("sgd", "cosine"), ("adamw", "onecycle"), ("sgd", "constant")):
        cfg = TrainConfig(data=str(data), epochs=3, batch_size=32, optimizer=optimizer, schedule=schedule,
                          lr=0.01 if optimizer == "sgd" else 3e-3, out=str(tmp_path / f"{optimizer}-{schedule}"),
                          progress=False, crop_padding=0)
        result = train(cfg, log=lambda *_: None)
        assert result.test["accuracy"] >= 0.9, (optimizer, schedule, result.test["accuracy"])


def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path):
    data = write_idx_set(tmp_path / "data", n_train=1024, n_test=64, size=16)
    args = ["train", "--data", data, "--epochs", "6", "--batch-size", "32", "--lr", "0.05", "--seed", "3",
            "--input-size", "16", "--no-progress"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "convnet", *map(str, args), "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline:                                   # wait for the first checkpoint
        metrics = killed / "metrics.jsonl"
        if metrics.exists() and metrics.read_text().count("\n") >= 1:
            break
        if proc.poll() is not None:
            pytest.fail(f"training ended early: {proc.stderr.read()}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = torch.load(killed / "state.pt", weights_only=True)["epoch"]
    assert 1 <= done < 6, "the kill should land mid-run"
    resumed = cli("train", "--resume", killed, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {killed} at epoch {done + 1}/6" in resumed.stdout
    straight = cli(*args, "--out", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr
    a, b = load_file(killed / "model.safetensors"), load_file(tmp_path / "straight" / "model.safetensors")
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
    lines = (killed / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4, 5, 6]


def test_a_diverging_run_says_why(tmp_path):
    data = write_idx_set(tmp_path / "data")
    out = cli("train", "--data", data, "--epochs", "1", "--batch-size", "16", "--lr", "1e12",
              "--schedule", "constant", "--out", tmp_path / "r", "--no-progress")
    assert out.returncode != 0 and "learning rate" in out.stderr and "Traceback" not in out.stderr


def test_threads_option_is_applied(tmp_path):
    data = write_idx_set(tmp_path / "data")
    code = ("import torch; from convnet.training.hardware import resolve; resolve(threads=1); "
            "print(torch.get_num_threads())")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "1"
    out = cli("train", "--data", data, "--epochs", "1", "--threads", "1", "--out", tmp_path / "r", "--no-progress")
    assert out.returncode == 0 and "1 threads" in out.stdout


def test_flip_tta_averages_each_image_with_its_mirror(fashion_run):
    """`eval --tta` and the results file agree with averaging the logits by hand."""
    results = json.loads((fashion_run / "results.json").read_text())["test"]
    out = cli("eval", fashion_run, "--tta", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["flip_tta"] and report["accuracy"] == pytest.approx(results["flip_tta_accuracy"])
    clf = Classifier.load(fashion_run)
    test = load_dataset("fashion-mnist", clf.config["data"]["path"]).test
    x = clf.preprocess(test.images)                                   # [N, 1, 28, 28]
    with torch.no_grad():
        clf.model.eval()
        plain = clf.model(x)
        logits = (plain + clf.model(torch.flip(x, dims=[3]))) / 2
    assert report["accuracy"] == pytest.approx((logits.argmax(1) == test.labels).float().mean().item())
    # and the plain figure beside it is the images' own (whether or not the mirror changed any answer)
    assert results["accuracy"] == pytest.approx((plain.argmax(1) == test.labels).float().mean().item())
