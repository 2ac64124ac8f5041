"""The training loop, top to bottom: data, model, optimiser, epochs, checkpoints.

Each epoch is seeded from (seed, epoch), so a run resumed from its last checkpoint
continues exactly as if it had never stopped."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from convnet.data.batches import Augment, BatchIterator, Preprocess, channel_stats
from convnet.data.sources import load_dataset
from convnet.errors import ConfigError
from convnet.models import get_spec
from convnet.training import runs
from convnet.training.config import TrainConfig
from convnet.training.evaluate import evaluate, evaluate_views
from convnet.training.hardware import Hardware, resolve
from convnet.training.optim import make_optimizer, make_schedule


@dataclass
class TrainResult:
    run_dir: Path
    test: dict | None                 # final evaluation on the test split
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0              # training time, evaluation excluded


def train(cfg: TrainConfig, resume: str | Path | None = None, log=print, on_epoch=None,
          evaluate_test: bool = True) -> TrainResult:
    """Train `cfg` into a new run directory, or continue the run in `resume`.

    on_epoch(record) is called after each epoch's checkpoint; an exception it raises stops
    training there (the tuner raises optuna.TrialPruned). evaluate_test=False skips the test split
    (hyperparameter tuning must not look at it)."""
    if resume is not None:
        run_dir = Path(resume)
        saved = runs.read_config(run_dir)
        cfg = TrainConfig.from_dict({**saved["train"], "progress": cfg.progress})
    hw = resolve(cfg.device, cfg.amp, cfg.channels_last, cfg.threads)
    spec = get_spec(cfg.model)
    size = (cfg.input_size, cfg.input_size) if cfg.input_size else tuple(spec.input_size)
    if spec.fixed_size and size != tuple(spec.input_size):
        raise ConfigError(f"model {spec.name} needs {spec.input_size[0]}x{spec.input_size[1]} input, "
                          f"not {size[0]}x{size[1]}")
    torch.manual_seed(cfg.seed)
    ds = load_dataset(cfg.data, cfg.data_dir, size=size, val_fraction=cfg.val_fraction,
                      seed=cfg.seed, progress=cfg.progress)
    num_classes = len(ds.classes)
    if resume is None:
        run_dir = runs.new_run_dir(cfg.out, cfg.model, cfg.data)
        mean, std = channel_stats(ds.train)
        preprocess = Preprocess(ds.channels, size, mean, std)
        config = {
            "train": cfg.to_dict(),
            "model": {"name": cfg.model, "num_classes": num_classes, "in_channels": ds.channels,
                      **({"kwargs": cfg.model_kwargs} if cfg.model_kwargs else {})},
            "preprocess": preprocess.to_dict(),
            "classes": ds.classes,
            "data": ds.source,
            "hardware": hw.describe(),
            "environment": runs.environment(),
        }
    else:
        config = saved
        preprocess = Preprocess.from_dict(saved["preprocess"])

    model = spec.build(num_classes, ds.channels, **(cfg.model_kwargs or {})).to(hw.device)
    if hw.channels_last:
        model = model.to(memory_format=torch.channels_last)
    config["params"] = sum(p.numel() for p in model.parameters())
    steps_per_epoch = max(1, len(ds.train) // cfg.batch_size)
    opt = make_optimizer(model, cfg)
    sched = make_schedule(opt, cfg, cfg.epochs * steps_per_epoch)
    scaler = torch.amp.GradScaler(hw.device.type, enabled=hw.amp_dtype == torch.float16)

    start_epoch, history, seconds = 0, [], 0.0
    if resume is not None:
        state = runs.load_state(run_dir)
        if state is not None:
            runs.load_weights(run_dir, model)
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            start_epoch, seconds = int(state["epoch"]), float(state["seconds"])
        runs.truncate_metrics(run_dir, start_epoch)
        history = runs.read_metrics(run_dir)
        if start_epoch >= cfg.epochs:
            log(f"{run_dir}: all {cfg.epochs} epochs already done")
        else:
            log(f"resuming {run_dir} at epoch {start_epoch + 1}/{cfg.epochs}")
    runs.write_config(run_dir, config)

    hflip = ds.hflip if cfg.hflip is None else cfg.hflip
    augment = Augment(crop_padding=cfg.crop_padding, hflip=hflip)
    eval_name = "val" if ds.val is not None else "test"
    eval_split = ds.val if ds.val is not None else ds.test
    log(f"training {cfg.model} ({config['params']:,} parameters) on {ds.name}: "
        f"{len(ds.train):,} train / {len(eval_split) if eval_split is not None else 0:,} {eval_name} images, "
        f"{size[0]}x{size[1]}x{ds.channels}, {num_classes} classes; {hw.describe()}; run dir {run_dir}")

    for epoch in range(start_epoch, cfg.epochs):
        torch.manual_seed(cfg.seed * 100_003 + epoch)     # dropout and friends
        batches = BatchIterator(ds.train, cfg.batch_size, preprocess, shuffle=True, augment=augment,
                                seed=cfg.seed * 100_003 + epoch, device=hw.device,
                                channels_last=hw.channels_last, drop_last=True)
        t0 = time.perf_counter()
        train_loss, train_acc = run_epoch(model, batches, opt, sched, scaler, hw, cfg, epoch)
        epoch_seconds = time.perf_counter() - t0
        seconds += epoch_seconds
        record = {"epoch": epoch + 1, "train_loss": train_loss, "train_accuracy": train_acc,
                  "lr": opt.param_groups[0]["lr"], "seconds": round(seconds, 3),
                  "images_per_second": round(len(batches) * cfg.batch_size / epoch_seconds, 1)}
        if eval_split is not None:
            ev = evaluate(model, eval_split, preprocess, hw, num_classes)
            record.update({f"{eval_name}_loss": ev.loss, f"{eval_name}_accuracy": ev.accuracy})
        runs.save_weights(run_dir, model)
        runs.save_state(run_dir, {"epoch": epoch + 1, "seconds": seconds, "optimizer": opt.state_dict(),
                                  "scheduler": sched.state_dict(), "scaler": scaler.state_dict()})
        runs.append_metrics(run_dir, record)
        history.append(record)
        log(epoch_line(record, cfg.epochs, eval_name))
        if on_epoch is not None:
            on_epoch(record)

    test, probabilities = None, None
    if ds.test is not None and evaluate_test:
        # the model saw mirror images: also report each image averaged with its mirror
        ev, tta = evaluate_views(model, ds.test, preprocess, hw, num_classes, keep_probabilities=True,
                                 mirror=hflip)
        probabilities = ev.probabilities
        test = ev.to_dict(ds.classes)
        mirrored = ""
        if tta is not None:
            test["flip_tta_accuracy"] = tta.accuracy
            mirrored = f", {tta.accuracy:.2%} averaged with the mirror images"
        from convnet.fileio import atomic_write_json

        atomic_write_json(run_dir / runs.RESULTS, {"test": test, "train_seconds": seconds,
                                                   "epochs": cfg.epochs})
        log(f"test accuracy {ev.accuracy:.2%} (loss {ev.loss:.4f}, {ev.n:,} images{mirrored}) "
            f"after {seconds:.1f} s of training; saved {run_dir}")
    from convnet.visualize.artifacts import write_run_artifacts  # curves, confusion, wrong grid; never raises

    write_run_artifacts(run_dir, model, ds.test if evaluate_test else None, preprocess, hw, ds.classes, log,
                        probabilities=probabilities)
    return TrainResult(run_dir=run_dir, test=test, history=history, seconds=seconds)


def run_epoch(model, batches: BatchIterator, opt, sched, scaler, hw: Hardware, cfg: TrainConfig,
              epoch: int) -> tuple[float, float]:
    from tqdm import tqdm

    model.train()
    total_loss = torch.zeros((), device=hw.device)
    correct = torch.zeros((), dtype=torch.int64, device=hw.device)
    seen, t0 = 0, time.perf_counter()
    bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False,
               disable=None if cfg.progress else True, file=sys.stderr)
    for step, (x, y) in enumerate(bar):
        with hw.autocast():
            # a model with its own objective (CapsNet's margin loss, GoogLeNet's auxiliary
            # heads) defines training_loss(x, y, label_smoothing) -> (loss, logits)
            if hasattr(model, "training_loss"):
                loss, logits = model.training_loss(x, y, label_smoothing=cfg.label_smoothing)
            else:
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        if not torch.isfinite(loss):
            raise ConfigError(f"the loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}: "
                              f"the learning rate {cfg.resolved_lr()} is probably too high")
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()
        total_loss += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
        if step % 10 == 0 and not bar.disable:
            bar.set_postfix(loss=f"{total_loss.item() / seen:.3f}", acc=f"{correct.item() / seen:.1%}",
                            img_s=f"{seen / (time.perf_counter() - t0):.0f}")
    bar.close()
    return total_loss.item() / max(seen, 1), correct.item() / max(seen, 1)


def epoch_line(r: dict, epochs: int, eval_name: str) -> str:
    line = (f"epoch {r['epoch']:>3}/{epochs}  loss {r['train_loss']:.4f}  acc {r['train_accuracy']:6.2%}")
    if f"{eval_name}_accuracy" in r:
        line += f"  {eval_name}_loss {r[f'{eval_name}_loss']:.4f}  {eval_name}_acc {r[f'{eval_name}_accuracy']:6.2%}"
    return line + f"  lr {r['lr']:.2e}  {r['seconds']:.1f}s  {r['images_per_second']:.0f} img/s"
