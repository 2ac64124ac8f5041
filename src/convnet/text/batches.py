"""Token-id sentences -> padded mini-batches.

A batch is (ids int64 [B, L], labels int64 [B]) with each sentence's ids first and <pad> (0)
after them, L the batch's longest sentence but at least `min_length` (the widest filter, so
every filter fits once). The model ignores the padding (see models/kimcnn.py), so a sentence
gets the same output whatever it is batched with."""

from __future__ import annotations

import numpy as np
import torch

from convnet.text.vocab import PAD_ID


class TextSplit:
    """Encoded sentences of one split: ids (lists of ints), labels (ints), the raw texts."""

    def __init__(self, ids: list[list[int]], labels: list[int], texts: list[str]):
        self.ids, self.labels, self.texts = ids, labels, texts

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index) -> "TextSplit":
        index = [int(i) for i in index]
        return TextSplit([self.ids[i] for i in index], [self.labels[i] for i in index],
                         [self.texts[i] for i in index])

    def words(self) -> int:
        return sum(len(s) for s in self.ids)


def pad(sentences: list[list[int]], min_length: int = 1) -> torch.Tensor:
    """int64 [B, max(longest, min_length)], padded with <pad> after each sentence."""
    length = max([min_length, *map(len, sentences)])
    out = np.full((len(sentences), length), PAD_ID, dtype=np.int64)
    for row, s in zip(out, sentences):
        row[:len(s)] = s
    return torch.from_numpy(out)


class TextBatches:
    """Batches of a TextSplit. train=True: shuffled by `seed`, the incomplete last batch
    dropped; else in data order, or grouped by length (`by_length`) so little is padded,
    with `order` giving the data positions of the batches' rows."""

    def __init__(self, split: TextSplit, batch_size: int, min_length: int, device, *, shuffle: bool = False,
                 seed: int = 0, drop_last: bool = False, by_length: bool = False):
        self.split, self.batch_size, self.min_length = split, batch_size, min_length
        self.device, self.drop_last = device, drop_last
        n = len(split)
        if shuffle:
            self.order = np.random.default_rng(seed).permutation(n)
        elif by_length:
            self.order = np.argsort([len(s) for s in split.ids], kind="stable")
        else:
            self.order = np.arange(n)

    def __len__(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        for b in range(len(self)):
            rows = self.order[b * self.batch_size:(b + 1) * self.batch_size]
            ids = pad([self.split.ids[i] for i in rows], self.min_length)
            labels = torch.tensor([self.split.labels[i] for i in rows], dtype=torch.int64)
            yield ids.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)
