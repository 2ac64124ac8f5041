"""Residual networks: ResNet-18..152 and ResNeXt for ImageNet, and the CIFAR ResNets.

ImageNet models follow torchvision's layout (He et al. 2015 with the stride on the 3x3
convolution of the bottleneck, "ResNet v1.5"), so parameter counts match it exactly.
The CIFAR ResNets are He et al. 2015, section 4.2: 3 stages of n basic blocks at 16/32/64
channels, depth 6n+2, and "option A" shortcuts (identity, strided and zero-padded when the
width doubles), which is what gives ResNet-20 its 0.27M parameters.
ResNet-9 is David Page's DAWNBench network ("How to train your ResNet", 2018): 8 convolutions,
two of the three stages with a residual pair, 6.57M parameters at 64-128-256-512; its
quarter-width 16-32-64-128 version is the ResNet sized for a CPU and 28x28 images."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from convnet.models.registry import register

HE_2015 = "He, Zhang, Ren, Sun, Deep residual learning for image recognition (CVPR 2016)"
XIE_2017 = "Xie, Girshick, Dollar, Tu, He, Aggregated residual transformations (ResNeXt, CVPR 2017)"


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout)]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a skip connection."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, shortcut: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(cin, planes, 3, stride), nn.ReLU(inplace=True),
                                  *conv_bn(planes, planes, 3))
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (grouped for ResNeXt, carrying the stride), 1x1 expand by 4."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, shortcut: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64):
        super().__init__()
        width = int(planes * base_width / 64) * groups        # ResNeXt: cardinality x bottleneck width
        self.body = nn.Sequential(
            *conv_bn(cin, width, 1), nn.ReLU(inplace=True),
            *conv_bn(width, width, 3, stride, groups), nn.ReLU(inplace=True),
            *conv_bn(width, planes * self.expansion, 1))
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """The ImageNet ResNet: 7x7 stem, 4 stages (64..512 planes), global average pool, FC."""

    def __init__(self, block, layers: list[int], num_classes: int = 1000, in_channels: int = 3,
                 groups: int = 1, width_per_group: int = 64):
        super().__init__()
        self.groups, self.base_width, self.cin = groups, width_per_group, 64
        self.stem = nn.Sequential(*conv_bn(in_channels, 64, 7, 2), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))      # 224 -> 112 -> 56
        self.layer1 = self.stage(block, 64, layers[0], 1)
        self.layer2 = self.stage(block, 128, layers[1], 2)
        self.layer3 = self.stage(block, 256, layers[2], 2)
        self.layer4 = self.stage(block, 512, layers[3], 2)   # 56 -> 28 -> 14 -> 7
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        init_weights(self)

    def stage(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        cout = planes * block.expansion
        shortcut = None
        if stride != 1 or self.cin != cout:                   # projection shortcut ("option B")
            shortcut = nn.Sequential(*conv_bn(self.cin, cout, 1, stride))
        layers = [block(self.cin, planes, stride, shortcut, self.groups, self.base_width)]
        self.cin = cout
        layers += [block(cout, planes, groups=self.groups, base_width=self.base_width)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))       # [B, C, 1, 1] -> [B, C]


class PadShortcut(nn.Module):
    """Option A: subsample by `stride` and zero-pad the new channels; no parameters."""

    def __init__(self, cout: int, stride: int):
        super().__init__()
        self.cout, self.stride = cout, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        extra = self.cout - x.shape[1]
        return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))   # pad the channel dim


class CifarResNet(nn.Module):
    """3x3 conv (16) -> 3 stages of n basic blocks (16, 32, 64) -> global average pool -> FC."""

    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        n = (depth - 2) // 6
        self.stem = nn.Sequential(*conv_bn(in_channels, 16, 3), nn.ReLU(inplace=True))
        stages, cin = [], 16
        for i, width in enumerate((16, 32, 64)):
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                shortcut = PadShortcut(width, stride) if stride != 1 or cin != width else None
                stages.append(BasicBlock(cin, width, stride, shortcut))
                cin = width
        self.stages = nn.Sequential(*stages)                  # 32 -> 32 -> 16 -> 8
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        init_weights(self)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))


def conv_pool_bn(cin: int, cout: int, pool: bool = False) -> list[nn.Module]:
    """3x3 conv [-> 2x2 max pool] -> BN -> ReLU. Pooling first is airbench's order: max pooling
    commutes with ReLU and a positive-scale BN, and the norm and ReLU then see 4x fewer values."""
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False)]
    return layers + ([nn.MaxPool2d(2)] if pool else []) + [nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class Residual(nn.Module):
    """x + two conv-BN-ReLU layers of the same width (ResNet-9's residual pair)."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(*conv_pool_bn(width, width), *conv_pool_bn(width, width))

    def forward(self, x):
        return x + self.body(x)


class ResNet9(nn.Module):
    """prep conv -> [conv, pool, residual pair] -> [conv, pool] -> [conv, pool, residual pair]
    -> global max pool -> FC, logits scaled by 1/8 (Page's trick: a softer start for the softmax)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, widths=(64, 128, 256, 512),
                 logit_scale: float = 0.125):
        super().__init__()
        w0, w1, w2, w3 = widths
        self.prep = nn.Sequential(*conv_pool_bn(in_channels, w0))
        self.layer1 = nn.Sequential(*conv_pool_bn(w0, w1, pool=True), Residual(w1))   # 32 -> 16
        self.layer2 = nn.Sequential(*conv_pool_bn(w1, w2, pool=True))                 # 16 -> 8
        self.layer3 = nn.Sequential(*conv_pool_bn(w2, w3, pool=True), Residual(w3))   # 8 -> 4
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(w3, num_classes, bias=False)
        self.logit_scale = logit_scale

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.prep(x))))
        return self.fc(torch.flatten(self.pool(x), 1)) * self.logit_scale   # [B, C, 1, 1] -> [B, K]


def init_weights(model: nn.Module) -> None:
    """He initialisation for convolutions; each residual branch's last BN starts at zero
    so every block begins as the identity (Goyal et al. 2017), which trains faster."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    for m in model.modules():
        if isinstance(m, (BasicBlock, Bottleneck)):
            nn.init.zeros_(m.body[-1].weight)


IMAGENET = dict(input_size=(224, 224), in_channels=3, num_classes=1000, year=2015, paper=HE_2015)

for _depth, _block, _layers in ((18, BasicBlock, [2, 2, 2, 2]), (34, BasicBlock, [3, 4, 6, 3]),
                                (50, Bottleneck, [3, 4, 6, 3]), (101, Bottleneck, [3, 4, 23, 3]),
                                (152, Bottleneck, [3, 8, 36, 3])):
    register(f"resnet{_depth}", **IMAGENET,
             description=f"{_depth} layers, {_block.__name__.lower()} blocks {_layers}",
             kwargs={"block": _block, "layers": _layers})(ResNet)

for _name, _layers, _groups, _width in (("resnext50_32x4d", [3, 4, 6, 3], 32, 4),
                                        ("resnext101_32x4d", [3, 4, 23, 3], 32, 4),
                                        ("resnext101_32x8d", [3, 4, 23, 3], 32, 8),
                                        ("resnext101_64x4d", [3, 4, 23, 3], 64, 4)):
    register(_name, **{**IMAGENET, "year": 2017, "paper": XIE_2017},
             description=f"bottlenecks {_layers} with {_groups} groups of width {_width}",
             kwargs={"block": Bottleneck, "layers": _layers, "groups": _groups,
                     "width_per_group": _width})(ResNet)

for _depth in (20, 32, 44, 56, 110):
    register(f"resnet{_depth}", input_size=(32, 32), in_channels=3, num_classes=10, year=2015,
             paper=HE_2015 + ", section 4.2 (CIFAR-10)",
             description=f"CIFAR ResNet, 3 stages x {(_depth - 2) // 6} basic blocks, option-A shortcuts",
             kwargs={"depth": _depth})(CifarResNet)

PAGE_2018 = "Page, How to train your ResNet (Myrtle.ai, 2018), the DAWNBench CIFAR-10 ResNet-9"
# Page's peak lr. On Fashion-MNIST (resnet9_w16, 4 epochs, the rest the project's defaults) lr 0.05
# gave 91.78%, 0.2 92.70%, 0.4 93.13% test accuracy.
PAGE_TRAINING = {"lr": 0.4}
register("resnet9", input_size=(32, 32), in_channels=3, num_classes=10, year=2018, paper=PAGE_2018,
         description="8 convs 64-128-256-512, residual pairs after the 1st and 3rd stages, max-pool head",
         kwargs={"widths": (64, 128, 256, 512)}, training=PAGE_TRAINING)(ResNet9)
register("resnet9_w16", input_size=(28, 28), in_channels=1, num_classes=10, year=2018, paper=PAGE_2018,
         description="ResNet-9 at quarter width (16-32-64-128): the ResNet for 28x28 images on a CPU",
         kwargs={"widths": (16, 32, 64, 128)}, training=PAGE_TRAINING)(ResNet9)
