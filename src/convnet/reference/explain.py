"""The lecture's arithmetic, printed: every window of a convolution or a pooling layer, the
element-wise products of each depth slice, their sums, and where each result lands.

All functions here return text lines; the numbers come from the reference layers, and the
per-window arithmetic is spelled out with the same arrays so a reader can check it by hand."""

from __future__ import annotations

import numpy as np

from convnet.reference.conv import Conv2d, pad
from convnet.reference.pool import AvgPool2d, MaxPool2d
from convnet.reference.shapes import check_window, output_size

# The lecture's worked example: a 4x4x3 image (values 0..2), one 2x2x3 filter (-1..1), bias 1.
LECTURE_IMAGE = np.array([
    [[1, 2, 0, 1], [0, 1, 2, 2], [2, 0, 1, 0], [1, 1, 0, 2]],     # depth slice 0
    [[0, 1, 1, 2], [2, 2, 0, 1], [1, 0, 2, 1], [0, 2, 1, 0]],     # depth slice 1
    [[2, 0, 1, 1], [1, 0, 0, 2], [0, 1, 1, 2], [2, 1, 0, 1]],     # depth slice 2
], dtype=np.float64)                                            # [C=3, H=4, W=4]
LECTURE_FILTER = np.array([
    [[1, -1], [0, 1]],
    [[-1, 0], [1, 1]],
    [[0, 1], [-1, 0]],
], dtype=np.float64)                                            # [C=3, K=2, K=2]
LECTURE_BIAS = 1.0
# The classic 2x2 max-pooling example (one depth slice).
LECTURE_POOL = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float64)


def fmt(v: float) -> str:
    """Whole numbers without decimals, others with two."""
    return f"{int(round(v))}" if abs(v - round(v)) < 1e-9 else f"{v:.2f}"


def matrix(a: np.ndarray) -> str:
    """[[1, 2], [3, 4]] -> '[1 2; 3 4]' (rows separated by ';')."""
    return "[" + "; ".join(" ".join(fmt(v) for v in row) for row in a) + "]"


def grid(a: np.ndarray, indent: str = "  ") -> list[str]:
    """A 2-d array as right-aligned rows."""
    cells = [[fmt(v) for v in row] for row in a]
    width = max(len(c) for row in cells for c in row)
    return [indent + " ".join(c.rjust(width) for c in row) for row in cells]


def slices_side_by_side(volume: np.ndarray, title: str) -> list[str]:
    """[C, H, W] -> the C depth slices printed next to each other."""
    blocks = [grid(volume[d], "") for d in range(volume.shape[0])]
    width = max(len(line) for block in blocks for line in block)
    head = ("  " + "   ".join(f"d={d}".ljust(width) for d in range(len(blocks)))).rstrip()
    rows = [("  " + "   ".join(block[r].ljust(width) for block in blocks)).rstrip() for r in range(len(blocks[0]))]
    return [title, head, *rows]


def map_lines(title: str, a: np.ndarray) -> list[str]:
    """An output map [H', W']: every number up to 16x16, else its range (the GIF shows it)."""
    head = f"{title} ({a.shape[0]}x{a.shape[1]}):"
    if a.size <= 256:
        return [head, *grid(a)]
    return [head, f"  min {a.min():.3f}, max {a.max():.3f}, mean {a.mean():.3f} (--gif to see it)"]


def formula_lines(h: int, w: int, k: int, s: int, p: int) -> list[str]:
    ho, wo = output_size(h, k, s, p), output_size(w, k, s, p)
    exact = (h + 2 * p - k) % s == 0 and (w + 2 * p - k) % s == 0
    note = "" if exact else "   (not a whole number: the last positions do not fit and are dropped)"
    return [f"Output size: H' = (H + 2P - K)/S + 1 = ({h} + 2*{p} - {k})/{s} + 1 = {ho}, "
            f"W' = ({w} + 2*{p} - {k})/{s} + 1 = {wo}{note}"]


def positions(ho: int, wo: int, show: int | None) -> list[tuple[int, int]]:
    every = [(y, x) for y in range(ho) for x in range(wo)]
    return every if show is None else every[:show]


def explain_conv(image: np.ndarray, filters: np.ndarray, bias: np.ndarray, stride: int = 1,
                 padding: int = 0, padding_mode: str = "zeros", show: int | None = None) -> tuple[list[str], np.ndarray]:
    """image [C, H, W], filters [F, C, K, K], bias [F] -> (lines, output [F, H', W']).

    For each shown output position and filter: each depth slice's window, the filter slice, their
    element-wise products and sum; the slice sums plus the bias; where the value lands."""
    c, h, w = image.shape
    f, _, k, _ = filters.shape
    layer = Conv2d(c, f, k, stride, padding, padding_mode=padding_mode, dtype=np.float64)
    layer.params["weight"], layer.params["bias"] = filters.astype(np.float64), bias.astype(np.float64)
    out = layer(image[None].astype(np.float64))[0]                      # [F, H', W']
    ho, wo = out.shape[1:]
    lines = [f"Convolution: a {h}x{w}x{c} input, {f} filter{'s' if f > 1 else ''} of {k}x{k}x{c}, "
             f"stride {stride}, padding {padding} ({padding_mode})", ""]
    lines += formula_lines(h, w, k, stride, padding)
    lines += [f"Output volume: {h}x{w}x{c} -> {ho}x{wo}x{f}  (one {ho}x{wo} activation map per filter, "
              f"stacked along the depth)", ""]
    xp = pad(image[None], (padding, padding), padding_mode, "explain conv")[0]      # [C, H+2P, W+2P]
    small = h * w <= 64
    if small:
        lines += slices_side_by_side(xp, f"Input x{' (padded)' if padding else ''}, one depth slice per block:")
        for i in range(f):
            lines += slices_side_by_side(filters[i], f"Filter w{i} ({k}x{k}x{c}), bias b{i} = {fmt(bias[i])}:")
        lines.append("")
    shown = positions(ho, wo, show)
    for y, x in shown:
        for i in range(f):
            r0, c0 = y * stride, x * stride
            lines.append(f"out[{y},{x}] of map {i}: window rows {r0}-{r0 + k - 1}, columns {c0}-{c0 + k - 1}"
                         f"{' of the padded input' if padding else ''}")
            sums = []
            for d in range(c):
                window = xp[d, r0:r0 + k, c0:c0 + k]
                prod = window * filters[i, d]
                sums.append(prod.sum())
                lines.append(f"  d={d}: {matrix(window)} * {matrix(filters[i, d])} = {matrix(prod)} -> sum {fmt(sums[-1])}")
            terms = " + ".join(fmt(v) if v >= 0 else f"({fmt(v)})" for v in sums)
            lines.append(f"  {terms} + bias {fmt(bias[i])} = {fmt(out[i, y, x])} -> out[{y},{x}] of map {i}")
    if len(shown) < ho * wo:
        lines.append(f"... {ho * wo - len(shown)} more positions (--show N prints more)")
    lines.append("")
    for i in range(f):
        lines += map_lines(f"Activation map {i}", out[i])
    return lines, out


def explain_pool(image: np.ndarray, size: int = 2, stride: int | None = None, mode: str = "max",
                 padding: int = 0, show: int | None = None) -> tuple[list[str], np.ndarray]:
    """image [C, H, W] -> (lines, pooled [C, H', W']): each window, its max (where) or mean."""
    c, h, w = image.shape
    stride = stride or size
    layer = (MaxPool2d if mode == "max" else AvgPool2d)(size, stride, padding)
    out = layer(image[None].astype(np.float64))[0]
    ho, wo = out.shape[1:]
    what = "maximum" if mode == "max" else "mean"
    lines = [f"{'Max' if mode == 'max' else 'Average'} pooling: a {h}x{w}x{c} input, {size}x{size} windows, "
             f"stride {stride}, padding {padding}: each window's {what}, each depth slice on its own", ""]
    lines += formula_lines(h, w, size, stride, padding)
    lines += [f"Output volume: {h}x{w}x{c} -> {ho}x{wo}x{c}  (the depth is kept; no parameters)", ""]
    fill = -np.inf if mode == "max" else 0.0
    xp = pad(image[None], (padding, padding), "zeros", "explain pool", value=fill)[0]
    if h * w <= 64:
        lines += slices_side_by_side(image, "Input:") + [""]
    shown = positions(ho, wo, show)
    for d in range(c):
        for y, x in shown:
            r0, c0 = y * stride, x * stride
            window = xp[d, r0:r0 + size, c0:c0 + size]
            if mode == "max":
                wy, wx = np.unravel_index(int(window.argmax()), window.shape)
                how = f"max {fmt(window.max())} (at row {r0 + wy - padding}, column {c0 + wx - padding})"
            else:
                how = f"mean ({' + '.join(fmt(v) for v in window.ravel())})/{size * size} = {fmt(window.mean())}"
            lines.append(f"d={d} window rows {r0}-{r0 + size - 1}, columns {c0}-{c0 + size - 1}: "
                         f"{matrix(window)} -> {how} -> out[{y},{x}]")
    if len(shown) < ho * wo:
        lines.append(f"... {ho * wo - len(shown)} more positions per slice (--show N prints more)")
    lines.append("")
    for d in range(c):
        lines += map_lines(f"Pooled slice d={d}", out[d])
    return lines, out


def named_filter(name: str, size: int | None) -> np.ndarray:
    """A classic 2-d filter [K, K]: sobel-x, sobel-y, laplacian, gaussian (size K, sigma K/4), box."""
    from convnet.errors import ConfigError

    fixed = {"sobel-x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], "sobel-y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
             "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]]}
    if name in fixed:
        if size not in (None, 3):
            raise ConfigError(f"filter {name} is 3x3, not {size}x{size}")
        return np.array(fixed[name], dtype=np.float64)
    k = size or 5
    if name == "gaussian":
        r = np.arange(k) - (k - 1) / 2
        g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * (k / 4) ** 2))
        return g / g.sum()
    if name == "box":
        return np.full((k, k), 1 / (k * k))
    raise ConfigError(f"unknown filter {name!r} (choose sobel-x, sobel-y, laplacian, gaussian, box, "
                      "or a run directory)")


def check_fits(h: int, w: int, k: int, stride: int, padding: int, layer: str) -> None:
    """A ConfigError naming the numbers when the window does not fit (before anything is printed)."""
    check_window(layer, (h, w), (k, k), (stride, stride), (padding, padding))
