"""Activation maps of one image: what each filter found, and where, stage by stage."""

from __future__ import annotations

import numpy as np
import torch

from convnet.visualize.activations import Stage, describe_shapes, stages
from convnet.visualize.common import display_image, normalize01, tile


def feature_maps(model: torch.nn.Module, x: torch.Tensor, layer: str | int | None = None) -> list[Stage]:
    """The maps of x [1, C, H, W] at each conv/activation/pooling stage (or one `layer`)."""
    return stages(model, x, layer)


def map_mosaic(stage: Stage, max_maps: int = 64) -> np.ndarray:
    """[C, H, W] maps -> one mosaic, each map scaled to [0, 1] on its own (NaN padding)."""
    maps = stage.maps[:max_maps].numpy()
    # One value per map (after global pooling): scale across maps so their sizes compare.
    axis = None if maps.shape[1] * maps.shape[2] == 1 else (1, 2)
    return tile(normalize01(maps, axis=axis), pad=1)


def plot_maps(model: torch.nn.Module, x: torch.Tensor, raw: torch.Tensor | None = None,
              layer: str | int | None = None, max_maps: int | None = None):
    """A Figure: the input, then one panel of maps per stage titled with its shape.
    With `layer`, one large panel of all that layer's maps."""
    from matplotlib.figure import Figure

    found = feature_maps(model, x, layer)
    per_stage = max_maps or (256 if layer is not None else 16)
    panels = len(found) + 1
    cols = 1 if layer is not None else min(4, panels)
    if layer is not None:
        panels, cols = 2, 2
    rows = -(-panels // cols)
    size = 6.0 if layer is not None else 2.6
    fig = Figure(figsize=(size * cols, size * rows + 0.8))
    fig.suptitle(describe_shapes(found, tuple(x.shape)), fontsize=8, wrap=True)
    ax = fig.add_subplot(rows, cols, 1)
    ax.imshow(display_image(raw) if raw is not None else normalize01(display_image(x)),
              cmap="gray", interpolation="nearest")
    ax.set_title(f"input {x.shape[2]}x{x.shape[3]}x{x.shape[1]}", fontsize=9)
    ax.set_axis_off()
    for i, stage in enumerate(found, start=2):
        ax = fig.add_subplot(rows, cols, i)
        ax.imshow(map_mosaic(stage, per_stage), cmap="viridis", interpolation="nearest", vmin=0, vmax=1)
        n = min(per_stage, stage.maps.shape[0])
        more = f", first {n}" if n < stage.maps.shape[0] else ""
        ax.set_title(f"{stage.name}: {stage.kind}\n{stage.shape}{more}", fontsize=8)
        ax.set_axis_off()
    return fig
