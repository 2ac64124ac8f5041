"""Run directories: what a training run leaves behind, written so nothing is ever half-saved.
`RunDir` alone knows this layout; every other module asks it.

    RUN_DIR/config.json       "format" (2), "task", "engine", "train" (the TrainConfig), "model"
                              {name, num_classes, in_channels, kwargs}, "classes", "data" (how to
                              load the data set again), the task's own entries (the image task:
                              "preprocess", "augment"), "hardware", "environment", "params"
    RUN_DIR/state.pt          the checkpoint, the one file resume trusts: epoch, seconds, the
                              model's weights, optimizer/scheduler/scaler state and the metrics
                              history up to that epoch (tensors and plain values only)
    RUN_DIR/model.safetensors latest weights (never a pickle; the moving average with --ema)
    RUN_DIR/best.safetensors  the weights of the best validation epoch (runs with a validation
                              split); eval/predict/serve/export read it when it is there
    RUN_DIR/metrics.jsonl     one JSON line per epoch (and metrics.csv, the same as a table)
    RUN_DIR/results.json      final test metrics
    RUN_DIR/plots/            pictures (visualize/artifacts.py), RUN_DIR/.lock: see below

A checkpoint is atomic as a whole: state.pt is replaced in one rename and holds everything
resume needs; model.safetensors and metrics.jsonl are written after it and rewritten from it
when a run resumes, so a kill at any point resumes exactly. One writer at a time: a process
that trains into a directory holds an exclusive lock on RUN_DIR/.lock for the whole run.

Format 1 (before the "format" key) had state.pt without weights or history; it still loads.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from convnet.errors import ConfigError, DataError
from convnet.fileio import atomic_write, atomic_write_json

CONFIG, WEIGHTS, BEST, STATE, METRICS, METRICS_CSV, RESULTS, LOCK = (
    "config.json", "model.safetensors", "best.safetensors", "state.pt", "metrics.jsonl", "metrics.csv",
    "results.json", ".lock")
WEIGHT_CHOICES = ("auto", "best", "last")
FORMAT = 2


class RunDir:
    """One run directory. `RunDir.create(out, ...)` claims a new one for writing;
    `RunDir.open(path)` reads an existing one (and `.lock()` before writing to it)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._config: dict | None = None
        self._lock_fd: int | None = None

    def __str__(self) -> str:
        return str(self.path)

    def __fspath__(self) -> str:
        return str(self.path)

    # -- claiming --------------------------------------------------------------------------
    @classmethod
    def create(cls, out: str | None, model: str, data: str) -> "RunDir":
        """A fresh run directory, locked for writing. An existing non-empty one is refused,
        never overwritten; two processes given the same --out cannot both get it."""
        if out:
            path = Path(out)
            if path.exists() and not path.is_dir():
                raise ConfigError(f"--out {path} is a file, not a run directory")
            _mkdir(path, exist_ok=True)
        else:
            path = _claim_new(Path("runs"), _tag(model, data))
        run = cls(path)
        _refuse_if_used(path)          # before the lock file, which must not land in someone's folder
        run.lock()
        _refuse_if_used(path, run)     # again under the lock: another writer may have got there first
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        """An existing run directory; a missing one or one without config.json is refused."""
        run = cls(path)
        run.config            # read now, so a bad directory fails here, naming itself
        return run

    def lock(self) -> None:
        """Hold RUN_DIR/.lock exclusively until release() or the process ends."""
        try:
            import fcntl
        except ImportError:           # not POSIX: no lock, as before
            return
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise ConfigError(f"run directory {self.path} is being written by {holder}; "
                              "wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()}".encode())
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)     # closing drops the flock
            self._lock_fd = None

    # -- config.json -----------------------------------------------------------------------
    @property
    def config(self) -> dict:
        if self._config is None:
            self._config = read_config(self.path)
        return self._config

    def write_config(self, config: dict) -> None:
        config = {"format": FORMAT, **config}
        atomic_write_json(self.path / CONFIG, config)
        self._config = config

    def get(self, key: str) -> dict | list:
        try:
            return self.config[key]
        except KeyError:
            raise DataError(f"{self.path / CONFIG} lacks {key!r}") from None

    @property
    def format(self) -> int:
        return int(self.config.get("format", 1))

    @property
    def task(self) -> str:
        return self.config.get("task") or "classify"      # format 1 runs were all image runs

    @property
    def engine(self) -> str:
        return self.config.get("engine") or self.config.get("train", {}).get("engine") or "torch"

    @property
    def classes(self) -> list[str]:
        return list(self.get("classes"))

    @property
    def model_config(self) -> dict:
        return dict(self.get("model"))

    def preprocess(self):
        from convnet.data.batches import Preprocess

        return Preprocess.from_dict(self.get("preprocess"))

    def hardware(self, device: str = "auto"):
        """Where and how to run the trained model: `device`, with the run's precision and layout."""
        from convnet.training.hardware import resolve

        train = self.config.get("train") or {}
        return resolve(device, train.get("amp", "auto"), train.get("channels_last", True))

    def train_config(self, **overrides):
        """The run's TrainConfig (as stored; `overrides` replace fields, e.g. progress)."""
        from convnet.training.config import TrainConfig

        return TrainConfig.from_dict({**self.get("train"), **overrides})

    def data_config(self, data: str | None = None, data_dir: str | None = None):
        """A TrainConfig that loads the run's own data set again (or `data`, another one, whole
        and with the run's preprocessing): the one place that reads config.json's "data"."""
        train = dict(self.get("train"))
        source = self.config.get("data") or {}
        if data:                      # another data set: no validation split cut from it
            fields = {"data": data, "data_dir": data_dir, "val_fraction": 0.0}
        elif source.get("kind") == "folder":
            fields = {"data": source["path"], "data_dir": None,
                      "val_fraction": source.get("val_fraction", 0.2), "seed": source.get("seed", 0)}
        elif source.get("kind") == "idx":
            fields = {"data": source.get("name") or train.get("data", "digits"),
                      "data_dir": data_dir or source.get("path") or train.get("data_dir"),
                      "val_fraction": source.get("val_fraction", 0.0), "seed": source.get("seed", 0)}
        else:                          # a task's own source: it reads train's data fields
            fields = {"data_dir": data_dir or train.get("data_dir")}
        if not data and fields.get("data") and not Path(fields["data"]).exists() and source.get("kind") == "folder":
            raise DataError(f"{self.path}: its image folder {fields['data']} no longer exists; "
                            "give --data FOLDER")
        return self.train_config(**{**fields, "progress": False, "out": None})

    def dataset(self, task=None, data: str | None = None, data_dir: str | None = None):
        """The run's data set, loaded again as training saw it (or `data`, another data set,
        prepared with the run's preprocessing)."""
        if task is None:
            from convnet.tasks import get_task

            task = get_task(self.task)
        return task.load_data(self.data_config(data, data_dir), saved=self.config)

    # -- weights ---------------------------------------------------------------------------
    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS

    def weights_file(self, which: str = "auto") -> Path:
        """auto: the best validation epoch's weights where the run kept them, else the last."""
        if which not in WEIGHT_CHOICES:
            raise ConfigError(f"unknown weights {which!r} (choose {', '.join(WEIGHT_CHOICES)})")
        best = self.path / BEST
        if which == "best" and not best.is_file():
            raise DataError(f"{self.path} has no {BEST} (it is kept for runs with a validation split)")
        return best if which == "best" or which == "auto" and best.is_file() else self.path / WEIGHTS

    def save_weights(self, model: torch.nn.Module) -> None:
        save_weights(self.path, model)

    def load_weights(self, model: torch.nn.Module, which: str = "auto") -> None:
        load_weights(self.path, model, self.weights_file(which).name)

    def save_best(self, model: torch.nn.Module, epoch: int, value: float) -> None:
        from safetensors.torch import save_file

        state = _cpu_state(model)
        meta = {"format": "pt", "epoch": str(epoch), "value": repr(value)}
        atomic_write(self.path / BEST, lambda tmp: save_file(state, tmp, metadata=meta))

    def build_model(self, task=None, weights: str = "auto") -> torch.nn.Module:
        """The run's model with its trained weights, on the CPU, in eval mode."""
        if task is None:
            from convnet.tasks import get_task

            task = get_task(self.task)
        model = task.build_model(self.config)
        self.load_weights(model, weights)
        return model.eval()

    # -- checkpoints -----------------------------------------------------------------------
    def save_checkpoint(self, epoch: int, seconds: float, model: torch.nn.Module, train_state: dict,
                        history: list[dict], saved_model: torch.nn.Module | None = None) -> None:
        """Commit epoch `epoch`: state.pt (the commit point), then the files derived from it.
        `model` is what training continues from; `saved_model` (default: the same) is what
        model.safetensors holds, e.g. the weight average of --ema."""
        _kill_point("begin")
        weights = _cpu_state(model)
        state = {"format": FORMAT, "epoch": epoch, "seconds": seconds, "model": weights,
                 "history": history, **train_state}
        if saved_model is not None and saved_model is not model:
            state["saved_model"] = _cpu_state(saved_model)
        atomic_write(self.path / STATE, lambda tmp: torch.save(state, tmp))
        _kill_point("state")
        self._write_derived(state.get("saved_model", weights), history)

    def load_checkpoint(self, model: torch.nn.Module, repair: bool = True) -> dict | None:
        """Load the last committed epoch's weights into `model` and (repair) rewrite the files
        derived from it; return the state (epoch, seconds, history, optimizer, ...) or None."""
        state = load_state(self.path)
        if state is None:
            return None
        if "model" in state:                         # format 2: everything is in state.pt
            try:
                model.load_state_dict(state["model"])
            except RuntimeError as e:
                raise DataError(f"{self.path / STATE}: weights do not fit the model in {CONFIG} "
                                f"({str(e).splitlines()[0]})") from None
            if repair:
                self._write_derived(state.get("saved_model", state["model"]), state["history"])
        else:                                        # format 1: weights and metrics beside it
            self.load_weights(model, "last")
            rows = [r for r in self.metrics() if r.get("epoch", 0) <= int(state["epoch"])]
            state["history"] = rows
            if repair:
                _write_metrics(self.path, rows)
        return state

    def _write_derived(self, weights: dict, history: list[dict]) -> None:
        from safetensors.torch import save_file

        atomic_write(self.path / WEIGHTS, lambda tmp: save_file(weights, tmp, metadata={"format": "pt"}))
        _kill_point("weights")
        _write_metrics(self.path, history)
        _kill_point("metrics")

    # -- metrics, results, artifacts -------------------------------------------------------
    def metrics(self) -> list[dict]:
        return read_metrics(self.path)

    def results(self) -> dict | None:
        path = self.path / RESULTS
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: corrupt JSON ({e})") from None

    def write_results(self, results: dict) -> None:
        atomic_write_json(self.path / RESULTS, results)

    def artifacts(self) -> list[Path]:
        """Every file the run holds (plots and exports included), relative, sorted."""
        return sorted(p.relative_to(self.path) for p in self.path.rglob("*")
                      if p.is_file() and p.name != LOCK and not p.name.endswith(".tmp"))


# ---- the files, one function each -----------------------------------------------------------

def environment() -> dict:
    import numpy

    return {"convnet": __import__("convnet").__version__, "python": sys.version.split()[0],
            "torch": torch.__version__, "numpy": numpy.__version__, "platform": platform.platform(),
            "cuda": torch.version.cuda, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def read_config(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run directory not found: {run_dir}")
    path = run_dir / CONFIG
    if not path.is_file():
        raise DataError(f"{run_dir} is not a run directory (no {CONFIG})")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: corrupt JSON ({e})") from None
    if not isinstance(config, dict):
        raise DataError(f"{path}: not a run configuration (a JSON object)")
    if int(config.get("format", 1)) > FORMAT:
        raise DataError(f"{path}: run format {config['format']} is newer than this convnet reads "
                        f"({FORMAT}); upgrade convnet")
    return config


def save_weights(run_dir: str | Path, model: torch.nn.Module) -> None:
    from safetensors.torch import save_file

    state = _cpu_state(model)
    atomic_write(Path(run_dir) / WEIGHTS, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))


def load_weights(run_dir: str | Path, model: torch.nn.Module, name: str = WEIGHTS) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(run_dir) / name
    if not path.is_file():
        raise DataError(f"{run_dir} has no trained model ({name} is missing)")
    try:
        state = load_file(path)
    except (SafetensorError, OSError) as e:
        raise DataError(f"{path}: unreadable weights ({e})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise DataError(f"{path}: weights do not fit the model in {CONFIG} "
                        f"({str(e).splitlines()[0]})") from None


def load_state(run_dir: str | Path) -> dict | None:
    path = Path(run_dir) / STATE
    if not path.is_file():
        return None
    try:  # weights_only: a state file is never unpickled into arbitrary objects
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataError(f"{path}: unreadable training state ({type(e).__name__})") from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise DataError(f"{path}: not a convnet training state")
    return state


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break   # a line cut by a crash ends the log
    return rows


def _write_metrics(run_dir: Path, rows: list[dict]) -> None:
    """metrics.jsonl, and metrics.csv beside it for spreadsheets and CSV loggers' readers."""
    import csv
    import io

    atomic_write(Path(run_dir) / METRICS,
                 lambda tmp: Path(tmp).write_text("".join(json.dumps(r) + "\n" for r in rows)))
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(Path(run_dir) / METRICS_CSV, lambda tmp: Path(tmp).write_text(buf.getvalue()))


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def _tag(model: str, data: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{model}-{Path(data).name}")[:60]


def _claim_new(root: Path, tag: str) -> Path:
    """runs/<tag>-<time>[-n], created with mkdir (atomic: two processes never get the same one)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        path = root / (f"{tag}-{stamp}" if n == 1 else f"{tag}-{stamp}-{n}")
        try:
            _mkdir(path, exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise ConfigError(f"could not find a free run directory name under {root}")


def _mkdir(path: Path, exist_ok: bool) -> None:
    try:
        path.mkdir(parents=True, exist_ok=exist_ok)
    except FileExistsError:
        raise
    except OSError as e:
        raise ConfigError(f"cannot create run directory {path}: {e.strerror or e}") from None


def _refuse_if_used(path: Path, run: "RunDir | None" = None) -> None:
    if any(p.name != LOCK for p in path.iterdir()):
        if run is not None:
            run.release()
        raise ConfigError(f"run directory {path} already exists and is not empty; "
                          "use --resume to continue it or choose another --out")


def _kill_point(name: str) -> None:
    """Tests stop the process here (CONVNET_TEST_KILL_AT=NAME:EPOCH) to check resume after a
    crash at each step of a checkpoint; in normal use this does nothing."""
    at = os.environ.get("CONVNET_TEST_KILL_AT")
    if at and at.split(":")[0] == name:
        global _kill_count
        _kill_count += 1
        if _kill_count == int(at.split(":")[1]):
            os._exit(99)


_kill_count = 0
