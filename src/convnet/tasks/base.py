"""The task interface: what differs between kinds of work, and nothing else.

A task is one class that tells the one training loop (`convnet.training.loop.fit`) how to
load its data, build its model, batch, compute the loss and measure the result. Everything
else (run directory, seeds, resume, checkpoints, progress bars, the per-epoch line, the
optimiser and its schedule, mixed precision, both engines) belongs to the loop and is the
same for every task.

    class MyTask(Task):
        name, help, metric = "mytask", "what it does", "accuracy"
        def claims(cls, data, data_dir): ...         # does --data NAME imply this task?
        def load_data(self, cfg, saved=None): ...    # -> Dataset (train / val / test splits)
        def describe_run(self, cfg, ds): ...         # -> config.json entries: model, classes, ...
        def build_model(self, config): ...           # config.json -> nn.Module (train and load)
        def batches(self, split, config, cfg, hw, *, train, seed): ...   # -> Batches
        def loss(self, model, batch, cfg): ...       # -> (loss, Tally)
        def evaluate(self, model, split, config, hw, *, final=False): ...  # -> Evaluation-like

and one line in `convnet/tasks/__init__.py`'s TASKS. `convnet tasks` lists them.

Shapes and types the loop relies on:
    Dataset.train / .val / .test   any object with len() (the task reads it; None = no split)
    a batch                        (inputs, targets): whatever the task's loss and evaluate take
    Batches                        an iterable of batches with len() (steps per pass)
    evaluate(...)                  an object with .n, .loss, .metrics (dict, the headline
                                   `metric` among them) and .to_dict(classes) for results.json
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


def option_value(cfg, name: str, defaults: dict):
    """A task's option: cfg's field (None: unset, or cfg is None) else the task's default."""
    value = getattr(cfg, name, None) if cfg is not None else None
    return defaults[name] if value is None else value


@dataclass
class Tally:
    """What one training step adds to the epoch's figures: items seen, and how many the
    model got right (None where 'right' has no meaning for the task, e.g. OCR lines)."""

    n: int
    correct: Any = None            # int or 0-d tensor (kept on the device: no sync per step)


class Task:
    name: str = ""
    help: str = ""
    metric: str = "accuracy"       # the headline metric in metrics.jsonl and results.json
    engines: tuple[str, ...] = ("torch",)   # "reference" too where the NumPy engine can train it
    item: str = "images"           # what one example is called in messages ("clips", "nodes")
    default_model: str | None = None   # the zoo model trained when --model is not given
                                       # (None: TrainConfig's, the image network)

    # -- which data belong to this task ---------------------------------------------------
    @classmethod
    def claims(cls, data: str, data_dir: str | None) -> bool:
        """True if `--data data` (with `--data-dir data_dir`) is this task's kind of data; the
        first task in TASKS order that claims it is chosen when `--task` is not given."""
        return False

    # -- data -------------------------------------------------------------------------------
    def load_data(self, cfg, saved: dict | None = None):
        """The data set of `cfg` (a TrainConfig): a Dataset with train/val/test splits and
        `classes`, `source` (stored in config.json as "data", enough to load it again).
        `saved` is a run's config.json when reloading for resume or evaluation: the task must
        then rebuild exactly what training saw (same preprocessing, vocabulary, ...)."""
        raise NotImplementedError

    def describe_run(self, cfg, ds) -> dict:
        """The config.json entries of a new run besides "train": at least "model" (name,
        num_classes, in_channels, kwargs), "classes" and "data"; the image task adds
        "preprocess". Everything `build_model` and `batches` need later comes from here."""
        raise NotImplementedError

    def build_model(self, config: dict):
        """A fresh (untrained) nn.Module from a run's config.json entries (training builds it
        from `describe_run`'s output; loading a run rebuilds it the same way)."""
        from convnet.models import get_spec

        m = config["model"]
        return get_spec(m["name"]).build(m["num_classes"], m["in_channels"], **(m.get("kwargs") or {}))

    def summary_line(self, cfg, ds, config: dict) -> str:
        """The data part of training's first line, e.g. '60,000 train / 10,000 test images'."""
        parts = [f"{len(ds.train):,} train"]
        for split in ("val", "test"):
            data = getattr(ds, split, None)
            if data is not None and not (split == "test" and data is getattr(ds, "val", None)):
                parts.append(f"{len(getattr(ds, split)):,} {split}")
        return " / ".join(parts) + f" {self.item}, {len(ds.classes)} classes"

    # -- steps ------------------------------------------------------------------------------
    def batches(self, split, config: dict, cfg, hw, *, train: bool, seed: int) -> Iterable:
        """Mini-batches of `split` on hw.device; train=True: shuffled by `seed`, augmented,
        incomplete last batch dropped."""
        raise NotImplementedError

    def loss(self, model, batch, cfg):
        """(scalar loss tensor, Tally) for one training batch; called under autocast."""
        raise NotImplementedError

    # -- measuring --------------------------------------------------------------------------
    def evaluate(self, model, split, config: dict, hw, *, final: bool = False):
        """Loss and metrics of `split` (model in eval mode, no gradients). final=True: the
        end-of-training evaluation, which may keep per-item outputs (probabilities) for the
        plots and add figures such as flip-averaged accuracy."""
        raise NotImplementedError

    def result_line(self, ev, name: str) -> str:
        """The end-of-training line, e.g. 'test accuracy 91.2% (loss 0.25, 10,000 images)'."""
        value = ev.metrics[self.metric]
        shown = f"{value:.2%}" if self.metric == "accuracy" else f"{value:.4f}"
        return f"{name} {self.metric} {shown} (loss {ev.loss:.4f}, {ev.n:,} {self.item})"

    # -- using a trained run ----------------------------------------------------------------
    def predict(self, model, config: dict, hw, inputs: list[str], top: int = 3) -> list[dict]:
        """`convnet predict RUN_DIR INPUT...`: one dict per input, at least
        {"input": str, "top": [{"class": name, "probability": p}, ...]} (most likely first).
        Inputs are what the task reads: image or sound paths, sentences, node ids."""
        raise NotImplementedError(f"the {self.name} task has no predict")
