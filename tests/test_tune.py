"""convnet tune and convnet train --config: spaces, bad input, a real study, resume, pruning.

Studies train on a tiny MNIST-format folder cut from the embedded digits (200 train images,
100 test, 1 epoch) so each trial takes a second or two."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convnet.cli.main import main
from convnet.errors import ConfigError

TINY_SPACE = """\
lr: {low: 0.02, high: 0.2, log: true}
epochs: 1
batch_size: 16
blocks: [1, 2]
filters: [4, 8]
"""


def make_tiny_mnist(folder: Path, n_train: int = 200, n_test: int = 100) -> Path:
    from convnet.data.idx import write_idx_subset
    from convnet.data.sources import EMBEDDED

    return write_idx_subset(EMBEDDED, folder, n_train, n_test)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_mnist(tmp_path_factory.mktemp("tiny-mnist"))


@pytest.fixture()
def space_file(tmp_path) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(TINY_SPACE)
    return path


def tune_argv(tiny: Path, space: Path, out: Path, *extra: str) -> list[str]:
    return ["tune", "--space", str(space), "--data", "mnist", "--data-dir", str(tiny), "--out", str(out),
            "--no-progress", *extra]


def tree_digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- the search space ------------------------------------------------------------------

def test_default_space_is_commented_and_covers_training_and_architecture():
    from convnet.tune.space import ARCH_KEYS, DEFAULT_SPACE, load_space

    text = DEFAULT_SPACE.read_text()
    assert text.count("#") > 15
    space = load_space()
    assert set(ARCH_KEYS) <= set(space.params)
    assert {"lr", "batch_size", "weight_decay", "epochs", "label_smoothing", "optimizer"} <= set(space.params)
    assert space.params["lr"].log and space.params["lr"].kind == "float"


@pytest.mark.parametrize("text, words", [
    ("lrr: 0.1", ["lrr", "unknown key"]),
    ("batch_size: {low: 1.5, high: 8}", ["batch_size", "1.5", "whole number"]),
    ("optimizer: [sgd, rmsprop]", ["optimizer", "rmsprop"]),
    ("lr: {low: 0.1, high: 0.01}", ["lr", "empty range"]),
    ("hidden: []", ["hidden", "empty list"]),
    ("weight_decay: {low: 0.0, high: 0.1, log: true}", ["weight_decay", "log range"]),
    ("kernel: [3, 4]", ["kernel", "4", "odd"]),
    ("dropout: {low: 0.0, high: 0.5, scale: 2}", ["dropout", "scale"]),
    ("epochs: true", ["epochs", "True"]),
    ("- lr", ["mapping"]),
])
def test_bad_space_names_the_key(tmp_path, text, words):
    from convnet.tune.space import load_space

    path = tmp_path / "bad.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as e:
        load_space(path)
    for word in words:
        assert word in str(e.value)


def test_grid_enumerates_each_distinct_point_once():
    from convnet.tune.space import parse_space

    space = parse_space({"lr": [0.01, 0.1], "blocks": [1, 2], "filters": [8, 16], "epochs": 1})
    points = space.grid()
    # per lr: 2 one-block nets + 4 two-block nets; filters_2 exists only with two blocks
    assert len(points) == 2 * (2 + 4)
    assert len({json.dumps(p, sort_keys=True) for p in points}) == len(points)
    assert all(("filters_2" in p) == (p["blocks"] == 2) for p in points)
    with pytest.raises(ConfigError, match="grid search needs a list of values for 'lr'"):
        parse_space({"lr": {"low": 0.01, "high": 0.1}}).grid()


def test_sampled_architecture_builds_and_output_side_matches_torch():
    import optuna
    import torch

    from convnet.models import create
    from convnet.tune.space import output_side, parse_space

    space = parse_space({"blocks": 3, "filters": 8, "kernel": 5, "stride": 2, "downsample": "stride",
                         "hidden": 16, "dropout": 0.25, "lr": 0.05})
    train, kwargs = space.sample(optuna.trial.FixedTrial({}))
    assert train == {"lr": 0.05}
    assert kwargs == {"widths": [8, 8, 8], "kernel": 5, "stride": 2, "downsample": "stride",
                      "hidden": 16, "dropout": 0.25}
    for kw in (kwargs, {**kwargs, "downsample": "pool", "stride": 1, "widths": [8] * 4}):
        model = create("convnet", 10, 1, **kw).eval()
        pool = next(i for i, m in enumerate(model) if isinstance(m, torch.nn.AdaptiveMaxPool2d))
        features = model[:pool](torch.zeros(1, 1, 28, 28))          # [1, C, h, w] before the global pool
        assert features.shape[-1] == output_side(28, kw)
    too_deep = {**kwargs, "downsample": "pool", "widths": [8] * 4}
    assert output_side(28, too_deep) == 0
    with pytest.raises(RuntimeError):
        create("convnet", 10, 1, **too_deep).eval()(torch.zeros(1, 1, 28, 28))


# --- convnet train --config ---------------------------------------------------------------

def test_train_config_file_flag_wins_and_kwargs_reach_the_model(tmp_path, tiny, capsys):
    import torch

    from convnet.inference import Classifier

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"data: mnist\ndata_dir: {tiny}\nepochs: 3\nbatch_size: 50\nlr: 0.05\n"
                   "model_kwargs: {widths: [6, 12], kernel: 5, hidden: 20}\nprogress: false\n")
    # --epochs 1 wins over the file's 3, even though... and --batch-size 256 (the default value) too
    assert main(["train", "--config", str(cfg), "--epochs", "1", "--batch-size", "256",
                 "--out", str(tmp_path / "run")]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["epochs"] == 1 and saved["train"]["batch_size"] == 256
    assert saved["train"]["lr"] == 0.05 and saved["train"]["data_dir"] == str(tiny)   # from the file
    assert saved["train"]["momentum"] == 0.9                                           # the default
    assert saved["model"]["kwargs"]["widths"] == [6, 12]
    clf = Classifier.load(tmp_path / "run")
    convs = [m for m in clf.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [6, 12] and convs[0].kernel_size == (5, 5)
    assert saved["params"] == sum(p.numel() for p in clf.model.parameters())


@pytest.mark.parametrize("text, words", [
    ("epochz: 3", ["epochz", "unknown"]),
    ("epochs: three", ["epochs", "three", "int"]),
    ("lr: [0.1]", ["lr", "float"]),
    ("hflip: 1", ["hflip", "bool"]),
])
def test_train_config_file_bad_key_is_one_line(tmp_path, capsys, text, words):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text + "\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("convnet train: error:")
    for word in words:
        assert word in err
    assert not (tmp_path / "run").exists()


# --- a real study -------------------------------------------------------------------------

def test_random_study_end_to_end_and_best_yaml_reproduces(tmp_path, tiny, space_file, capsys):
    from convnet.data.idx import load_idx_pair
    from convnet.inference import Classifier

    out = tmp_path / "study"
    assert main(tune_argv(tiny, space_file, out, "--method", "random", "--trials", "2")) == 0
    printed = capsys.readouterr().out
    assert "best trial" in printed and "val_accuracy" in printed
    rows = (out / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("trial,state,val_accuracy,epochs,seconds,") and len(rows) == 3
    for name in ("best.yaml", "best.json", "history.png", "importance.png", "parallel.png", "study.db"):
        assert (out / name).is_file(), name
    assert (out / "history.png").read_bytes()[:4] == b"\x89PNG"
    # no trial looked at the test set
    trials = sorted((out / "trials").iterdir())
    assert len(trials) == 2 and not any((t / "results.json").exists() for t in trials)

    best = json.loads((out / "best.json").read_text())
    best_run = Path(best["run_dir"])
    assert json.loads((best_run / "metrics.jsonl").read_text().splitlines()[-1])["val_accuracy"] == \
        best["val_accuracy"]
    # the test accuracy, recomputed independently through the public Classifier
    images, labels = load_idx_pair(tiny, "t10k")
    clf = Classifier.load(best_run)
    predicted = [p.top[0][0] for p in clf.predict(list(images))]
    expected = sum(int(p) == int(y) for p, y in zip(predicted, labels)) / len(labels)
    assert best["test_accuracy"] == pytest.approx(expected, abs=1e-9)

    # best.yaml retrains the same network to the same validation accuracy
    assert main(["train", "--config", str(out / "best.yaml"), "--out", str(tmp_path / "again"),
                 "--no-progress"]) == 0
    again = json.loads((tmp_path / "again" / "metrics.jsonl").read_text().splitlines()[-1])
    assert again["val_accuracy"] == best["val_accuracy"]


def test_grid_runs_every_point_once_and_refuses_a_short_budget(tmp_path, tiny, capsys):
    import optuna

    space = tmp_path / "grid.yaml"
    space.write_text("lr: [0.05, 0.1]\nepochs: 1\nbatch_size: 16\nblocks: 1\nfilters: [4, 8]\n")
    out = tmp_path / "grid"
    assert main(tune_argv(tiny, space, out, "--method", "grid", "--trials", "3")) == 2
    err = capsys.readouterr().err
    assert "4 points" in err and "--trials is 3" in err and not out.exists()

    assert main(tune_argv(tiny, space, out, "--method", "grid", "--trials", "10")) == 0
    study = optuna.load_study(study_name="grid", storage=f"sqlite:///{out / 'study.db'}")
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert sorted((t.params["lr"], t.params["filters_1"]) for t in done) == \
        [(0.05, 4), (0.05, 8), (0.1, 4), (0.1, 8)]


def test_bad_tune_input_leaves_the_study_untouched(tmp_path, tiny, space_file, capsys):
    out = tmp_path / "study"
    assert main(tune_argv(tiny, space_file, out, "--method", "bayes", "--trials", "1")) == 0
    before = tree_digest(out)
    capsys.readouterr()
    cases = [
        ([], "already holds a study"),                                              # no --resume
        (["--resume", "--method", "random"], "uses --method bayes"),
        (["--storage", "postgresql://tuner:secret@127.0.0.1:9/nowhere"], "127.0.0.1:9"),
        (["--storage", "nonsense"], "'nonsense'"),
    ]
    for extra, words in cases:
        assert main(tune_argv(tiny, space_file, out, "--trials", "2", *extra)) == 2, extra
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err, err
        assert "secret" not in err                                # passwords stay out of messages
    bad_space = tmp_path / "bad.yaml"
    bad_space.write_text("lr: {low: 0.5, high: 0.1}\n")
    assert main(tune_argv(tiny, bad_space, out, "--resume")) == 2
    assert "empty range" in capsys.readouterr().err
    assert tree_digest(out) == before
    # and a study that never began leaves no folder behind
    fresh = tmp_path / "fresh"
    assert main(tune_argv(tiny, bad_space, fresh)) == 2
    assert main(tune_argv(tiny, space_file, fresh, "--val-fraction", "0")) == 2
    assert "validation split" in capsys.readouterr().err
    assert not fresh.exists()


def test_killed_study_resumes_without_losing_a_finished_trial(tmp_path, tiny):
    import optuna

    space = tmp_path / "slow.yaml"        # 2 epochs, so the kill lands inside a trial
    space.write_text("lr: {low: 0.02, high: 0.2, log: true}\nepochs: 2\nbatch_size: 16\nfilters: [4, 8]\n"
                     "blocks: 1\n")
    out = tmp_path / "study"
    argv = [sys.executable, "-m", "convnet", *tune_argv(tiny, space, out, "--method", "random",
                                                        "--trials", "2", "--pruner", "none")]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        finished_before = wait_for_complete_trial(out / "study.db", proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    storage = f"sqlite:///{out / 'study.db'}"
    before = {t.number: (t.params, t.value) for t in optuna.load_study(study_name="study", storage=storage).trials
              if t.state.name == "COMPLETE"}
    assert len(before) >= finished_before >= 1

    assert main(tune_argv(tiny, space, out, "--resume", "--trials", "2")) == 0
    trials = optuna.load_study(study_name="study", storage=storage).trials
    complete = {t.number: (t.params, t.value) for t in trials if t.state.name == "COMPLETE"}
    assert len(complete) == 2
    assert all(complete[n] == before[n] for n in before)           # finished trials kept as they were
    killed = [t for t in trials if t.state.name == "FAIL"]
    assert len(killed) <= 1                                          # the one the kill interrupted...
    for t in killed:                                                 # ...ran again with its parameters
        retry = [r for r in trials if t.number in r.system_attrs.get("retry_history", [])]
        assert len(retry) == 1 and retry[0].state.name == "COMPLETE"
        assert t.params and all(retry[0].params[k] == v for k, v in t.params.items())


def wait_for_complete_trial(db: Path, proc, timeout: float = 120.0) -> int:
    """Poll the study's SQLite file until a trial is complete and the next is running with its
    parameters drawn."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("convnet tune ended before it could be killed")
        if db.is_file():
            try:
                with sqlite3.connect(db, timeout=1) as con:
                    states = [s for (s,) in con.execute("select state from trials")]
                    running_with_params = con.execute(      # lr and filters_1 both drawn
                        "select count(*) from trials t join trial_params p on p.trial_id = t.trial_id "
                        "where t.state = 'RUNNING' group by t.trial_id having count(*) = 2").fetchall()
            except sqlite3.OperationalError:
                states, running_with_params = [], []
            if states.count("COMPLETE") >= 1 and running_with_params:
                return states.count("COMPLETE")
        time.sleep(0.2)
    pytest.fail("no trial completed in time")


# --- pruning ---------------------------------------------------------------------------

def test_pruning_stops_a_lagging_trial_but_never_at_its_last_epoch():
    import optuna

    from convnet.tune.study import report

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=3))
    for _ in range(3):
        study.add_trial(optuna.trial.create_trial(value=0.9, intermediate_values={1: 0.8, 2: 0.9},
                                                  distributions={}, params={}))
    trial = study.ask()
    report(trial, {"epoch": 1, "val_accuracy": 0.85}, epochs=3)            # above the median: runs on
    with pytest.raises(optuna.TrialPruned):
        report(trial, {"epoch": 2, "val_accuracy": 0.10}, epochs=3)
    last = study.ask()
    report(last, {"epoch": 2, "val_accuracy": 0.10}, epochs=2)             # last epoch: finish instead


def test_on_epoch_hook_stops_training(tmp_path, tiny):
    from convnet.training.config import TrainConfig
    from convnet.training.loop import train

    class Stop(Exception):
        pass

    seen = []

    def on_epoch(record):
        seen.append(record)
        if record["epoch"] == 1:
            raise Stop

    cfg = TrainConfig(data="mnist", data_dir=str(tiny), epochs=3, batch_size=50, val_fraction=0.2,
                      model_kwargs={"widths": [4]}, out=str(tmp_path / "run"), progress=False)
    with pytest.raises(Stop):
        train(cfg, log=lambda *_: None, on_epoch=on_epoch, evaluate_test=False)
    assert [r["epoch"] for r in seen] == [1] and "val_accuracy" in seen[0]
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1


def test_tune_help_stays_light():
    code = ("import sys; from convnet.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'optuna', 'sqlalchemy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.stdout.strip() == "[]"


def test_model_training_defaults_sit_between_flags_and_project_defaults(tmp_path, capsys):
    """CapsNet registers Adam at lr 1e-3: `train --model capsnet` uses it, a flag or a config
    file value replaces it, and other models keep the project's SGD."""
    from convnet.cli.main import build_parser
    from convnet.cli.train import config_from_args

    def merged(argv, path=None):
        args = build_parser().parse_args(["train", *argv, *(["--config", path] if path else [])])
        return config_from_args(args, log=print)[0]

    args = merged(["--model", "capsnet"])
    assert (args.optimizer, args.lr, args.batch_size, args.epochs) == ("adamw", 1e-3, 64, 8)
    assert "capsnet trains with its own defaults: batch-size 64, lr 0.001, optimizer adamw" in capsys.readouterr().out
    assert merged(["--model", "capsnet", "--lr", "0.01", "--optimizer", "sgd"]).lr == 0.01
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: capsnet\noptimizer: sgd\n")
    args = merged([], str(cfg))
    assert (args.optimizer, args.lr) == ("sgd", 1e-3)       # the file wins where it speaks
    args = merged(["--model", "lenet5"])
    assert (args.optimizer, args.lr, args.batch_size) == ("sgd", None, 256)

    from convnet.training.config import config_for_model
    assert config_for_model(model="capsnet", epochs=1).optimizer == "adamw"
    assert config_for_model(model="capsnet", optimizer="sgd").optimizer == "sgd"
