"""Image classification: the first task, and the worked example of tasks/base.py.

    data     --data digits|mnist|fashion-mnist (IDX) or an image folder -> uint8 [N, C, H, W]
    model    any zoo model or notation; head sized to the data set's classes
    batches  (x float [B, C, H, W] normalised, y int64 [B]) cut and augmented as whole tensors
    loss     cross-entropy with label smoothing (or the model's own `training_loss`)
    metric   accuracy; the final evaluation keeps probabilities for the plots and adds the
             mirror-averaged accuracy when the model trained with flips

config.json entries: "model" {name, num_classes, in_channels, kwargs}, "preprocess" {channels,
size, mean, std}, "classes", "data" (how to load the data set again)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from convnet.data.batches import Augment, BatchIterator, Preprocess, channel_stats
from convnet.errors import ConfigError
from convnet.tasks.base import Tally, Task
from convnet.tasks.metrics import Evaluation
from convnet.tasks.metrics import Tally as ConfusionTally


class ImageClassification(Task):
    name = "classify"
    help = "image classification: digits, MNIST, Fashion-MNIST or a folder of class sub-folders"
    metric = "accuracy"
    engines = ("torch", "reference")
    item = "images"

    @classmethod
    def claims(cls, data: str, data_dir: str | None) -> bool:
        return True          # the catch-all: every other task claims its data first

    def input_size(self, cfg) -> tuple[int, int]:
        from convnet.models import get_spec

        spec = get_spec(cfg.model)
        size = (cfg.input_size, cfg.input_size) if cfg.input_size else tuple(spec.input_size)
        if spec.fixed_size and size != tuple(spec.input_size):
            raise ConfigError(f"model {spec.name} needs {spec.input_size[0]}x{spec.input_size[1]} input, "
                              f"not {size[0]}x{size[1]}")
        return size

    def load_data(self, cfg, saved: dict | None = None, progress: bool | None = None):
        from convnet.data.sources import load_dataset

        if saved is not None:          # the run's own input: folders are decoded at its size
            pre = saved["preprocess"]
            size, channels = tuple(pre["size"]), int(pre["channels"])
        else:
            size, channels = self.input_size(cfg), None
        return load_dataset(cfg.data, cfg.data_dir, size=size, channels=channels,
                            val_fraction=cfg.val_fraction, seed=cfg.seed,
                            progress=cfg.progress if progress is None else progress)

    def describe_run(self, cfg, ds) -> dict:
        size = self.input_size(cfg)
        mean, std = channel_stats(ds.train)
        return {"model": {"name": cfg.model, "num_classes": len(ds.classes), "in_channels": ds.channels,
                          **({"kwargs": cfg.model_kwargs} if cfg.model_kwargs else {})},
                "preprocess": Preprocess(ds.channels, size, mean, std).to_dict(),
                "classes": ds.classes, "data": ds.source,
                "augment": {"crop_padding": cfg.crop_padding, "hflip": self.hflip(cfg, ds)}}

    @staticmethod
    def hflip(cfg, ds) -> bool:
        return ds.hflip if cfg.hflip is None else cfg.hflip

    def summary_line(self, cfg, ds, config: dict) -> str:
        h, w = config["preprocess"]["size"]
        aug = config.get("augment") or {}
        why = "" if cfg.hflip is not None else " (the data set's default)"
        flips = f", flips {'on' if aug.get('hflip') else 'off'}{why}" if aug else ""
        return super().summary_line(cfg, ds, config) + f", {h}x{w}x{config['preprocess']['channels']}{flips}"

    def batches(self, split, config: dict, cfg, hw, *, train: bool, seed: int):
        pre = Preprocess.from_dict(config["preprocess"])
        if not train:
            return BatchIterator(split, 500, pre, shuffle=False, device=hw.device,
                                 channels_last=hw.channels_last)
        aug = config.get("augment") or {"crop_padding": cfg.crop_padding, "hflip": bool(cfg.hflip)}
        weights = balanced_weights(split.labels) if getattr(cfg, "sampler", "shuffle") == "balanced" else None
        return BatchIterator(split, cfg.batch_size, pre, shuffle=True, seed=seed, device=hw.device,
                             channels_last=hw.channels_last, drop_last=True, sample_weights=weights,
                             augment=Augment(crop_padding=aug["crop_padding"], hflip=aug["hflip"]))

    def begin(self, config: dict, ds, cfg, hw) -> None:
        """Per-run state the loss needs: --class-weights auto (inverse class frequency)."""
        self.weight = None
        if getattr(cfg, "class_weights", None) == "auto":
            self.weight = inverse_frequency(ds.train.labels, len(ds.classes)).to(hw.device)
            config["class_weights"] = [round(w, 6) for w in self.weight.tolist()]
        if (cfg.mixup or cfg.cutmix) and hasattr(self.build_model(config), "training_loss"):
            raise ConfigError(f"--mixup/--cutmix need a plain classifier; {cfg.model} has its own loss")

    def loss(self, model, batch, cfg):
        x, y = batch
        weight = getattr(self, "weight", None)
        # a model with its own objective (CapsNet's margin loss, GoogLeNet's auxiliary heads)
        # defines training_loss(x, y, label_smoothing) -> (loss, logits)
        if hasattr(model, "training_loss"):
            loss, logits = model.training_loss(x, y, label_smoothing=cfg.label_smoothing)
        elif cfg.mixup or cfg.cutmix:
            x, y2, lam = mix(x, y, cfg.mixup, cfg.cutmix)
            logits = model(x)
            loss = lam * F.cross_entropy(logits.float(), y, weight=weight, label_smoothing=cfg.label_smoothing) \
                + (1 - lam) * F.cross_entropy(logits.float(), y2, weight=weight, label_smoothing=cfg.label_smoothing)
        else:
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, weight=weight, label_smoothing=cfg.label_smoothing)
        return loss, Tally(len(y), (logits.argmax(1) == y).sum())

    def evaluate(self, model, split, config: dict, hw, *, final: bool = False) -> Evaluation:
        pre = Preprocess.from_dict(config["preprocess"])
        mirror = final and bool((config.get("augment") or {}).get("hflip"))
        plain, mirrored = evaluate_views(model, split, pre, hw, len(config["classes"]),
                                         keep_probabilities=final, mirror=mirror)
        if mirrored is not None:   # the model saw mirror images: report the average with them too
            plain.extra = {"flip_tta_accuracy": mirrored.accuracy}
        return plain

    def result_line(self, ev, name: str) -> str:
        line = super().result_line(ev, name)
        if ev.extra and "flip_tta_accuracy" in ev.extra:
            line = line[:-1] + f", {ev.extra['flip_tta_accuracy']:.2%} averaged with the mirror images)"
        return line

    def predict(self, model, config: dict, hw, inputs: list[str], top: int = 3) -> list[dict]:
        from convnet.inference import Classifier

        clf = Classifier(model, Preprocess.from_dict(config["preprocess"]), config["classes"], hw, config)
        return [p.to_dict() for p in clf.predict(inputs, top=top)]


def inverse_frequency(labels: torch.Tensor, k: int) -> torch.Tensor:
    """float [K]: n / (K * count_k), so the weights average 1 over the examples."""
    counts = torch.bincount(labels, minlength=k).double()
    return (len(labels) / (k * counts.clamp_min(1))).float()


def balanced_weights(labels: torch.Tensor) -> torch.Tensor:
    """float [N]: 1 / the count of each example's class (every class drawn equally often)."""
    counts = torch.bincount(labels).double()
    return (1.0 / counts[labels]).float()


def mix(x: torch.Tensor, y: torch.Tensor, mixup: float, cutmix: float):
    """Mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019), one per batch (CutMix when both,
    half the time): x [B, C, H, W] blended with a shuffled copy. Returns (x, the partner labels,
    lam: the share of the loss that goes to y). Uses the global torch RNG, seeded per epoch."""
    perm = torch.randperm(len(y), device=x.device)
    use_cut = cutmix > 0 and (mixup == 0 or torch.rand(()) < 0.5)
    alpha = cutmix if use_cut else mixup
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    if not use_cut:
        return lam * x + (1 - lam) * x[perm], y[perm], lam
    h, w = x.shape[2:]
    ch, cw = int(h * (1 - lam) ** 0.5), int(w * (1 - lam) ** 0.5)
    cy, cx = int(torch.randint(0, h, ())), int(torch.randint(0, w, ()))
    y0, y1, x0, x1 = max(cy - ch // 2, 0), min(cy + ch // 2, h), max(cx - cw // 2, 0), min(cx + cw // 2, w)
    x = x.clone()
    x[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
    return x, y[perm], 1 - (y1 - y0) * (x1 - x0) / (h * w)     # lam from the patch actually pasted


def evaluate(model: torch.nn.Module, data, preprocess: Preprocess, hw, num_classes: int,
             batch_size: int = 500, keep_probabilities: bool = False, flip_tta: bool = False) -> Evaluation:
    """flip_tta: test-time augmentation for models trained with random flips: the logits of each
    image and of its mirror image are averaged (twice the work, typically +0.2-0.3 points)."""
    plain, mirrored = evaluate_views(model, data, preprocess, hw, num_classes, batch_size,
                                     keep_probabilities, mirror=flip_tta)
    return mirrored if flip_tta else plain


@torch.no_grad()
def evaluate_views(model: torch.nn.Module, data, preprocess: Preprocess, hw, num_classes: int,
                   batch_size: int = 500, keep_probabilities: bool = False,
                   mirror: bool = False) -> tuple[Evaluation, Evaluation | None]:
    """(the evaluation of the images as they are, and with mirror averaging if `mirror`) from one
    pass: the plain logits are computed once and serve both."""
    model.eval()
    batches = BatchIterator(data, batch_size, preprocess, shuffle=False, device=hw.device,
                            channels_last=hw.channels_last)
    tallies = [ConfusionTally(num_classes, keep_probabilities) for _ in range(2 if mirror else 1)]
    for x, y in batches:
        with hw.autocast():
            logits = model(x)
            views = [logits, (logits + model(x.flip(3))) / 2] if mirror else [logits]   # x: [B, C, H, W]
        for tally, view in zip(tallies, views):
            tally.add(view, y)
    results = [tally.result(len(data)) for tally in tallies]
    return results[0], results[1] if mirror else None
