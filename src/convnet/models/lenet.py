"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998), as usually rebuilt today.

C1: 6 filters 5x5 -> S2: 2x2 pool -> C3: 16 filters 5x5 -> S4: 2x2 pool
-> F5: 120 -> F6: 84 -> output. The paper fed 32x32 images; a 28x28 MNIST digit with
2 pixels of zero padding in C1 is the same field. Tanh and average pooling as in the paper
(`activation="relu", pool="max"` gives the modern variant). 61,706 parameters at 10 classes."""

from __future__ import annotations

import torch.nn as nn

from convnet.models.registry import register


@register("lenet5", input_size=(28, 28), in_channels=1, fixed_size=True, year=1998,
          paper="LeCun et al., Gradient-based learning applied to document recognition",
          description="2 conv + 3 fully connected layers, tanh, average pooling")
def lenet5(num_classes: int = 10, in_channels: int = 1, activation: str = "tanh",
           pool: str = "avg") -> nn.Module:
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    pool_layer = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}[pool]
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2), act(),   # [B, 6, 28, 28]
        pool_layer(2),                                    # [B, 6, 14, 14]
        nn.Conv2d(6, 16, 5), act(),                       # [B, 16, 10, 10]
        pool_layer(2),                                    # [B, 16, 5, 5]
        nn.Flatten(),                                     # [B, 400]
        nn.Linear(16 * 5 * 5, 120), act(),
        nn.Linear(120, 84), act(),
        nn.Linear(84, num_classes),
    )
