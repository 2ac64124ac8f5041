"""Evaluation: loss, accuracy, per-class accuracy and the confusion matrix of a split."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from convnet.data.batches import BatchIterator, Preprocess
from convnet.data.tensors import TensorData
from convnet.training.hardware import Hardware


@dataclass
class Evaluation:
    n: int
    loss: float
    accuracy: float
    confusion: torch.Tensor        # int64 [K, K]: rows true class, columns predicted
    probabilities: torch.Tensor | None = None   # float [N, K], in data order, if asked for

    def per_class_accuracy(self) -> list[float | None]:
        totals = self.confusion.sum(1)
        return [(self.confusion[k, k] / totals[k]).item() if totals[k] else None
                for k in range(len(totals))]

    def to_dict(self, classes: list[str]) -> dict:
        return {"n": self.n, "loss": self.loss, "accuracy": self.accuracy,
                "per_class_accuracy": dict(zip(classes, self.per_class_accuracy())),
                "confusion": self.confusion.tolist()}


def evaluate(model: torch.nn.Module, data: TensorData, preprocess: Preprocess, hw: Hardware,
             num_classes: int, batch_size: int = 500, keep_probabilities: bool = False,
             flip_tta: bool = False) -> Evaluation:
    """flip_tta: test-time augmentation for models trained with random flips: the logits of each
    image and of its mirror image are averaged (twice the work, typically +0.2-0.3 points)."""
    plain, mirrored = evaluate_views(model, data, preprocess, hw, num_classes, batch_size,
                                     keep_probabilities, mirror=flip_tta)
    return mirrored if flip_tta else plain


@torch.no_grad()
def evaluate_views(model: torch.nn.Module, data: TensorData, preprocess: Preprocess, hw: Hardware,
                   num_classes: int, batch_size: int = 500, keep_probabilities: bool = False,
                   mirror: bool = False) -> tuple[Evaluation, Evaluation | None]:
    """(the evaluation of the images as they are, and with mirror averaging if `mirror`) from one
    pass: the plain logits are computed once and serve both."""
    model.eval()
    batches = BatchIterator(data, batch_size, preprocess, shuffle=False, device=hw.device,
                            channels_last=hw.channels_last)
    tallies = [_Tally(num_classes, keep_probabilities) for _ in range(2 if mirror else 1)]
    for x, y in batches:
        with hw.autocast():
            logits = model(x)
            views = [logits, (logits + model(x.flip(3))) / 2] if mirror else [logits]   # x: [B, C, H, W]
        for tally, view in zip(tallies, views):
            tally.add(view, y)
    results = [tally.result(len(data)) for tally in tallies]
    return results[0], results[1] if mirror else None


class _Tally:
    """Loss, confusion matrix and (optionally) probabilities accumulated over batches."""

    def __init__(self, num_classes: int, keep_probabilities: bool):
        self.k, self.keep = num_classes, keep_probabilities
        self.loss, self.kept = 0.0, []
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def add(self, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.loss += F.cross_entropy(logits.float(), y, reduction="sum").item()
        if self.keep:
            self.kept.append(torch.softmax(logits.float(), 1).cpu())
        pred = logits.argmax(1)
        self.confusion += torch.bincount((y * self.k + pred).cpu(),
                                         minlength=self.k * self.k).view(self.k, self.k)

    def result(self, n: int) -> Evaluation:
        return Evaluation(n=n, loss=self.loss / max(n, 1),
                          accuracy=self.confusion.diag().sum().item() / max(n, 1), confusion=self.confusion,
                          probabilities=torch.cat(self.kept) if self.kept else None)
