"""The learned kernels of a conv layer as pictures.

A first layer on RGB input is shown in colour: each kernel [3, k, k] is one small RGB
image, so a red-green edge detector looks like one. Deeper kernels have many input
channels; each is shown as a row of gray [k, k] slices, one per input channel."""

from __future__ import annotations

import numpy as np
import torch

from convnet.visualize.common import CONV_KINDS, resolve_layer, tile


def conv_weight(model: torch.nn.Module, layer: str | int | None = None) -> tuple[str, np.ndarray]:
    """(layer name, weights [out, in, kh, kw]) of a conv layer (default: the first)."""
    name, module = resolve_layer(model, layer, CONV_KINDS, "conv layer")
    return name, module.weight.detach().float().cpu().numpy()


def filter_images(weight: np.ndarray, max_filters: int = 64, max_inputs: int = 12) -> np.ndarray:
    """weights [out, in, kh, kw] -> [n, kh, kw, 3] colour kernels (in == 3) or
    [n*m, kh, kw] gray slices (filter-major), each scaled to [0, 1] on its own."""
    w = weight[:max_filters]
    if w.shape[1] == 3:
        rgb = w.transpose(0, 2, 3, 1)                                   # [n, 3, kh, kw] -> [n, kh, kw, 3]
        # One scale per kernel for all three colours keeps the hue of the kernel.
        return centered(rgb, axis=(1, 2, 3))
    w = w[:, :max_inputs]
    slices = w.reshape(-1, *w.shape[2:])                                # [n, m, kh, kw] -> [n*m, kh, kw]
    return centered(slices, axis=(1, 2))


def centered(a: np.ndarray, axis) -> np.ndarray:
    """Zero weight -> mid gray 0.5, the largest |weight| of each slice -> 0 or 1: the sign
    stays visible and a near-constant kernel stays flat instead of being stretched to noise."""
    top = np.abs(a).max(axis=axis, keepdims=True)
    return (0.5 + a / (2 * np.where(top > 0, top, 1))).astype(np.float32)


def filter_grid(model: torch.nn.Module, layer: str | int | None = None, max_filters: int = 64,
                max_inputs: int = 12) -> tuple[str, np.ndarray]:
    """(layer name, one mosaic of the layer's kernels): [H, W, 3] for colour, [H, W] for gray."""
    name, weight = conv_weight(model, layer)
    images = filter_images(weight, max_filters, max_inputs)
    one_per_filter = images.ndim == 4 or weight.shape[1] == 1
    cols = None if one_per_filter else min(weight.shape[1], max_inputs)
    return name, tile(images, cols=cols, pad=1, fill=1.0)


def plot_filters(model: torch.nn.Module, layer: str | int | None = None, max_filters: int | None = None,
                 max_inputs: int = 12):
    """A matplotlib Figure of the kernels of one conv layer."""
    from matplotlib.figure import Figure

    name, weight = conv_weight(model, layer)
    max_filters = max_filters or (64 if weight.shape[1] in (1, 3) else 32)   # deeper: rows of slices
    _, grid = filter_grid(model, name, max_filters, max_inputs)
    out_c, in_c, kh, kw = weight.shape
    # About 600 pixels across at 100 dpi, each kernel pixel 2..24 screen pixels wide.
    px = min(24.0, max(2.0, 600 / grid.shape[1]))
    fig = Figure(figsize=(max(3.0, grid.shape[1] * px / 100), min(30.0, grid.shape[0] * px / 100) + 0.5))
    ax = fig.add_subplot()
    ax.imshow(grid, cmap=None if grid.ndim == 3 else "gray", interpolation="nearest", vmin=0, vmax=1)
    ax.set_axis_off()
    shown = (f"{min(out_c, max_filters)} of {out_c} filters" if in_c in (1, 3) else
             f"rows: {min(out_c, max_filters)} of {out_c} filters, columns: {min(in_c, max_inputs)} "
             f"of {in_c} input channels")
    ax.set_title(f"layer {name}: {out_c} filters {kh}x{kw}x{in_c} ({shown})", fontsize=9)
    return fig
