"""What every layer of the reference engine looks like.

    out, cache = layer.forward(x, train)      # cache: whatever backward needs
    dx, grads = layer.backward(dout, cache)   # grads: {param name: gradient}, same shapes as params

Parameters live in `layer.params` (trained), running statistics in `layer.buffers` (not
trained); their names match PyTorch's (`weight`, `bias`, `running_mean`, ...) so a
state_dict moves between the engines by name."""

from __future__ import annotations

import numpy as np


class Layer:
    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.name = type(self).__name__

    def forward(self, x: np.ndarray, train: bool = False):
        raise NotImplementedError

    def backward(self, dout: np.ndarray, cache):
        raise NotImplementedError

    def __call__(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        return self.forward(x, train)[0]

    def astype(self, dtype) -> "Layer":
        """Cast floating parameters and buffers (float64 for gradient checks)."""
        for store in (self.params, self.buffers):
            for k, v in store.items():
                if np.issubdtype(v.dtype, np.floating):
                    store[k] = v.astype(dtype)
        return self

    def num_params(self) -> int:
        return sum(v.size for v in self.params.values())

    def __repr__(self) -> str:
        return self.name


def uniform(rng: np.random.Generator, bound: float, shape, dtype) -> np.ndarray:
    """PyTorch's default init for conv and linear layers: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return rng.uniform(-bound, bound, size=shape).astype(dtype)
