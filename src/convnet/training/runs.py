"""Run directories: what a training run leaves behind, written so nothing is ever half-saved.

    RUN_DIR/config.json       training config, model + preprocessing + class names, versions
    RUN_DIR/model.safetensors latest weights (never a pickle)
    RUN_DIR/state.pt          optimizer/scheduler state + epoch, for --resume (tensors only)
    RUN_DIR/metrics.jsonl     one JSON line per epoch
    RUN_DIR/results.json      final test metrics
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import torch

from convnet.errors import ConfigError, DataError
from convnet.fileio import append_line, atomic_write, atomic_write_json

CONFIG, WEIGHTS, STATE, METRICS, RESULTS = (
    "config.json", "model.safetensors", "state.pt", "metrics.jsonl", "results.json")


def new_run_dir(out: str | None, model: str, data: str) -> Path:
    """A fresh run directory. An existing non-empty one is refused, never overwritten."""
    if out:
        path = Path(out)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise ConfigError(f"run directory {path} already exists and is not empty; "
                              "use --resume to continue it or choose another --out")
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        tag = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{model}-{Path(data).name}")[:60]
        path = Path("runs") / f"{tag}-{stamp}"
        n = 1
        while path.exists():
            n += 1
            path = Path("runs") / f"{tag}-{stamp}-{n}"
    path.mkdir(parents=True, exist_ok=True)
    return path


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
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: corrupt JSON ({e})") from None


def write_config(run_dir: Path, config: dict) -> None:
    atomic_write_json(run_dir / CONFIG, config)


def save_weights(run_dir: Path, model: torch.nn.Module) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write(run_dir / WEIGHTS, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))


def load_weights(run_dir: Path, model: torch.nn.Module) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(run_dir) / WEIGHTS
    if not path.is_file():
        raise DataError(f"{run_dir} has no trained model ({WEIGHTS} is missing)")
    try:
        state = load_file(path)
    except (SafetensorError, OSError) as e:
        raise DataError(f"{path}: unreadable weights ({e})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise DataError(f"{path}: weights do not fit the model in {CONFIG} "
                        f"({str(e).splitlines()[0]})") from None


def save_state(run_dir: Path, state: dict) -> None:
    atomic_write(run_dir / STATE, lambda tmp: torch.save(state, tmp))


def load_state(run_dir: Path) -> dict | None:
    path = Path(run_dir) / STATE
    if not path.is_file():
        return None
    try:  # weights_only: a state file is never unpickled into arbitrary objects
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataError(f"{path}: unreadable training state ({type(e).__name__})") from None


def append_metrics(run_dir: Path, record: dict) -> None:
    append_line(run_dir / METRICS, json.dumps(record))


def read_metrics(run_dir: Path) -> list[dict]:
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


def truncate_metrics(run_dir: Path, epochs_done: int) -> None:
    """Keep only the lines of completed, checkpointed epochs (before resuming)."""
    rows = [r for r in read_metrics(run_dir) if r.get("epoch", 0) <= epochs_done]
    atomic_write(Path(run_dir) / METRICS,
                 lambda tmp: Path(tmp).write_text("".join(json.dumps(r) + "\n" for r in rows)))
