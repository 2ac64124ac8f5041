"""Normalisation: local response normalisation (AlexNet's "norm") and batch normalisation."""

from __future__ import annotations

import numpy as np

from convnet.errors import ConfigError
from convnet.reference.layer import Layer
from convnet.reference.shapes import check_input


def channel_window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """s[:, c] = sum of a[:, c - before : c + after + 1] along axis 1, zeros beyond the edges."""
    widths = [(0, 0)] * a.ndim
    widths[1] = (before + 1, after)                         # one extra zero for the cumsum's start
    cs = np.cumsum(np.pad(a, widths), axis=1)
    size = before + after + 1
    return cs[:, size:] - cs[:, :-size]


class LocalResponseNorm(Layer):
    """b_c = a_c / (k + alpha/size * sum of a_c'^2 over the `size` channels around c)^beta

    x [N, C, H, W] -> same shape. The window is c - size//2 .. c + (size-1)//2 (PyTorch's)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        if not isinstance(size, int) or size < 1:
            raise ConfigError(f"LocalResponseNorm: size must be a whole number >= 1, got {size!r}")
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def output_shape(self, shape):
        return shape

    def forward(self, x, train=False):
        check_input(self.name, x, 4)
        s = self.k + self.alpha / self.size * channel_window_sum(x * x, self.size // 2, (self.size - 1) // 2)
        return x * s ** -self.beta, (x, s)

    def backward(self, dout, cache):
        x, s = cache
        # channel j appears in the windows of c = j - (size-1)//2 .. j + size//2: the transposed window
        t = dout * x * s ** (-self.beta - 1)
        back = channel_window_sum(t, (self.size - 1) // 2, self.size // 2)
        return dout * s ** -self.beta - 2 * self.alpha * self.beta / self.size * x * back, {}


class BatchNorm2d(Layer):
    """y = weight * (x - mean) / sqrt(var + eps) + bias, per channel.

    Training: mean and (biased) var of the batch over N, H, W; running statistics move by
    `momentum` towards them (the unbiased var, as PyTorch). Evaluation: the running statistics."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype=np.float32):
        super().__init__()
        self.name = f"BatchNorm2d({num_features})"
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.params = {"weight": np.ones(num_features, dtype), "bias": np.zeros(num_features, dtype)}
        self.buffers = {"running_mean": np.zeros(num_features, dtype),
                        "running_var": np.ones(num_features, dtype),
                        "num_batches_tracked": np.zeros((), np.int64)}

    def output_shape(self, shape):
        return shape

    def forward(self, x, train=False):
        check_input(self.name, x, 4, self.num_features)
        if train:
            m = x.shape[0] * x.shape[2] * x.shape[3]
            if m < 2:
                raise ConfigError(f"{self.name}: training needs more than one value per channel, got "
                                  f"input shape {x.shape}")
            mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
            b = self.buffers
            b["running_mean"] = ((1 - self.momentum) * b["running_mean"] + self.momentum * mean).astype(b["running_mean"].dtype)
            b["running_var"] = ((1 - self.momentum) * b["running_var"]
                                + self.momentum * var * m / (m - 1)).astype(b["running_var"].dtype)
            b["num_batches_tracked"] = b["num_batches_tracked"] + 1
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        inv_std = 1 / np.sqrt(var + self.eps)
        xhat = (x - mean.reshape(1, -1, 1, 1)) * inv_std.reshape(1, -1, 1, 1)
        out = xhat * self.params["weight"].reshape(1, -1, 1, 1) + self.params["bias"].reshape(1, -1, 1, 1)
        return out, (xhat, inv_std, train)

    def backward(self, dout, cache):
        xhat, inv_std, train = cache
        grads = {"weight": (dout * xhat).sum(axis=(0, 2, 3)), "bias": dout.sum(axis=(0, 2, 3))}
        dxhat = dout * self.params["weight"].reshape(1, -1, 1, 1)
        if train:   # the batch mean and var depend on x too
            m = dout.shape[0] * dout.shape[2] * dout.shape[3]
            dxhat = dxhat - dxhat.sum(axis=(0, 2, 3), keepdims=True) / m \
                - xhat * (dxhat * xhat).sum(axis=(0, 2, 3), keepdims=True) / m
        return dxhat * inv_std.reshape(1, -1, 1, 1), grads
