"""A contact sheet: one row per query, the query then its neighbours, each titled with its
cosine similarity and label (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def draw_sheet(out: str | Path, queries: list[tuple[np.ndarray, str]],
               rows: list[list[tuple[np.ndarray, str]]]) -> None:
    """queries: (image uint8 [C, H, W], title) each; rows: per query, (image, title) of each
    neighbour. Written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from convnet.fileio import atomic_write

    cols = 1 + max((len(r) for r in rows), default=0)
    fig, axes = plt.subplots(len(queries), cols, figsize=(1.6 * cols, 1.8 * len(queries)), squeeze=False)
    for r, ((q, qt), neighbours) in enumerate(zip(queries, rows)):
        for c, (im, title) in enumerate([(q, qt)] + neighbours):
            ax = axes[r, c]
            _show(ax, im)
            ax.set_title(title, fontsize=7, color="tab:blue" if c == 0 else "black")
        for c in range(1 + len(neighbours), cols):
            axes[r, c].axis("off")
    fig.tight_layout()
    atomic_write(Path(out), lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def _show(ax, image: np.ndarray) -> None:
    im = np.asarray(image)
    if im.shape[0] == 1:
        ax.imshow(im[0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(np.transpose(im, (1, 2, 0)))
    ax.set_xticks([])
    ax.set_yticks([])
