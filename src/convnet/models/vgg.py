"""VGG (Simonyan & Zisserman 2014): stacks of 3x3 convolutions, 2x2 max pools, 3 FC layers.

Configurations A, B, D, E of the paper's table 1 are VGG-11, -13, -16, -19; the `_bn`
variants put batch normalisation after every convolution (torchvision's layout, which
these match parameter for parameter: VGG-16 138,357,544, VGG-16-BN 138,365,992)."""

from __future__ import annotations

import torch
import torch.nn as nn

from convnet.models.registry import register

PAPER = "Simonyan, Zisserman, Very deep convolutional networks for large-scale image recognition"

# Output channels of each 3x3 convolution; "M" is a 2x2 max pool.
CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    def __init__(self, depth: int, num_classes: int = 1000, in_channels: int = 3,
                 batch_norm: bool = False, dropout: float = 0.5):
        super().__init__()
        self.features = features(CONFIGS[depth], in_channels, batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(4096, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))      # [B, 512, 7, 7] -> [B, 25088]


def features(config: list, in_channels: int, batch_norm: bool) -> nn.Sequential:
    layers, cin = [], in_channels
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers.append(nn.Conv2d(cin, v, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        cin = v
    return nn.Sequential(*layers)


for _depth, _letter in ((11, "A"), (13, "B"), (16, "D"), (19, "E")):
    for _bn in (False, True):
        register(f"vgg{_depth}" + ("_bn" if _bn else ""), input_size=(224, 224), in_channels=3,
                 num_classes=1000, year=2014, paper=PAPER,
                 description=f"configuration {_letter}: {_depth} weight layers"
                             + (", batch norm" if _bn else ""),
                 kwargs={"depth": _depth, "batch_norm": _bn})(VGG)
