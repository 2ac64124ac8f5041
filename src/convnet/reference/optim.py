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
    """The learning rate of batch `step` (0-based) of `total`, as convnet's PyTorch schedules give it:
    constant; cosine after a linear warmup; or one-cycle (torch's OneCycleLR: cosine rise from
    peak/25 over the warmup fraction, then cosine fall to peak/25/1e4)."""
    if schedule == "constant":
        return peak
    if schedule == "onecycle":
        start, end = peak / 25, peak / 25 / 1e4
        up_end = max(max(warmup, 1e-3) * total - 1, 1e-9)   # torch's phase boundary (a float)
        if step <= up_end:
            return _cos_between(start, peak, step / up_end)
        return _cos_between(peak, end, (step - up_end) / max(total - 1 - up_end, 1e-9))
    warm = int(warmup * total)
    if step < warm:
        return peak * (step + 1) / warm
    return peak * 0.5 * (1 + math.cos(math.pi * min((step - warm) / max(1, total - warm), 1.0)))


def _cos_between(start: float, end: float, t: float) -> float:
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * min(max(t, 0.0), 1.0)))
