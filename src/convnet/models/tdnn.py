"""Time-delay neural networks: 1-D convolutions over the frames of a spectrogram.

Waibel, Hanazawa, Hinton, Shikano, Lang (1989) trained shared weights over time delays of
speech frames, the convolution over the time axis that the 2-D image networks generalise;
Peddinti et al. (2015) and the x-vectors of Snyder et al. (2018) widen the context layer by
layer with dilation and end in statistics pooling. Here:

    [B, C, F, T] spectrogram image (C=1, F mel bands, T frames) -> [B, C*F, T] one vector per frame
    frame layers: Conv1d(kernel k, dilation d) -> BN -> ReLU, no padding; each adds (k-1)d frames
        default (k, d) = (5, 1), (3, 2), (3, 3), (3, 4), (1, 1): 1 + 4 + 4 + 6 + 8 = 23 frames
    statistics pooling: mean and standard deviation of each channel over the frames -> [B, 2C]
    Linear -> ReLU -> BN -> Linear -> [B, num_classes]

Pooling statistics over time makes any clip length at least the receptive field work, and a
word's place in the clip not matter. `model.receptive_field` is the context in frames; at the
audio task's 20 ms hop and 32 ms window, 23 frames see (23-1) x 20 + 32 = 472 ms of sound, about
a whole spoken digit. Widths 64 (128 for the last frame layer): FSDD's 2,000 training clips
need no more, and a 2-core CPU trains it in about a minute."""

from __future__ import annotations

import torch
import torch.nn as nn

from convnet.errors import ConfigError
from convnet.models.registry import register

XVECTOR = ((5, 1), (3, 2), (3, 3), (3, 4), (1, 1))     # (kernel, dilation) of each frame layer


class StatsPool(nn.Module):
    """[B, C, T] -> [B, 2C]: mean and standard deviation over time of each channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(2)
        std = (x.var(2, unbiased=False) + 1e-5).sqrt()    # + eps: the gradient of sqrt at 0 is infinite
        return torch.cat([mean, std], 1)


class TDNN(nn.Module):
    def __init__(self, num_classes: int, in_features: int, widths, context, embed: int, dropout: float):
        super().__init__()
        if len(widths) != len(context):
            raise ConfigError(f"TDNN needs one width per frame layer: {len(widths)} widths, "
                              f"{len(context)} (kernel, dilation) pairs")
        layers, cin = [], in_features
        for width, (k, d) in zip(widths, context):
            layers += [nn.Conv1d(cin, width, k, dilation=d, bias=False), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
            cin = width
        self.frames = nn.Sequential(*layers)
        self.pool = StatsPool()
        self.head = nn.Sequential(nn.Linear(2 * cin, embed), nn.ReLU(inplace=True), nn.BatchNorm1d(embed),
                                  nn.Dropout(dropout), nn.Linear(embed, num_classes))
        self.in_features = in_features
        self.receptive_field = 1 + sum((k - 1) * d for k, d in context)   # frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # [B, C, F, T] -> [B, C*F, T]: every frame's mel values (of every channel) are one vector
        x = x.flatten(1, 2) if x.dim() == 4 else x
        if x.shape[1] != self.in_features:
            raise ConfigError(f"TDNN built for {self.in_features} values per frame, got {x.shape[1]}")
        if x.shape[2] < self.receptive_field:
            raise ConfigError(f"TDNN needs at least {self.receptive_field} frames, got {x.shape[2]}")
        return self.head(self.pool(self.frames(x)))


@register("tdnn", input_size=(40, 51), in_channels=1, num_classes=10, year=1989,
          paper="Waibel et al., Phoneme recognition using time-delay neural networks; "
                "Snyder et al. 2018, X-vectors",
          description="5 dilated 1-D conv layers over frames (23-frame context), statistics pooling, 2 FC",
          training={"optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.05, "epochs": 30, "batch_size": 64})
def tdnn(num_classes: int = 10, in_channels: int = 1, input_size=(40, 51), widths=(64, 64, 64, 64, 128),
         context=XVECTOR, embed: int = 64, dropout: float = 0.2) -> nn.Module:
    """input_size: (mel bands, frames) of the spectrogram; the bands (times in_channels) are the
    first layer's input features, the frames only need to cover the receptive field."""
    context = tuple((int(k), int(d)) for k, d in context)
    return TDNN(num_classes, in_channels * int(input_size[0]), tuple(widths), context, embed, dropout)
