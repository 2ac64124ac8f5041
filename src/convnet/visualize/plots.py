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
    """A grid of images [n, C, H, W] uint8, each titled 'true -> predicted (confidence)'.
    One mosaic in one axes: a figure with a subplot per image took several times longer."""
    from matplotlib.figure import Figure

    from convnet.visualize.common import tile

    n = len(images)
    cols = max(1, min(cols, n))
    rows = max(1, -(-n // cols))
    fig = Figure(figsize=(1.6 * cols, 1.75 * rows + 0.4))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title("most confidently wrong test images: true -> predicted (confidence)", fontsize=10)
    if n == 0:
        ax.text(0.5, 0.5, "no test image was misclassified", ha="center", va="center")
        return fig
    h, w = images.shape[2:]
    pics = images.transpose(0, 2, 3, 1).astype(np.float32) / 255           # [n, C, H, W] -> [n, H, W, C]
    pics = pics[..., 0] if pics.shape[3] == 1 else pics
    gap = max(2, h // 3)                                                    # room for each caption
    mosaic = tile(np.pad(pics, ((0, 0), (gap, 0), (0, 0)) + ((0, 0),) * (pics.ndim - 3),
                         constant_values=1.0), cols=cols, pad=2, fill=1.0)
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for i in range(n):
        r, c = divmod(i, cols)
        ax.text(c * (w + 2) + w / 2, r * (h + gap + 2) + gap - 1,
                f"{classes[true[i]]} -> {classes[pred[i]]}\n({confidence[i]:.2f})",
                ha="center", va="bottom", fontsize=6)
    return fig


def plot_lr_find(result: dict):
    """The range test's loss against the learning rate (log axis), the suggestion marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(result["lr"], result["loss"], color="0.8", lw=0.8, label="loss per step")
    ax.plot(result["lr"], result["smoothed"], color="C0", lw=1.6, label="smoothed")
    i = result["steepest_index"]
    ax.scatter([result["lr"][i]], [result["smoothed"][i]], color="C3", zorder=3,
               label=f"suggested {result['suggested']:.2e} (steepest fall)")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    low, high = min(result["smoothed"]), result["smoothed"][0]
    ax.set_ylim(low - 0.1 * abs(high - low) - 1e-3, max(high, low) + 0.5 * abs(high - low) + 1e-3)
    ax.set_title(f"learning-rate range test ({len(result['lr'])} steps; {result['stopped']})", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
