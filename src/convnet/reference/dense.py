"""The fully connected layer and the softmax cross-entropy loss."""

from __future__ import annotations

import math

import numpy as np

from convnet.errors import ConfigError
from convnet.reference.layer import Layer, uniform
from convnet.reference.shapes import check_input


class Linear(Layer):
    """x [N, in] -> x @ weight.T + bias [N, out]; weight [out, in] (PyTorch's layout)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        self.name = f"Linear({in_features}->{out_features})"
        for what, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{self.name}: {what} must be a whole number >= 1, got {v!r}")
        self.in_features, self.out_features = in_features, out_features
        rng = rng or np.random.default_rng()
        bound = 1 / math.sqrt(in_features)
        self.params["weight"] = uniform(rng, bound, (out_features, in_features), dtype)
        if bias:
            self.params["bias"] = uniform(rng, bound, (out_features,), dtype)

    def output_shape(self, shape):
        return (shape[0], self.out_features)

    def forward(self, x, train=False):
        check_input(self.name, x, 2, self.in_features)
        out = x @ self.params["weight"].T
        if "bias" in self.params:
            out = out + self.params["bias"]
        return out, x

    def backward(self, dout, x):
        grads = {"weight": dout.T @ x}
        if "bias" in self.params:
            grads["bias"] = dout.sum(axis=0)
        return dout @ self.params["weight"], grads


def softmax(logits: np.ndarray) -> np.ndarray:
    """[N, K] -> probabilities [N, K]; the row max is subtracted first so exp never overflows."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(logits: np.ndarray, labels: np.ndarray, label_smoothing: float = 0.0):
    """Mean softmax cross-entropy and its gradient with respect to the logits.

    logits [N, K], labels int [N] in [0, K). With smoothing e the target is (1-e)*onehot + e/K.
    Returns (loss, dlogits [N, K]) with dlogits = (softmax - target) / N."""
    check_input("cross_entropy", logits, 2)
    n, k = logits.shape
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ConfigError(f"cross_entropy: {n} logits rows but labels of shape {labels.shape}")
    if n and (labels.min() < 0 or labels.max() >= k):
        raise ConfigError(f"cross_entropy: labels must be in [0, {k}), got {labels.min()}..{labels.max()}")
    if not 0 <= label_smoothing < 1:
        raise ConfigError(f"cross_entropy: label smoothing must be in [0, 1), got {label_smoothing}")
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))           # log softmax [N, K]
    target = np.full_like(log_p, label_smoothing / k)
    target[np.arange(n), labels] += 1 - label_smoothing
    loss = -(target * log_p).sum() / n
    return loss, (np.exp(log_p) - target) / n
