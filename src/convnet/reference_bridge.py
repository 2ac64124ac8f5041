"""Between the engines: PyTorch modules and state_dicts <-> reference layers and NumPy arrays,
and `convnet train --engine reference`, which trains in NumPy on convnet's data pipeline
and leaves a run directory that the PyTorch verbs (eval, predict, serve) read as any other."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from convnet import reference as ref
from convnet.errors import ConfigError


def to_numpy_state(state_dict: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """A PyTorch state_dict -> {name: NumPy array} (copies, on the CPU)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in state_dict.items()}


def to_torch_state(state: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """{name: NumPy array} -> a PyTorch state_dict."""
    return {k: torch.from_numpy(np.ascontiguousarray(v).copy()) for k, v in state.items()}


def load_torch_into_reference(module: nn.Module, model: ref.Sequential) -> None:
    model.load_state_dict(to_numpy_state(module.state_dict()))


def load_reference_into_torch(model: ref.Sequential, module: nn.Module) -> None:
    current = module.state_dict()
    state = {k: v.to(current[k].dtype) if k in current else v for k, v in to_torch_state(model.state_dict()).items()}
    module.load_state_dict(state)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _convert(m: nn.Module, rng: np.random.Generator) -> ref.Layer:
    """One PyTorch layer -> the reference layer with the same settings (weights copied later)."""
    if isinstance(m, nn.Conv2d):
        if m.padding_mode not in ref.shapes.PADDING_MODES or isinstance(m.padding, str):
            raise ConfigError(f"the reference engine has no conv padding {m.padding!r}/{m.padding_mode!r}")
        return ref.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                          m.groups, m.bias is not None, m.padding_mode, rng)
    if isinstance(m, nn.Linear):
        return ref.Linear(m.in_features, m.out_features, m.bias is not None, rng)
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        if m.ceil_mode or getattr(m, "dilation", 1) not in (1, (1, 1)) \
                or not getattr(m, "count_include_pad", True) or getattr(m, "divisor_override", None):
            raise ConfigError(f"the reference engine has no {m!r}")
        return (ref.MaxPool2d if isinstance(m, nn.MaxPool2d) else ref.AvgPool2d)(m.kernel_size, m.stride, m.padding)
    if isinstance(m, nn.AdaptiveAvgPool2d) and _pair(m.output_size) == (1, 1):
        return ref.GlobalAvgPool2d()
    if isinstance(m, nn.BatchNorm2d):
        return ref.BatchNorm2d(m.num_features, m.eps, 0.1 if m.momentum is None else m.momentum)
    if isinstance(m, nn.LocalResponseNorm):
        return ref.LocalResponseNorm(m.size, m.alpha, m.beta, m.k)
    if isinstance(m, nn.Dropout):
        return ref.Dropout(m.p, rng)
    if isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1:
        return ref.Flatten()
    simple = {nn.ReLU: ref.ReLU, nn.Tanh: ref.Tanh, nn.Sigmoid: ref.Sigmoid}
    if type(m) in simple:
        return simple[type(m)]()
    raise ConfigError(f"the reference engine has no layer like {m!r}")


def from_torch(module: nn.Module, seed: int = 0) -> ref.Sequential:
    """An nn.Sequential of supported layers -> the same network in the reference engine,
    weights and running statistics copied, float32."""
    if not isinstance(module, nn.Sequential) or any(list(m.children()) for m in module):
        raise ConfigError(f"the reference engine runs plain nn.Sequential models only, not "
                          f"{type(module).__name__}")
    rng = np.random.default_rng(seed)
    model = ref.Sequential(*[_convert(m, rng) for m in module])
    load_torch_into_reference(module, model)
    return model


# ---- convnet train --engine reference -------------------------------------------------------

def numpy_batches(batches):
    """convnet's BatchIterator (torch tensors) -> NumPy float32 [B, C, H, W], int64 [B]."""
    for x, y in batches:
        yield x.contiguous().numpy(), y.numpy()


def train(cfg, resume=None, log=print):
    """Train cfg.model (a plain Sequential from the registry) with the NumPy engine into a run
    directory laid out as the PyTorch loop's: config.json, model.safetensors, metrics.jsonl,
    results.json. Only SGD, on the CPU, in float32."""
    from convnet.data.batches import Augment, BatchIterator, Preprocess, channel_stats
    from convnet.data.sources import load_dataset
    from convnet.fileio import atomic_write_json
    from convnet.models import get_spec
    from convnet.reference.trainer import evaluate, train_epoch
    from convnet.training import runs
    from convnet.training.evaluate import Evaluation
    from convnet.training.loop import TrainResult, epoch_line

    if resume is not None:
        raise ConfigError("--resume is not available with --engine reference; start a new run")
    if cfg.optimizer != "sgd":
        raise ConfigError(f"--engine reference trains with sgd only, not {cfg.optimizer!r}")
    spec = get_spec(cfg.model)
    size = (cfg.input_size, cfg.input_size) if cfg.input_size else tuple(spec.input_size)
    if spec.fixed_size and size != tuple(spec.input_size):
        raise ConfigError(f"model {spec.name} needs {spec.input_size[0]}x{spec.input_size[1]} input, "
                          f"not {size[0]}x{size[1]}")
    from convnet.reference.threads import set_blas_threads

    set_blas_threads(cfg.threads or 1)        # small matmuls: one BLAS thread unless asked (see threads.py)
    torch.manual_seed(cfg.seed)
    ds = load_dataset(cfg.data, cfg.data_dir, size=size, val_fraction=cfg.val_fraction,
                      seed=cfg.seed, progress=cfg.progress)
    num_classes = len(ds.classes)
    kwargs = getattr(cfg, "model_kwargs", None) or {}        # builder arguments, stored as the loop does
    module = spec.build(num_classes, ds.channels, **kwargs)
    model = from_torch(module, cfg.seed)                  # same architecture, names and init
    run_dir = runs.new_run_dir(cfg.out, cfg.model, cfg.data)
    preprocess = Preprocess(ds.channels, size, *channel_stats(ds.train))
    config = {"train": cfg.to_dict(), "engine": "reference",
              "model": {"name": cfg.model, "num_classes": num_classes, "in_channels": ds.channels,
                        **({"kwargs": kwargs} if kwargs else {})},
              "preprocess": preprocess.to_dict(), "classes": ds.classes, "data": ds.source,
              "hardware": "cpu, float32 (NumPy reference engine)", "environment": runs.environment(),
              "params": model.num_params()}
    runs.write_config(run_dir, config)

    hflip = ds.hflip if cfg.hflip is None else cfg.hflip
    augment = Augment(crop_padding=cfg.crop_padding, hflip=hflip)
    eval_name, eval_split = ("val", ds.val) if ds.val is not None else ("test", ds.test)
    steps_per_epoch = max(1, len(ds.train) // cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    opt = ref.SGD(model.parameters(), cfg.resolved_lr(), cfg.momentum, cfg.weight_decay,
                  nesterov=cfg.momentum > 0)

    def lr_at(step):
        return ref.learning_rate(step, total, cfg.resolved_lr(), cfg.schedule, cfg.warmup)

    def eval_batches(split):
        return numpy_batches(BatchIterator(split, 500, preprocess, shuffle=False))

    log(f"training {cfg.model} ({config['params']:,} parameters) on {ds.name} with the NumPy reference "
        f"engine: {len(ds.train):,} train / {len(eval_split) if eval_split is not None else 0:,} "
        f"{eval_name} images, {size[0]}x{size[1]}x{ds.channels}; run dir {run_dir}")
    history, seconds, step = [], 0.0, 0
    for epoch in range(cfg.epochs):
        batches = BatchIterator(ds.train, cfg.batch_size, preprocess, shuffle=True, augment=augment,
                                seed=cfg.seed * 100_003 + epoch, drop_last=True)
        t0 = time.perf_counter()
        loss, acc, steps = train_epoch(model, numpy_batches(batches), opt, lr_at, step, cfg.label_smoothing,
                                       f"epoch {epoch + 1}/{cfg.epochs}", cfg.progress)
        step += steps
        epoch_seconds = time.perf_counter() - t0
        seconds += epoch_seconds
        record = {"epoch": epoch + 1, "train_loss": loss, "train_accuracy": acc, "lr": opt.lr,
                  "seconds": round(seconds, 3),
                  "images_per_second": round(steps * cfg.batch_size / epoch_seconds, 1)}
        if eval_split is not None:
            ev_loss, ev_acc, _ = evaluate(model, eval_batches(eval_split), num_classes)
            record.update({f"{eval_name}_loss": ev_loss, f"{eval_name}_accuracy": ev_acc})
        save_run_weights(run_dir, model, module)
        runs.append_metrics(run_dir, record)
        history.append(record)
        log(epoch_line(record, cfg.epochs, eval_name))

    test = None
    if ds.test is not None:
        loss, acc, confusion = evaluate(model, eval_batches(ds.test), num_classes)
        ev = Evaluation(n=len(ds.test), loss=loss, accuracy=acc, confusion=torch.from_numpy(confusion))
        test = ev.to_dict(ds.classes)
        atomic_write_json(run_dir / runs.RESULTS, {"test": test, "train_seconds": seconds,
                                                   "epochs": cfg.epochs, "engine": "reference"})
        log(f"test accuracy {acc:.2%} (loss {loss:.4f}, {ev.n:,} images) after {seconds:.1f} s of "
            f"training with the reference engine; saved {run_dir}")
    return TrainResult(run_dir=Path(run_dir), test=test, history=history, seconds=seconds)


def save_run_weights(run_dir: Path, model: ref.Sequential, module: nn.Module) -> None:
    """Through the PyTorch module, so the file is exactly what the PyTorch engine saves."""
    from convnet.training import runs

    load_reference_into_torch(model, module)
    runs.save_weights(run_dir, module)
