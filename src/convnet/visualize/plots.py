"""The pictures of a finished run: learning curves, confusion matrix, per-class precision and
recall, and the test images the model got most confidently wrong. Each returns a Figure."""

from __future__ import annotations

import numpy as np


def plot_curves(history: list[dict]):
    """Loss and accuracy per epoch, for training and for validation or test (whichever was logged)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8))
    epochs = [r["epoch"] for r in history]
    for i, metric in enumerate(("loss", "accuracy"), start=1):
        ax = fig.add_subplot(1, 2, i)
        for split in ("train", "val", "test"):
            key = f"{split}_{metric}"
            points = [(r["epoch"], r[key]) for r in history if key in r]
            if points:
                ax.plot(*zip(*points), marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        if epochs:
            ax.set_xticks(epochs if len(epochs) <= 12 else epochs[::max(1, len(epochs) // 10)])
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no epochs logged", ha="center", va="center", transform=ax.transAxes)
        ax.grid(alpha=0.3)
    return fig


def plot_confusion(confusion: np.ndarray, classes: list[str]):
    """Rows: true class; columns: predicted class; counts written in each cell."""
    from matplotlib.figure import Figure

    k = len(classes)
    side = max(4.0, 0.55 * k + 2)
    fig = Figure(figsize=(side + 1, side))
    ax = fig.add_subplot()
    im = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    n, right = int(confusion.sum()), int(np.trace(confusion))
    ax.set_title(f"confusion matrix: {right:,} of {n:,} right ({right / max(n, 1):.2%})", fontsize=10)
    if k <= 30:
        top = confusion.max() or 1
        for (i, j), v in np.ndenumerate(confusion):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if v > top / 2 else "black")
    return fig


def plot_per_class(precision: list, recall: list, classes: list[str]):
    """Bars of precision and recall per class (a class never predicted has no precision)."""
    from matplotlib.figure import Figure

    k = len(classes)
    fig = Figure(figsize=(max(6.0, 0.6 * k + 2), 3.8))
    ax = fig.add_subplot()
    x = np.arange(k)
    as_float = lambda values: [np.nan if v is None else v for v in values]   # noqa: E731
    ax.bar(x - 0.2, as_float(precision), 0.4, label="precision")
    ax.bar(x + 0.2, as_float(recall), 0.4, label="recall")
    ax.set_xticks(x, classes, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title("per-class precision and recall (test)", fontsize=10)
    ax.legend(loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_wrong(images: np.ndarray, true: list[int], pred: list[int], confidence: list[float],
               classes: list[str], cols: int = 8):
    """A grid of images [n, C, H, W] uint8, each titled 'true -> predicted (confidence)'."""
    from matplotlib.figure import Figure

    n = len(images)
    cols = max(1, min(cols, n))
    rows = max(1, -(-n // cols))
    fig = Figure(figsize=(1.6 * cols, 1.8 * rows + 0.5))
    fig.suptitle("most confidently wrong test images: true -> predicted (confidence)", fontsize=10)
    if n == 0:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no test image was misclassified", ha="center", va="center")
        ax.set_axis_off()
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        image = images[i].transpose(1, 2, 0)                        # [C, H, W] -> [H, W, C]
        ax.imshow(image[..., 0] if image.shape[2] == 1 else image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{classes[true[i]]} -> {classes[pred[i]]}\n({confidence[i]:.2f})", fontsize=7)
        ax.set_axis_off()
    return fig
