"""CRNN: a convolutional recurrent network that reads a text line (Shi, Bai, Yao 2015, "An
end-to-end trainable neural network for image-based sequence recognition").

    [B, 1, 32, W] line, ink 1 on 0 (width free, padded to the batch's widest)
    features: 5 conv3x3 -> BN -> ReLU layers; max-pools 2x2, 2x2, then (2, 1) twice: height
        32 -> 2, width W -> W // 4 (one column every 4 pixels, narrow enough for a "1")
    [B, C, 2, W // 4] -> [B, W // 4, 2C]: one feature vector per column
    head "lstm": a bidirectional LSTM over the columns (padding packed away, so the backward
        direction starts at the line's end, not the batch's) -> Linear
    head "conv": Conv1d k=3 -> BN -> ReLU twice (each column sees 9 of its neighbours) -> Linear
    -> [B, W // 4, num_classes + 1] logits: the CTC blank (index 0) and the alphabet (1..K)

`model(x, widths)` takes the images' true widths (int [B], pixels) and `model.output_lengths
(widths)` says how many of the output columns are each line's. Trained with CTC (the OCR task,
tasks/ocr.py); decoded greedily or by beam search (ocr/decode.py)."""

from __future__ import annotations

import torch
import torch.nn as nn

from convnet.errors import ConfigError
from convnet.models.registry import register

HEIGHT = 32
STRIDE = 4                      # input pixels per output column


def conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class CRNN(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, widths, head: str, hidden: int, layers: int,
                 dropout: float):
        super().__init__()
        if head not in ("lstm", "conv"):
            raise ConfigError(f"CRNN head must be lstm or conv, got {head!r}")
        if len(widths) != 5:
            raise ConfigError(f"CRNN takes 5 conv widths, got {len(widths)}")
        a, b, c, d, e = (int(w) for w in widths)
        self.features = nn.Sequential(
            *conv(in_channels, a), nn.MaxPool2d(2),
            *conv(a, b), nn.MaxPool2d(2),
            *conv(b, c), *conv(c, d), nn.MaxPool2d((2, 1)),
            *conv(d, e), nn.MaxPool2d((2, 1)))
        features = e * (HEIGHT // 16)
        self.head_kind = head
        self.dropout = nn.Dropout(dropout)
        if head == "lstm":
            self.rnn = nn.LSTM(features, hidden, num_layers=layers, bidirectional=True, batch_first=True,
                               dropout=dropout if layers > 1 else 0.0)
            out = 2 * hidden
        else:
            blocks, cin = [], features
            for _ in range(layers + 1):
                blocks += [nn.Conv1d(cin, 2 * hidden, 3, padding=1, bias=False), nn.BatchNorm1d(2 * hidden),
                           nn.ReLU(inplace=True)]
                cin = 2 * hidden
            self.convs = nn.Sequential(*blocks)
            out = cin
        self.classifier = nn.Linear(out, num_classes + 1)
        self.num_classes = num_classes

    @staticmethod
    def output_lengths(widths: torch.Tensor) -> torch.Tensor:
        """int [B] input widths (pixels) -> int [B] output columns that are the line's."""
        return torch.div(widths, STRIDE, rounding_mode="floor")

    def forward(self, x: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        """float [B, C, 32, W] -> logits [B, W // 4, num_classes + 1]."""
        if x.shape[2] != HEIGHT:
            raise ConfigError(f"CRNN reads lines {HEIGHT} px high, got {x.shape[2]}")
        if x.shape[3] < STRIDE:
            raise ConfigError(f"CRNN needs lines at least {STRIDE} px wide, got {x.shape[3]}")
        f = self.features(x)                         # [B, C, 2, T]
        f = f.flatten(1, 2).transpose(1, 2)          # [B, T, 2C]
        f = self.dropout(f)
        if self.head_kind == "lstm":
            if widths is None:
                f, _ = self.rnn(f)
            else:
                lengths = self.output_lengths(widths).clamp(1, f.shape[1]).cpu()
                packed = nn.utils.rnn.pack_padded_sequence(f, lengths, batch_first=True, enforce_sorted=False)
                f, _ = self.rnn(packed)
                f, _ = nn.utils.rnn.pad_packed_sequence(f, batch_first=True, total_length=x.shape[3] // STRIDE)
        else:
            f = self.convs(f.transpose(1, 2)).transpose(1, 2)
        return self.classifier(self.dropout(f))


TRAINING = {"optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.01, "epochs": 12, "batch_size": 32}


@register("crnn", input_size=(32, 128), in_channels=1, num_classes=10, year=2015,
          paper="Shi, Bai, Yao, An end-to-end trainable neural network for image-based sequence recognition",
          description="5 conv layers over a 32-px line, a BiLSTM over its columns, CTC",
          training=TRAINING)
def crnn(num_classes: int = 10, in_channels: int = 1, input_size=(32, 128), widths=(16, 32, 64, 64, 128),
         hidden: int = 128, layers: int = 1, dropout: float = 0.1) -> nn.Module:
    """num_classes: the alphabet's size (the blank is added); input_size is nominal (width free)."""
    return CRNN(num_classes, in_channels, tuple(widths), "lstm", hidden, layers, dropout)


@register("crnn_conv", input_size=(32, 128), in_channels=1, num_classes=10, year=2015,
          paper="Shi, Bai, Yao 2015 with a convolutional sequence head instead of the BiLSTM",
          description="5 conv layers over a 32-px line, 1-D convolutions over its columns, CTC",
          training=TRAINING)
def crnn_conv(num_classes: int = 10, in_channels: int = 1, input_size=(32, 128), widths=(16, 32, 64, 64, 128),
              hidden: int = 128, layers: int = 1, dropout: float = 0.1) -> nn.Module:
    return CRNN(num_classes, in_channels, tuple(widths), "conv", hidden, layers, dropout)
