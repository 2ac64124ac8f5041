"""Conv2d by im2col: gather every receptive field into a column, then one matmul per group.

For an input [N, C, H, W], a filter bank [O, C/G, KH, KW] and G groups:
    cols [G, C/G*KH*KW, H'*W'*N]      one column per output pixel (its receptive field)
    out  [G, O/G, H'*W'*N] = W_g [O/G, C/G*KH*KW] @ cols_g
The backward pass is the same two matmuls transposed, then col2im: each kernel offset's
slice of the gradient added back onto the padded input (a loop over KH*KW offsets, not pixels).

The columns are built a few output rows at a time, so each block (about COLS_BYTES) stays
in the CPU cache instead of streaming a KH*KW times larger copy of the input through memory;
backward rebuilds them block by block rather than keeping them."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from convnet.errors import ConfigError
from convnet.reference.layer import Layer, uniform
from convnet.reference.shapes import PADDING_MODES, check_input, check_window, pair

COLS_BYTES = 4 << 20          # target size of one block of im2col columns
_NUMPY_MODE = {"zeros": "constant", "replicate": "edge", "reflect": "reflect"}


def pad(x: np.ndarray, padding: tuple[int, int], mode: str, layer: str = "pad",
        value: float = 0.0, axes: tuple[int, int] = (2, 3)) -> np.ndarray:
    """Pad the two spatial `axes` (H, W of [N, C, H, W] by default) by (ph, pw) on each side with
    zeros (or `value`), the nearest pixel (replicate) or the mirror image without the edge
    pixel (reflect)."""
    if mode not in PADDING_MODES:
        raise ConfigError(f"{layer}: unknown padding mode {mode!r} (choose {', '.join(PADDING_MODES)})")
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    h, w = x.shape[axes[0]], x.shape[axes[1]]
    if mode == "reflect" and (ph >= h or pw >= w):
        raise ConfigError(f"{layer}: reflect padding ({ph}, {pw}) must be smaller than the input H={h}, W={w}")
    widths = [(0, 0)] * x.ndim
    widths[axes[0]], widths[axes[1]] = (ph, ph), (pw, pw)
    if mode == "zeros":
        return np.pad(x, widths, mode="constant", constant_values=value)
    return np.pad(x, widths, mode=_NUMPY_MODE[mode])


def unpad(dxp: np.ndarray, padding: tuple[int, int], mode: str, axes: tuple[int, int] = (2, 3)) -> np.ndarray:
    """The gradient of pad(): each padded cell's gradient goes back to the pixel it copied."""
    dx = dxp
    for axis, p in zip(axes, padding):
        if p:
            dx = _unpad_axis(dx, p, mode, axis)
    return dx


def _unpad_axis(dxp: np.ndarray, p: int, mode: str, axis: int) -> np.ndarray:
    g = np.moveaxis(dxp, axis, 0)                          # padded axis first: [n + 2p, ...]
    n = g.shape[0] - 2 * p
    dx = g[p:p + n].copy()
    left, right = g[:p], g[p + n:]
    if mode == "replicate":                                # every left cell copied pixel 0
        dx[0] += left.sum(0)
        dx[n - 1] += right.sum(0)
    elif mode == "reflect":                                # left cell k copied pixel p - k
        dx[1:p + 1] += left[::-1]
        dx[n - 1 - p:n - 1] += right[::-1]                 # right cell k copied pixel n - 2 - k
    return np.moveaxis(dx, 0, axis)


def batch_last(x: np.ndarray) -> np.ndarray:
    """[N, C, H, W] -> [C, H, W, N] (a copy). With the batch innermost, a window's row of W'
    positions times N images is one contiguous block, which makes im2col and col2im copies fast."""
    return np.ascontiguousarray(x.transpose(1, 2, 3, 0))


def windows(xp: np.ndarray, kernel, stride, dilation, out_hw, groups: int = 1) -> np.ndarray:
    """A read-only strided view [G, C/G, KH, KW, H', W', N] of the padded input xp [C, Hp, Wp, N]:
    element [g, c, i, j, y, x, n] is xp[g*C/G + c, y*SH + i*DH, x*SW + j*DW, n]."""
    c, _, _, n = xp.shape
    sc, sh, sw, sn = xp.strides
    (kh, kw), (st_h, st_w), (d_h, d_w), (ho, wo) = kernel, stride, dilation, out_hw
    return as_strided(xp, shape=(groups, c // groups, kh, kw, ho, wo, n),
                      strides=(sc * (c // groups), sc, sh * d_h, sw * d_w, sh * st_h, sw * st_w, sn),
                      writeable=False)


def col2im(dwin: np.ndarray, padded_shape, stride, dilation) -> np.ndarray:
    """The adjoint of windows(): dwin [C, KH, KW, H', W', N] summed back onto [C, Hp, Wp, N],
    one kernel offset at a time (KH*KW slice additions, never a loop over pixels)."""
    c, kh, kw, ho, wo, n = dwin.shape
    dxp = np.zeros(padded_shape, dtype=dwin.dtype)
    (sh, sw), (dh, dw) = stride, dilation
    for i in range(kh):                                    # overlapping windows add up, as they should
        for j in range(kw):
            dxp[:, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw] += dwin[:, i, j]
    return dxp


class Conv2d(Layer):
    """out[n, o, y, x] = bias[o] + sum over c, i, j of weight[o, c, i, j] * xp[n, c, y*S + i*D, x*S + j*D]

    x [N, C_in, H, W] -> out [N, C_out, H', W'], H' = (H + 2P - D(K-1) - 1)//S + 1.
    weight [C_out, C_in/groups, KH, KW], bias [C_out]."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        self.name = f"Conv2d({in_channels}->{out_channels})"
        for what, v in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{self.name}: {what} must be a whole number >= 1, got {v!r}")
        if in_channels % groups or out_channels % groups:
            raise ConfigError(f"{self.name}: groups={groups} must divide in_channels={in_channels} "
                              f"and out_channels={out_channels}")
        if padding_mode not in PADDING_MODES:
            raise ConfigError(f"{self.name}: unknown padding mode {padding_mode!r} "
                              f"(choose {', '.join(PADDING_MODES)})")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel = pair(kernel_size, "kernel size", self.name, 1)
        self.stride = pair(stride, "stride", self.name, 1)
        self.padding = pair(padding, "padding", self.name, 0)
        self.dilation = pair(dilation, "dilation", self.name, 1)
        self.padding_mode = padding_mode
        rng = rng or np.random.default_rng()
        fan_in = in_channels // groups * self.kernel[0] * self.kernel[1]
        bound = 1 / math.sqrt(fan_in)
        self.params["weight"] = uniform(rng, bound, (out_channels, in_channels // groups, *self.kernel), dtype)
        if bias:
            self.params["bias"] = uniform(rng, bound, (out_channels,), dtype)

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        ho, wo = check_window(self.name, shape[-2:], self.kernel, self.stride, self.padding, self.dilation)
        return (*shape[:-3], self.out_channels, ho, wo)

    def forward(self, x, train=False):
        check_input(self.name, x, 4, self.in_channels)
        n = x.shape[0]
        ho, wo = check_window(self.name, x.shape[2:], self.kernel, self.stride, self.padding, self.dilation)
        xp = pad(batch_last(x), self.padding, self.padding_mode, self.name, axes=(1, 2))   # [C, Hp, Wp, N]
        g, o = self.groups, self.out_channels
        view = windows(xp, self.kernel, self.stride, self.dilation, (ho, wo), g)   # [G, C/G, KH, KW, H', W', N]
        w = self.params["weight"].reshape(g, o // g, -1)                   # [G, O/G, C/G*KH*KW]
        out = np.empty((o, ho, wo, n), dtype=np.result_type(x, w))
        for y0, y1 in self._row_blocks(view):
            cols = view[:, :, :, :, y0:y1].reshape(g, w.shape[2], -1)      # [G, C/G*KH*KW, rows*W'*N]
            out[:, y0:y1] = np.matmul(w, cols).reshape(o, y1 - y0, wo, n)
        if "bias" in self.params:
            out += self.params["bias"].reshape(o, 1, 1, 1)
        return np.ascontiguousarray(out.transpose(3, 0, 1, 2)), xp            # [O, H', W', N] -> [N, O, H', W']

    def backward(self, dout, xp):
        g, o = self.groups, self.out_channels
        c, n = xp.shape[0], xp.shape[3]
        ho, wo = dout.shape[2:]
        view = windows(xp, self.kernel, self.stride, self.dilation, (ho, wo), g)
        w = self.params["weight"].reshape(g, o // g, -1)                   # [G, O/G, C/G*KH*KW]
        d = np.ascontiguousarray(dout.transpose(1, 2, 3, 0))                # [O, H', W', N]
        gw = np.zeros_like(w, dtype=np.result_type(d, xp))       # dL/dW, summed over blocks
        dxp = np.zeros(xp.shape, dtype=np.result_type(d, w))
        kh, kw = self.kernel
        (sh, sw), (dh, dw) = self.stride, self.dilation
        for y0, y1 in self._row_blocks(view):
            cols = view[:, :, :, :, y0:y1].reshape(g, w.shape[2], -1)      # rebuilt, as in forward
            d_blk = d[:, y0:y1].reshape(g, o // g, -1)                      # [G, O/G, rows*W'*N]
            gw += np.matmul(d_blk, cols.transpose(0, 2, 1))
            dcols = np.matmul(w.transpose(0, 2, 1), d_blk).reshape(c, kh, kw, y1 - y0, wo, n)
            for i in range(kh):                                             # col2im for these rows
                for j in range(kw):
                    r = y0 * sh + i * dh
                    dxp[:, r:r + sh * (y1 - y0 - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw] += dcols[:, i, j]
        grads = {"weight": gw.reshape(self.params["weight"].shape)}
        if "bias" in self.params:
            grads["bias"] = dout.sum(axis=(0, 2, 3))
        dx = unpad(dxp, self.padding, self.padding_mode, axes=(1, 2))
        return np.ascontiguousarray(dx.transpose(3, 0, 1, 2)), grads

    @staticmethod
    def _row_blocks(view) -> list[tuple[int, int]]:
        """Output-row ranges whose im2col columns take about COLS_BYTES each."""
        g, cg, kh, kw, ho, wo, n = view.shape
        per_row = g * cg * kh * kw * wo * n * view.itemsize
        rows = max(1, min(ho, COLS_BYTES // max(per_row, 1)))
        return [(y0, min(ho, y0 + rows)) for y0 in range(0, ho, rows)]
