"""Element-wise layers: ReLU, tanh, sigmoid, dropout, and Flatten."""

from __future__ import annotations

import numpy as np

from convnet.errors import ConfigError
from convnet.reference.layer import Layer


class ReLU(Layer):
    """max(0, x); the gradient passes where x > 0."""

    def output_shape(self, shape):
        return shape

    def forward(self, x, train=False):
        return np.maximum(x, 0), x > 0

    def backward(self, dout, cache):
        return dout * cache, {}


class Tanh(Layer):
    """tanh(x); d/dx = 1 - tanh(x)^2."""

    def output_shape(self, shape):
        return shape

    def forward(self, x, train=False):
        y = np.tanh(x)
        return y, y

    def backward(self, dout, y):
        return dout * (1 - y * y), {}


class Sigmoid(Layer):
    """1 / (1 + e^-x); d/dx = s(1 - s)."""

    def output_shape(self, shape):
        return shape

    def forward(self, x, train=False):
        y = 0.5 * (1 + np.tanh(0.5 * x))        # the same function, without overflow for large |x|
        return y, y

    def backward(self, dout, y):
        return dout * y * (1 - y), {}


class Dropout(Layer):
    """Training: each unit zeroed with probability p, survivors scaled by 1/(1-p).
    Evaluation: the identity."""

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None):
        super().__init__()
        if not 0 <= p < 1:
            raise ConfigError(f"Dropout: p must be in [0, 1), got {p!r}")
        self.p, self.rng = p, rng or np.random.default_rng()

    def output_shape(self, shape):
        return shape

    def forward(self, x, train=False):
        if not train or self.p == 0:
            return x, None
        mask = (self.rng.random(x.shape) >= self.p).astype(x.dtype) / (1 - self.p)
        return x * mask, mask

    def backward(self, dout, mask):
        return (dout if mask is None else dout * mask), {}


class Flatten(Layer):
    """[N, C, H, W] -> [N, C*H*W] (row-major, as torch.flatten)."""

    def output_shape(self, shape):
        return (shape[0], int(np.prod(shape[1:])))

    def forward(self, x, train=False):
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, dout, shape):
        return dout.reshape(shape), {}
