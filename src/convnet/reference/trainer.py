"""Training and evaluation loops of the reference engine: mini-batch SGD, all in NumPy.

Batches come in as NumPy arrays (x float [B, C, H, W], y int [B]); where they come from
(convnet's data pipeline, or anything else) is the caller's business."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from convnet.errors import ConfigError
from convnet.reference.dense import cross_entropy, softmax
from convnet.reference.optim import SGD
from convnet.reference.sequential import Sequential


def train_step(model: Sequential, x: np.ndarray, y: np.ndarray, opt: SGD,
               label_smoothing: float = 0.0) -> tuple[float, int]:
    """One forward, backward and update. Returns (loss, number correct)."""
    logits, caches = model.forward(x, train=True)
    loss, dlogits = cross_entropy(logits, y, label_smoothing)
    if not np.isfinite(loss):
        raise ConfigError(f"the loss became {loss}: the learning rate {opt.lr:g} is probably too high")
    _, grads = model.backward(dlogits, caches)
    opt.step(model.parameters(), grads)
    return float(loss), int((logits.argmax(1) == y).sum())


def train_epoch(model: Sequential, batches: Iterable, opt: SGD, lr_at: Callable[[int], float],
                first_step: int = 0, label_smoothing: float = 0.0, desc: str = "",
                progress: bool = True) -> tuple[float, float, int]:
    """One pass over `batches`. Returns (mean loss, accuracy, steps taken)."""
    from tqdm import tqdm

    total_loss, correct, seen, step = 0.0, 0, 0, first_step
    bar = tqdm(batches, desc=desc, unit="batch", leave=False, file=sys.stderr,
               disable=None if progress else True)
    for x, y in bar:
        opt.lr = lr_at(step)
        loss, right = train_step(model, x, y, opt, label_smoothing)
        total_loss, correct, seen, step = total_loss + loss * len(y), correct + right, seen + len(y), step + 1
        if step % 10 == 0 and not bar.disable:
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.1%}")
    bar.close()
    return total_loss / max(seen, 1), correct / max(seen, 1), step - first_step


def predict_proba(model: Sequential, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """x [N, C, H, W] -> class probabilities [N, K] (evaluation mode)."""
    return np.concatenate([softmax(model(x[i:i + batch_size]).astype(np.float64))
                           for i in range(0, len(x), batch_size)])


def evaluate(model: Sequential, batches: Iterable, num_classes: int) -> tuple[float, float, np.ndarray]:
    """(mean loss, accuracy, confusion [K, K] rows true, columns predicted) over `batches`."""
    total_loss, confusion = 0.0, np.zeros((num_classes, num_classes), np.int64)
    for x, y in batches:
        logits = model(x).astype(np.float64)
        total_loss += cross_entropy(logits, y)[0] * len(y)
        np.add.at(confusion, (y, logits.argmax(1)), 1)
    n = int(confusion.sum())
    return total_loss / max(n, 1), float(np.trace(confusion)) / max(n, 1), confusion


def save_weights(path: str | Path, model: Sequential) -> None:
    """The state_dict as safetensors (atomically), loadable by either engine."""
    from safetensors.numpy import save_file

    from convnet.fileio import atomic_write

    state = {k: np.ascontiguousarray(v) for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))


def load_weights(path: str | Path, model: Sequential) -> None:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from convnet.errors import DataError

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise DataError(f"{path}: unreadable weights ({e})") from None
    model.load_state_dict(state)
