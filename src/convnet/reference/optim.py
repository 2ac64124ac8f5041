"""SGD with momentum (PyTorch's formulation) and the learning-rate schedules of convnet train."""

from __future__ import annotations

import math

import numpy as np


class SGD:
    """v <- momentum * v + (g + weight_decay * p);  p <- p - lr * v
    (Nesterov: p <- p - lr * (g + momentum * v)). Weight decay only on tensors with more than
    one dimension (conv and linear weights), as convnet's PyTorch optimiser."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, momentum: float = 0.9,
                 weight_decay: float = 0.0, nesterov: bool = False):
        self.lr, self.momentum, self.weight_decay, self.nesterov = lr, momentum, weight_decay, nesterov
        self.velocity = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update the arrays in `params` in place."""
        for name, p in params.items():
            g = grads[name]
            if self.weight_decay and p.ndim > 1:
                g = g + self.weight_decay * p
            v = self.velocity[name]
            v *= self.momentum
            v += g
            p -= self.lr * (g + self.momentum * v if self.nesterov else v)


def learning_rate(step: int, total: int, peak: float, schedule: str, warmup: float) -> float:
    """The learning rate at `step` of `total`: constant; cosine after a linear warmup; or
    one-cycle (cosine rise from peak/25 over the warmup, cosine fall to peak/2500)."""
    if schedule == "constant":
        return peak
    if schedule == "onecycle":
        up = max(1, int(max(warmup, 1e-3) * total))
        if step < up:
            return _cos_between(peak / 25, peak, step / up)
        return _cos_between(peak, peak / 2500, (step - up) / max(1, total - up))
    warm = int(warmup * total)
    if step < warm:
        return peak * (step + 1) / warm
    return peak * 0.5 * (1 + math.cos(math.pi * min((step - warm) / max(1, total - warm), 1.0)))


def _cos_between(start: float, end: float, t: float) -> float:
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * min(max(t, 0.0), 1.0)))
