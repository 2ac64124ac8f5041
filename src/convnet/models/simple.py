"""The default network: conv -> batch norm -> ReLU -> max pool blocks, then a classifier.

The lectures' recipe with the two habits that make it train fast: batch normalisation
after each convolution, and a global max pool before the fully connected layer so any
input size works. Widths are the only knob; `convnet` is tuned for 28x28 on a CPU."""

from __future__ import annotations

import torch.nn as nn

from convnet.models.registry import register


def conv_block(cin: int, cout: int, kernel: int = 3, pool: bool = True) -> list[nn.Module]:
    layers = [nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
              nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return layers


def simple_cnn(num_classes: int = 10, in_channels: int = 1, widths=(32, 64, 128),
               hidden: int = 0, dropout: float = 0.0) -> nn.Module:
    layers, cin = [], in_channels
    for w in widths:                                   # each block halves H and W
        layers += conv_block(cin, w)
        cin = w
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten()]  # [B, C, h, w] -> [B, C]
    if hidden:
        layers += [nn.Linear(cin, hidden), nn.ReLU(inplace=True)]
        cin = hidden
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(cin, num_classes))
    return nn.Sequential(*layers)


register("convnet", input_size=(28, 28), in_channels=1, year=None,
         paper="convnet default", description="3 conv-BN-ReLU-pool blocks (32-64-128), global max pool, FC",
         )(simple_cnn)
