"""Networks built from reference layers, with the layer order (hence parameter names) of
convnet's PyTorch models, so weights move between the engines by name."""

from __future__ import annotations

import numpy as np

from convnet.errors import ConfigError
from convnet.reference.activation import Flatten, ReLU, Tanh
from convnet.reference.conv import Conv2d
from convnet.reference.dense import Linear
from convnet.reference.pool import AvgPool2d, MaxPool2d
from convnet.reference.sequential import Sequential


def lenet5(num_classes: int = 10, in_channels: int = 1, activation: str = "tanh", pool: str = "avg",
           seed: int | None = 0, dtype=np.float32) -> Sequential:
    """LeNet-5 as convnet.models.lenet builds it: 28x28 input, 61,706 parameters at 10 classes."""
    if activation not in ("tanh", "relu") or pool not in ("avg", "max"):
        raise ConfigError(f"lenet5: activation must be tanh|relu and pool avg|max, got {activation!r}, {pool!r}")
    rng = np.random.default_rng(seed)
    act = {"tanh": Tanh, "relu": ReLU}[activation]
    pool_layer = {"avg": AvgPool2d, "max": MaxPool2d}[pool]
    return Sequential(
        Conv2d(in_channels, 6, 5, padding=2, rng=rng, dtype=dtype), act(),   # [B, 6, 28, 28]
        pool_layer(2),                                                       # [B, 6, 14, 14]
        Conv2d(6, 16, 5, rng=rng, dtype=dtype), act(),                       # [B, 16, 10, 10]
        pool_layer(2),                                                       # [B, 16, 5, 5]
        Flatten(),                                                           # [B, 400]
        Linear(16 * 5 * 5, 120, rng=rng, dtype=dtype), act(),
        Linear(120, 84, rng=rng, dtype=dtype), act(),
        Linear(84, num_classes, rng=rng, dtype=dtype),
    )


MODELS = {"lenet5": lenet5}


def build(name: str, num_classes: int = 10, in_channels: int = 1, **kwargs) -> Sequential:
    if name not in MODELS:
        raise ConfigError(f"the reference engine has no model {name!r} (it has {', '.join(MODELS)})")
    return MODELS[name](num_classes, in_channels, **kwargs)
