"""All-CNN-C (Springenberg, Dosovitskiy, Brox, Riedmiller 2015): no pooling, no FC layer.

Max pooling is replaced by 3x3 convolutions with stride 2, and the classifier by 1x1
convolutions down to one map per class, averaged over the image (table 2, model C).
Dropout of 20% on the input and 50% after each "pooling" convolution, as in the paper.
Option `batch_norm=True` adds batch normalisation after each convolution (not in the paper;
the `allcnn_c_bn` entry) which trains with the project's default high learning rate."""

from __future__ import annotations

import torch.nn as nn

from convnet.models.registry import register

PAPER = "Springenberg, Dosovitskiy, Brox, Riedmiller, Striving for simplicity: the all convolutional net"


def all_cnn_c(num_classes: int = 10, in_channels: int = 3, batch_norm: bool = False,
              dropout: bool = True) -> nn.Sequential:
    def conv(cin, cout, kernel, stride=1, padding=None):
        pad = kernel // 2 if padding is None else padding
        layers = [nn.Conv2d(cin, cout, kernel, stride, pad)]
        layers += [nn.BatchNorm2d(cout)] if batch_norm else []
        return layers + [nn.ReLU(inplace=True)]

    def drop(p):
        return [nn.Dropout(p)] if dropout else []

    model = nn.Sequential(
        *drop(0.2),
        *conv(in_channels, 96, 3), *conv(96, 96, 3), *conv(96, 96, 3, stride=2),  # 32 -> 16
        *drop(0.5),
        *conv(96, 192, 3), *conv(192, 192, 3), *conv(192, 192, 3, stride=2),      # 16 -> 8
        *drop(0.5),
        *conv(192, 192, 3, padding=0),                                            # 8 -> 6
        *conv(192, 192, 1),
        nn.Conv2d(192, num_classes, 1),                                           # one map per class
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),                                    # [B, K, 1, 1] -> [B, K]
    )
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


register("allcnn_c", input_size=(32, 32), in_channels=3, num_classes=10, year=2015, paper=PAPER,
         description="9 conv layers, strided conv instead of pooling, global average of class maps"
         )(all_cnn_c)
register("allcnn_c_bn", input_size=(32, 32), in_channels=3, num_classes=10, year=2015, paper=PAPER,
         description="All-CNN-C with batch norm after each convolution (not in the paper)",
         kwargs={"batch_norm": True})(all_cnn_c)
