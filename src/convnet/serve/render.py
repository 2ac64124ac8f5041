"""Tensors as PNG data URLs for the page: the network's input and each layer's maps."""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import torch
import torch.nn.functional as F

MAX_CHANNELS = 16     # maps shown per layer: enough to see what a layer does, small to send
MAX_SIDE = 64         # larger maps are pooled down to this before tiling


def png_data_url(array: np.ndarray) -> str:
    """uint8 [H, W] or [H, W, 3] -> 'data:image/png;base64,...'."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Any float tensor -> uint8 by its own min and max (a constant tensor is mid-grey)."""
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 1e-12:
        return np.full(tuple(x.shape), 128, dtype=np.uint8)
    return ((x - lo) / (hi - lo) * 255).round().to(torch.uint8).numpy()


def network_input(x: torch.Tensor) -> str:
    """One normalised input [C, H, W] as the network sees it (values rescaled for display)."""
    image = to_uint8(x.float())
    return png_data_url(image[0] if x.shape[0] == 1 else image.transpose(1, 2, 0))   # [C,H,W] -> [H,W,C]


def map_grid(maps: torch.Tensor) -> str:
    """A layer's output for one image, [C, H, W] or [F], as one tiled greyscale PNG."""
    if maps.dim() == 1:                                     # a vector: one row of cells
        return png_data_url(to_uint8(maps.view(1, -1)))
    maps = maps[:MAX_CHANNELS]
    if max(maps.shape[1:]) > MAX_SIDE:
        maps = F.adaptive_avg_pool2d(maps.unsqueeze(0), MAX_SIDE).squeeze(0)
    c, h, w = maps.shape
    cols = math.ceil(math.sqrt(c))
    rows = math.ceil(c / cols)
    grid = torch.zeros(rows * (h + 1) - 1, cols * (w + 1) - 1)
    for i in range(c):   # each map scaled by itself so weak channels are visible too
        r, q = divmod(i, cols)
        m = maps[i]
        grid[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = (
            (m - m.min()) / (m.max() - m.min() + 1e-12))
    return png_data_url((grid * 255).round().to(torch.uint8).numpy())
