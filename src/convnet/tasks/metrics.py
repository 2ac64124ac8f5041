"""Classification figures, computed once for every task that predicts one class per item
(images, sounds, sentences, graph nodes): loss, accuracy, the confusion matrix, per-class
precision and recall, balanced accuracy, and the most confidently wrong items.

The confusion matrix has rows = true class, columns = predicted class (int64 [K, K])."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Evaluation:
    n: int
    loss: float
    accuracy: float
    confusion: torch.Tensor                      # int64 [K, K]: rows true class, columns predicted
    probabilities: torch.Tensor | None = None    # float [N, K], in data order, if asked for
    labels: torch.Tensor | None = None           # int64 [N], kept with the probabilities
    extra: dict | None = None                    # task-specific figures (e.g. flip_tta_accuracy)

    @property
    def metrics(self) -> dict:
        return {"accuracy": self.accuracy, "loss": self.loss, **(self.extra or {})}

    def per_class_accuracy(self) -> list[float | None]:
        return recall(self.confusion)

    def to_dict(self, classes: list[str]) -> dict:
        """The figures results.json and `eval --json` report."""
        rec = recall(self.confusion)
        return {"n": self.n, "loss": self.loss, "accuracy": self.accuracy,
                "balanced_accuracy": balanced_accuracy(self.confusion),
                "per_class_accuracy": dict(zip(classes, rec)),
                "precision": dict(zip(classes, precision(self.confusion))),
                "confusion": self.confusion.tolist(), **(self.extra or {})}

    def analysis(self, classes: list[str], worst: int = 24) -> dict:
        """What the run's plots and report show (RUN_DIR/plots/analysis.json)."""
        return {"n": self.n, "accuracy": self.accuracy, "classes": classes,
                "confusion": self.confusion.tolist(), "precision": precision(self.confusion),
                "recall": recall(self.confusion),
                "most_confident_wrong": most_confident_wrong(self.probabilities, self.labels, worst)
                if self.probabilities is not None else []}


def precision(confusion: torch.Tensor) -> list[float | None]:
    """Per class: right / predicted as that class (None for a class never predicted)."""
    right, predicted = confusion.diag().double(), confusion.sum(0).double()
    return [None if predicted[i] == 0 else round((right[i] / predicted[i]).item(), 6)
            for i in range(len(right))]


def recall(confusion: torch.Tensor) -> list[float | None]:
    """Per class: right / items of that class (None for a class absent from the split)."""
    right, actual = confusion.diag().double(), confusion.sum(1).double()
    return [None if actual[i] == 0 else round((right[i] / actual[i]).item(), 6) for i in range(len(right))]


def balanced_accuracy(confusion: torch.Tensor) -> float | None:
    """The mean recall over the classes present: what accuracy would be with balanced classes."""
    present = [r for r in recall(confusion) if r is not None]
    return sum(present) / len(present) if present else None


def most_confident_wrong(probs: torch.Tensor, labels: torch.Tensor, worst: int = 24) -> list[dict]:
    conf, pred = probs.max(1)
    wrong = torch.nonzero(pred != labels).flatten()
    wrong = wrong[conf[wrong].argsort(descending=True)][:worst]
    return [{"index": int(i), "true": int(labels[i]), "predicted": int(pred[i]),
             "confidence": round(float(conf[i]), 6)} for i in wrong]


class Tally:
    """Loss, confusion matrix and (optionally) probabilities accumulated over batches of
    logits [B, K] and labels [B]."""

    def __init__(self, num_classes: int, keep_probabilities: bool = False):
        self.k, self.keep = num_classes, keep_probabilities
        self.loss, self.kept, self.kept_labels = 0.0, [], []
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def add(self, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.loss += F.cross_entropy(logits.float(), y, reduction="sum").item()
        if self.keep:
            self.kept.append(torch.softmax(logits.float(), 1).cpu())
            self.kept_labels.append(y.cpu())
        pred = logits.argmax(1)
        self.confusion += torch.bincount((y * self.k + pred).cpu(),
                                         minlength=self.k * self.k).view(self.k, self.k)

    def result(self, n: int | None = None) -> Evaluation:
        n = int(self.confusion.sum()) if n is None else n
        return Evaluation(n=n, loss=self.loss / max(n, 1),
                          accuracy=self.confusion.diag().sum().item() / max(n, 1), confusion=self.confusion,
                          probabilities=torch.cat(self.kept) if self.kept else None,
                          labels=torch.cat(self.kept_labels) if self.kept_labels else None)
