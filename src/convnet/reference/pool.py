"""Pooling: max, average and global average, on the same strided windows as Conv2d."""

from __future__ import annotations

import numpy as np

from convnet.errors import ConfigError
from convnet.reference.conv import batch_last, col2im, pad, windows
from convnet.reference.layer import Layer
from convnet.reference.shapes import check_input, check_window, pair


class _Pool2d(Layer):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.name = f"{type(self).__name__}({kernel_size})"
        self.kernel = pair(kernel_size, "kernel size", self.name, 1)
        self.stride = pair(stride if stride is not None else kernel_size, "stride", self.name, 1)
        self.padding = pair(padding, "padding", self.name, 0)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel)):
            raise ConfigError(f"{self.name}: padding {padding!r} must be at most half the kernel {kernel_size!r}")

    def output_shape(self, shape):
        return (*shape[:-2], *check_window(self.name, shape[-2:], self.kernel, self.stride, self.padding))

    def _windows(self, x, fill: float):
        """x [N, C, H, W] -> (padded shape, windows [C, KH*KW, H', W', N])."""
        check_input(self.name, x, 4)
        ho, wo = check_window(self.name, x.shape[2:], self.kernel, self.stride, self.padding)
        xp = pad(batch_last(x), self.padding, "zeros", self.name, value=fill, axes=(1, 2))   # [C, Hp, Wp, N]
        view = windows(xp, self.kernel, self.stride, (1, 1), (ho, wo))[0]   # [C, KH, KW, H', W', N]
        return xp.shape, view.reshape(x.shape[1], -1, ho, wo, x.shape[0])

    def _scatter(self, dwin, xp_shape):
        """dwin [C, KH*KW, H', W', N] (gradient per window element) -> dx [N, C, H, W]."""
        c, _, ho, wo, n = dwin.shape
        dxp = col2im(dwin.reshape(c, *self.kernel, ho, wo, n), xp_shape, self.stride, (1, 1))
        (ph, pw), (hp, wp) = self.padding, xp_shape[1:3]
        return np.ascontiguousarray(dxp[:, ph:hp - ph, pw:wp - pw].transpose(3, 0, 1, 2))


class MaxPool2d(_Pool2d):
    """out[n, c, y, x] = max of the KxK window at (y*S, x*S); padding counts as -inf.
    The gradient flows only to the (first) maximum of each window."""

    def forward(self, x, train=False):
        xp_shape, win = self._windows(x, -np.inf)            # win [C, K*K, H', W', N]
        arg = win.argmax(axis=1)                             # [C, H', W', N]
        out = np.take_along_axis(win, arg[:, None], axis=1)[:, 0]
        return np.ascontiguousarray(out.transpose(3, 0, 1, 2)), (xp_shape, arg)

    def backward(self, dout, cache):
        xp_shape, arg = cache
        d = dout.transpose(1, 2, 3, 0)                       # [C, H', W', N]
        kk = self.kernel[0] * self.kernel[1]
        dwin = np.stack([np.where(arg == k, d, 0) for k in range(kk)], axis=1)
        return self._scatter(dwin, xp_shape), {}


class AvgPool2d(_Pool2d):
    """out = mean of the KxK window; zero padding counts in the mean (PyTorch's default)."""

    def forward(self, x, train=False):
        xp_shape, win = self._windows(x, 0.0)
        return np.ascontiguousarray(win.mean(axis=1).transpose(3, 0, 1, 2)), xp_shape

    def backward(self, dout, xp_shape):
        kk = self.kernel[0] * self.kernel[1]
        d = dout.transpose(1, 2, 3, 0) / kk                  # [C, H', W', N], shared by every offset
        dwin = np.broadcast_to(d[:, None], (d.shape[0], kk, *d.shape[1:]))
        return self._scatter(dwin, xp_shape), {}


class GlobalAvgPool2d(Layer):
    """[N, C, H, W] -> [N, C, 1, 1]: each activation map averaged to one number."""

    def output_shape(self, shape):
        return (*shape[:-2], 1, 1)

    def forward(self, x, train=False):
        check_input(self.name, x, 4)
        return x.mean(axis=(2, 3), keepdims=True), x.shape

    def backward(self, dout, cache):
        n, c, h, w = cache
        return np.broadcast_to(dout / (h * w), cache).copy(), {}
