"""Kim 2014's sentence CNN: word embeddings, 1-D convolutions of widths 3, 4, 5 over the
words, max over time, dropout, a linear layer (Kim, "Convolutional neural networks for
sentence classification", EMNLP 2014).

    ids [B, L] -> embeddings [B, C*D, L] -> per width w: conv (100 filters, zero padding w-1
    on both sides) [B, 100, L+w-1] -> ReLU -> max over the windows that overlap the sentence
    [B, 100] -> concat [B, 300] -> dropout 0.5 -> linear [B, classes]

Input: int64 token ids, each sentence first and <pad> (id 0, the zero vector) after it. The
wide convolution (padding w-1) lets every filter see the sentence's first and last words at
every offset, like Kim's w-1 zero words on each side; windows lying wholly in the padding are
left out of the max, so a sentence's output does not depend on how far its batch is padded.
Variants (Kim's names): CNN-rand (`kimcnn`, embeddings U[-0.25, 0.25], trained), CNN-static
(`kimcnn_static`: pre-trained vectors, frozen), CNN-non-static (`kimcnn_nonstatic`:
pre-trained, fine-tuned) and CNN-multichannel (`kimcnn_multichannel`: a frozen and a
fine-tuned copy of the vectors, every filter applied to both and summed). The last layer's
weight vectors (one per class) are held to an L2 norm of at most 3 after every optimiser
step: the training loop calls `model.after_step()`. `in_channels` is not used (the number of
embedding channels follows from the variant); `vocab_size` comes from the run's vocabulary."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from convnet.errors import ConfigError
from convnet.models.registry import register

MODES = ("rand", "static", "non-static", "multichannel")
PAPER = "Kim, Convolutional neural networks for sentence classification (EMNLP 2014)"
# Adam at 1e-3 for 10 epochs stands in for Kim's Adadelta (rho 0.95), which the loop lacks;
# the max-norm constraint is the regulariser, so no weight decay and no label smoothing
TRAINING = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 50, "epochs": 10,
            "label_smoothing": 0.0, "schedule": "constant", "warmup": 0.0}


class KimCNN(nn.Module):
    def __init__(self, num_classes: int, vocab_size: int, embed_dim: int = 300, widths=(3, 4, 5),
                 filters: int = 100, dropout: float = 0.5, max_norm: float | None = 3.0,
                 mode: str = "rand", pad_index: int = 0):
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"unknown kimcnn mode {mode!r} (choose {', '.join(MODES)})")
        if vocab_size < 2 or embed_dim < 1 or filters < 1 or not widths or min(widths) < 1:
            raise ConfigError(f"kimcnn: vocab_size {vocab_size}, embed_dim {embed_dim}, filters {filters} "
                              f"and widths {list(widths)} must all be positive (vocab_size at least 2)")
        self.mode, self.widths, self.max_norm, self.pad_index = mode, tuple(widths), max_norm, pad_index
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_index)
        nn.init.uniform_(self.embed.weight, -0.25, 0.25)
        with torch.no_grad():
            self.embed.weight[pad_index].zero_()
        self.embed.weight.requires_grad_(mode != "static")
        channels = 2 if mode == "multichannel" else 1
        if mode == "multichannel":           # the frozen copy; `embed` is the fine-tuned one
            self.static = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_index)
            self.static.weight.data.copy_(self.embed.weight.data)
            self.static.weight.requires_grad_(False)
        # summing a filter over two channels of D = one filter over 2D stacked features
        self.convs = nn.ModuleList(nn.Conv1d(channels * embed_dim, filters, w, padding=w - 1) for w in self.widths)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(filters * len(self.widths), num_classes)

    def load_vectors(self, matrix: torch.Tensor) -> None:
        """Initial embeddings (float [V, D], <pad> row zero) into every embedding channel."""
        with torch.no_grad():
            self.embed.weight.copy_(matrix)
            if self.mode == "multichannel":
                self.static.weight.copy_(matrix)

    def embeddings(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B, L] -> [B, C*D, L]."""
        x = self.embed(ids)
        if self.mode == "multichannel":
            x = torch.cat([x, self.static(ids)], dim=2)
        return x.transpose(1, 2)

    def feature_maps(self, ids: torch.Tensor) -> list[torch.Tensor]:
        """Per width w: ReLU(conv) [B, filters, L+w-1], 0 at windows wholly in the padding
        (window k covers words k-w+1 .. k; it overlaps a sentence of n words when k < n+w-1)."""
        x = self.embeddings(ids)
        lengths = (ids != self.pad_index).sum(1).clamp(min=1)         # [B]
        maps = []
        for conv, w in zip(self.convs, self.widths):
            h = F.relu(conv(x))                                           # [B, F, L+w-1]
            k = torch.arange(h.shape[2], device=ids.device)
            outside = k[None, :] >= (lengths + w - 1)[:, None]            # [B, L+w-1]
            # ReLU output is >= 0 and every row keeps a window, so 0 never wins over a real one
            maps.append(h.masked_fill(outside[:, None, :], 0.0))
        return maps

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B, L] -> max over time of every filter [B, filters * len(widths)]."""
        return torch.cat([m.amax(2) for m in self.feature_maps(ids)], dim=1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(ids)))

    @torch.no_grad()
    def winning_windows(self, ids: torch.Tensor) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
        """Per width w: (w, max value [B, filters], first word of the winning window [B, filters],
        negative where the window starts in the left padding): the n-grams the max chose."""
        out = []
        for w, m in zip(self.widths, self.feature_maps(ids)):
            value, k = m.max(2)
            out.append((w, value, k - (w - 1)))
        return out

    def example_input(self, batch: int = 2, length: int = 50) -> torch.Tensor:
        """Random token ids [batch, length] (no padding), for tests and tools that need an input."""
        return torch.randint(self.pad_index + 1, self.embed.num_embeddings, (batch, length))

    @torch.no_grad()
    def after_step(self) -> None:
        """Kim's constraint: rescale each class's weight vector to norm max_norm if longer."""
        if self.max_norm is not None:
            self.fc.weight.renorm_(2, 0, self.max_norm)


def _builder(mode: str):
    def build(num_classes: int = 2, in_channels: int = 1, vocab_size: int = 20000, embed_dim: int = 300,
              widths=(3, 4, 5), filters: int = 100, dropout: float = 0.5, max_norm: float | None = 3.0,
              mode: str = mode) -> KimCNN:
        return KimCNN(num_classes, vocab_size, embed_dim, tuple(widths), filters, dropout, max_norm, mode)

    return build


_INFO = dict(input_size=(1, 50), in_channels=1, num_classes=2, year=2014, paper=PAPER, training=TRAINING)
for _name, _mode, _what in [
        ("kimcnn", "rand", "CNN-rand: random word embeddings 300, filters 3/4/5 x 100, max over time"),
        ("kimcnn_static", "static", "CNN-static: pre-trained word vectors (--vectors), frozen"),
        ("kimcnn_nonstatic", "non-static", "CNN-non-static: pre-trained word vectors (--vectors), fine-tuned"),
        ("kimcnn_multichannel", "multichannel", "CNN-multichannel: a frozen and a fine-tuned copy of the vectors")]:
    register(_name, description=_what, **_INFO)(_builder(_mode))
