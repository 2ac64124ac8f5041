"""The learned kernels of a conv layer as pictures.

A first layer on RGB input is shown in colour: each kernel [3, k, k] is one small RGB
image, so a red-green edge detector looks like one. Deeper kernels have many input
channels; each is shown as a row of gray [k, k] slices, one per input channel."""

from __future__ import annotations

import numpy as np
import torch

from convnet.visualize.common import CONV_KINDS, normalize01, resolve_layer, tile


def conv_weight(model: torch.nn.Module, layer: str | int | None = None) -> tuple[str, np.ndarray]:
    """(layer name, weights [out, in, kh, kw]) of a conv layer (default: the first)."""
    name, module = resolve_layer(model, layer, CONV_KINDS, "conv layer")
    return name, module.weight.detach().float().cpu().numpy()


def filter_images(weight: np.ndarray, max_filters: int = 64, max_inputs: int = 16) -> np.ndarray:
    """weights [out, in, kh, kw] -> [n, kh, kw, 3] colour kernels (in == 3) or
    [n*m, kh, kw] gray slices (filter-major), each scaled to [0, 1] on its own."""
    w = weight[:max_filters]
    if w.shape[1] == 3:
        rgb = w.transpose(0, 2, 3, 1)                                   # [n, 3, kh, kw] -> [n, kh, kw, 3]
        # One scale per kernel for all three colours keeps the hue of the kernel.
        return normalize01(rgb, axis=(1, 2, 3))
    w = w[:, :max_inputs]
    slices = w.reshape(-1, *w.shape[2:])                                # [n, m, kh, kw] -> [n*m, kh, kw]
    return normalize01(slices, axis=(1, 2))


def filter_grid(model: torch.nn.Module, layer: str | int | None = None, max_filters: int = 64,
                max_inputs: int = 16) -> tuple[str, np.ndarray]:
    """(layer name, one mosaic of the layer's kernels): [H, W, 3] for colour, [H, W] for gray."""
    name, weight = conv_weight(model, layer)
    images = filter_images(weight, max_filters, max_inputs)
    one_per_filter = images.ndim == 4 or weight.shape[1] == 1
    cols = None if one_per_filter else min(weight.shape[1], max_inputs)
    return name, tile(images, cols=cols, pad=1, fill=1.0)


def plot_filters(model: torch.nn.Module, layer: str | int | None = None, max_filters: int = 64,
                 max_inputs: int = 16):
    """A matplotlib Figure of the kernels of one conv layer."""
    from matplotlib.figure import Figure

    name, weight = conv_weight(model, layer)
    _, grid = filter_grid(model, name, max_filters, max_inputs)
    out_c, in_c, kh, kw = weight.shape
    scale = max(2.0, min(10.0, grid.shape[1] / 12))
    fig = Figure(figsize=(scale, scale * grid.shape[0] / grid.shape[1] + 0.6))
    ax = fig.add_subplot()
    ax.imshow(grid, cmap=None if grid.ndim == 3 else "gray", interpolation="nearest", vmin=0, vmax=1)
    ax.set_axis_off()
    shown = (f"{min(out_c, max_filters)} of {out_c} filters" if in_c == 3 else
             f"rows: {min(out_c, max_filters)} of {out_c} filters, columns: {min(in_c, max_inputs)} "
             f"of {in_c} input channels")
    ax.set_title(f"layer {name}: {out_c} filters {kh}x{kw}x{in_c} ({shown})", fontsize=9)
    return fig
