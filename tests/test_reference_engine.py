"""The reference engine as a whole: no torch inside, SGD and schedules as PyTorch's, LeNet-5
weights moving both ways between the engines, `convnet train --engine reference`, bad input."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from convnet import reference as ref
from convnet.cli.main import main
from convnet.errors import ConfigError
from convnet.reference_bridge import from_torch, load_reference_into_torch, load_torch_into_reference

REFERENCE = Path(__file__).resolve().parents[1] / "src" / "convnet" / "reference"


def test_reference_package_never_imports_torch():
    for path in REFERENCE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "torch" for n in names), f"{path.name} imports torch"
    code = ("import sys, numpy as np; import convnet.reference as r, convnet.reference.trainer as t; "
            "m = r.lenet5(); m(np.zeros((2, 1, 28, 28), np.float32)); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lenet5_has_the_published_parameter_count_and_torch_names():
    model = ref.lenet5()
    assert model.num_params() == 61_706            # LeNet-5 at 10 classes, as convnet.models.lenet
    from convnet.models import create

    torch_names = {k: tuple(v.shape) for k, v in create("lenet5").state_dict().items()}
    assert {k: v.shape for k, v in model.state_dict().items()} == torch_names


def test_sgd_matches_torch_nesterov_with_weight_decay():
    rng = np.random.default_rng(0)
    params = {"0.weight": rng.standard_normal((3, 4)), "0.bias": rng.standard_normal(3)}
    tparams = [torch.tensor(params["0.weight"], requires_grad=True), torch.tensor(params["0.bias"], requires_grad=True)]
    opt = ref.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
    topt = torch.optim.SGD([{"params": tparams[:1], "weight_decay": 0.01}, {"params": tparams[1:], "weight_decay": 0.0}],
                           lr=0.1, momentum=0.9, nesterov=True)
    for _ in range(5):
        grads = {"0.weight": rng.standard_normal((3, 4)), "0.bias": rng.standard_normal(3)}
        opt.step(params, grads)
        for t, g in zip(tparams, grads.values()):
            t.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(params["0.weight"], tparams[0].detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(params["0.bias"], tparams[1].detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "constant"])
def test_learning_rate_schedule_matches_convnet_torch_schedule(schedule):
    from convnet.training.config import TrainConfig
    from convnet.training.optim import make_schedule

    cfg = TrainConfig(lr=0.2, schedule=schedule, warmup=0.2, momentum=0.9)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2, momentum=0.9)
    sched, total = make_schedule(opt, cfg, 50), 50
    for step in range(total):
        assert ref.learning_rate(step, total, 0.2, schedule, 0.2) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9)
        opt.step()
        sched.step()


def _digits(n_train=1024):
    from convnet.data.batches import Preprocess, channel_stats
    from convnet.data.sources import load_dataset

    ds = load_dataset("digits")
    pre = Preprocess(1, (28, 28), *channel_stats(ds.train))
    return pre(ds.train.images[:n_train]), ds.train.labels[:n_train], pre(ds.test.images[:300]), ds.test.labels[:300]


def test_weights_move_both_ways_on_a_trained_lenet5():
    from convnet.models import create

    torch.manual_seed(0)
    x, y, xt, yt = _digits()
    module = create("lenet5")
    opt = torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(3):
        for i in range(0, len(x), 64):
            loss = torch.nn.functional.cross_entropy(module(x[i:i + 64]), y[i:i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    module.eval()
    with torch.no_grad():
        p_torch = torch.softmax(module(xt), 1).numpy()
    assert (p_torch.argmax(1) == yt.numpy()).mean() > 0.8          # it did learn something

    model = ref.lenet5(seed=123)                                    # different init, then PyTorch's weights
    load_torch_into_reference(module, model)
    p_ref = ref.softmax(model(xt.numpy()).astype(np.float64))
    assert np.abs(p_ref - p_torch).max() <= 1e-4

    # the reverse: train a little more in the reference engine, move the weights back
    opt = ref.SGD(model.parameters(), lr=0.05, momentum=0.9)
    from convnet.reference.trainer import train_step

    for i in range(0, 256, 64):
        train_step(model, x[i:i + 64].numpy(), y[i:i + 64].numpy(), opt)
    p_ref = ref.softmax(model(xt.numpy()).astype(np.float64))
    fresh = create("lenet5")
    load_reference_into_torch(model, fresh)
    with torch.no_grad():
        p_back = torch.softmax(fresh.eval()(xt), 1).numpy()
    assert np.abs(p_back - p_torch).max() > 1e-3                    # the weights did change
    assert np.abs(p_back - p_ref).max() <= 1e-4


def test_from_torch_copies_batchnorm_and_dropout_networks():
    import torch.nn as nn

    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect"), nn.BatchNorm2d(8), nn.ReLU(),
                           nn.LocalResponseNorm(3), nn.MaxPool2d(2), nn.Dropout(0.5),
                           nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    module.train()
    module(torch.randn(8, 3, 12, 12))                               # move the running statistics
    module.eval()
    model = from_torch(module)
    x = np.random.default_rng(0).standard_normal((4, 3, 12, 12)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(x), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="AdaptiveMaxPool2d"):
        from_torch(nn.Sequential(nn.AdaptiveMaxPool2d(1)))


def test_train_engine_reference_writes_a_run_the_torch_verbs_use(tmp_path, capsys):
    out = tmp_path / "ref-run"
    rc = main(["train", "--engine", "reference", "--model", "lenet5", "--data", "digits", "--epochs", "2",
               "--batch-size", "64", "--lr", "0.1", "--out", str(out), "--no-progress"])
    assert rc == 0
    config = json.loads((out / "config.json").read_text())
    assert config["engine"] == "reference" and config["params"] == 61_706
    results = json.loads((out / "results.json").read_text())
    assert results["test"]["accuracy"] >= 0.8, results["test"]["accuracy"]   # chance is 0.1; 97% is in BENCHMARKS.md
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2

    # the NumPy weights, read by the NumPy engine, agree with PyTorch reading the same file
    from convnet.models import create
    from convnet.reference.trainer import load_weights
    from convnet.training.runs import load_weights as torch_load

    model, module = ref.lenet5(seed=5), create("lenet5")
    load_weights(out / "model.safetensors", model)
    torch_load(out, module)
    _, _, xt, yt = _digits(1)
    with torch.no_grad():
        p_torch = torch.softmax(module.eval()(xt), 1).numpy()
    p_ref = ref.softmax(model(xt.numpy()).astype(np.float64))
    assert np.abs(p_ref - p_torch).max() <= 1e-4

    capsys.readouterr()
    assert main(["eval", str(out), "--no-progress"] if _has_flag("eval", "--no-progress") else ["eval", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{results['test']['accuracy']:.2%}" in text or f"{results['test']['accuracy'] * 100:.1f}" in text, text


def _has_flag(verb: str, flag: str) -> bool:
    from convnet.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb").choices[verb]
    return any(flag in a.option_strings for a in sub._actions)


@pytest.mark.parametrize("argv, message", [
    (["--optimizer", "adamw"], "sgd only"),
    (["--model", "convnet"], "no layer like AdaptiveMaxPool2d"),
    (["--model", "lenet5", "--input-size", "32"], "model lenet5 needs 28x28 input, not 32x32"),
    (["--model", "lenet5", "--resume", "runs/anything"], "--resume continues a run with its own configuration"),
])
def test_train_engine_reference_rejects_what_it_cannot_do(tmp_path, capsys, argv, message):
    out = tmp_path / "never"
    rc = main(["train", "--engine", "reference", "--epochs", "1", "--out", str(out), "--no-progress", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize("make, x_shape, message", [
    (lambda: ref.Conv2d(3, 4, 3), (1, 2, 8, 8), "expected 3 channels/features, got 2"),
    (lambda: ref.Conv2d(3, 4, 7, padding=1), (1, 3, 4, 4), "kernel 7 (span 7 with dilation 1) is larger than the padded input H=4+2*1=6"),
    (lambda: ref.Conv2d(3, 4, 3, dilation=3), (1, 3, 6, 6), "span 7 with dilation 3"),
    (lambda: ref.Conv2d(3, 4, 3, padding=4, padding_mode="reflect"), (1, 3, 4, 4), "reflect padding (4, 4) must be smaller than the input H=4, W=4"),
    (lambda: ref.MaxPool2d(5), (1, 3, 4, 4), "kernel 5"),
    (lambda: ref.Linear(10, 3), (2, 12), "expected 10 channels/features, got 12"),
    (lambda: ref.Linear(10, 3), (2, 10, 1), "expected a 2-d input"),
])
def test_bad_shapes_name_the_layer_and_the_numbers(make, x_shape, message):
    layer = make()
    with pytest.raises(ConfigError) as e:
        layer.forward(np.zeros(x_shape))
    assert message in str(e.value) and type(layer).__name__ in str(e.value)


@pytest.mark.parametrize("make, message", [
    (lambda: ref.Conv2d(3, 4, 3, stride=0), "stride must be at least 1, got 0"),
    (lambda: ref.Conv2d(3, 4, 3, padding_mode="circular"), "unknown padding mode 'circular'"),
    (lambda: ref.Conv2d(3, 4, 0), "kernel size must be at least 1, got 0"),
    (lambda: ref.Conv2d(3, 4, 3, groups=2), "groups=2 must divide in_channels=3"),
    (lambda: ref.MaxPool2d(2, stride=0), "stride must be at least 1, got 0"),
    (lambda: ref.MaxPool2d(2, padding=2), "padding 2 must be at most half the kernel 2"),
    (lambda: ref.Dropout(1.0), "p must be in [0, 1), got 1.0"),
])
def test_bad_settings_are_refused_when_the_layer_is_built(make, message):
    with pytest.raises(ConfigError, match=None) as e:
        make()
    assert message in str(e.value)


def test_mismatched_state_and_labels_are_refused():
    model = ref.lenet5()
    state = model.state_dict()
    state["0.weight"] = np.zeros((6, 1, 3, 3), np.float32)
    with pytest.raises(ConfigError, match=r"0\.weight: shape \(6, 1, 3, 3\) does not fit \(6, 1, 5, 5\)"):
        model.load_state_dict(state)
    with pytest.raises(ConfigError, match="missing"):
        model.load_state_dict({})
    with pytest.raises(ConfigError, match=r"labels must be in \[0, 3\), got 0..5"):
        ref.cross_entropy(np.zeros((2, 3)), np.array([0, 5]))
    with pytest.raises(ConfigError, match="2 logits rows but labels of shape"):
        ref.cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))


def test_blas_threads_can_be_limited_at_run_time():
    import ctypes
    import glob
    import os

    from convnet.reference.threads import set_blas_threads

    found = set_blas_threads(1)
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*"))
    getter = next((getattr(ctypes.CDLL(p), n) for p in libs for n in
                   ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads") if hasattr(ctypes.CDLL(p), n)), None)
    assert found == (getter is not None)          # an OpenBLAS NumPy was found exactly when it has one
    if getter is not None:
        assert getter() == 1
        set_blas_threads(2)
        assert getter() == min(2, os.cpu_count() or 2)
        set_blas_threads(1)
