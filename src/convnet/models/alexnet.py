"""AlexNet (Krizhevsky, Sutskever, Hinton 2012), in two layouts.

`alexnet` is torchvision's single-GPU rebuild (from Krizhevsky's "one weird trick" paper):
64-192-384-256-256 filters, no LRN, AdaptiveAvgPool2d(6, 6), 61,100,840 parameters.
`alexnet_2012` is the NIPS 2012 network as the paper draws it: 96-256-384-384-256 filters
on 227x227 input, local response normalisation after conv1 and conv2, and conv2/4/5
split into two groups (the two GPUs), 60,965,224 parameters (Caffe's bvlc_alexnet)."""

from __future__ import annotations

import torch
import torch.nn as nn

from convnet.models.registry import register

PAPER = "Krizhevsky, Sutskever, Hinton, ImageNet classification with deep convolutional neural networks"


def classifier(num_classes: int, dropout: float = 0.5) -> nn.Sequential:
    return nn.Sequential(
        nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
        nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes))


class AlexNet(nn.Module):
    def __init__(self, features: nn.Sequential, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))   # any input of at least 63 pixels works
        self.classifier = classifier(num_classes, dropout)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))  # [B, 256, 6, 6] -> [B, 9216]


@register("alexnet", input_size=(224, 224), in_channels=3, num_classes=1000, year=2012, paper=PAPER,
          description="torchvision layout: 5 conv (64-192-384-256-256) + 3 FC, dropout")
def alexnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> nn.Module:
    features = nn.Sequential(
        nn.Conv2d(in_channels, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True),  # 224 -> 55
        nn.MaxPool2d(3, 2),                                                          # -> 27
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),                                                          # -> 13
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),                                                          # -> 6
    )
    return AlexNet(features, num_classes, dropout)


@register("alexnet_2012", input_size=(227, 227), in_channels=3, num_classes=1000, year=2012, paper=PAPER,
          description="original layout: 96-256-384-384-256 filters, LRN, 2-group convolutions")
def alexnet_2012(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> nn.Module:
    def lrn():  # section 3.3: k=2, n=5, alpha=1e-4, beta=0.75
        return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)

    features = nn.Sequential(
        nn.Conv2d(in_channels, 96, 11, stride=4), nn.ReLU(inplace=True), lrn(),     # 227 -> 55
        nn.MaxPool2d(3, 2),                                                          # -> 27
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(inplace=True), lrn(),
        nn.MaxPool2d(3, 2),                                                          # -> 13
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),                    # crosses GPUs
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),                                                          # -> 6
    )
    return AlexNet(features, num_classes, dropout)
