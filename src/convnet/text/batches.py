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

    def _bucketed(self, rng, n: int) -> np.ndarray:
        order = rng.permutation(n)
        if self.drop_last:
            order = order[:n // self.batch_size * self.batch_size]
        lengths = np.array([len(s) for s in self.split.ids])
        group = BUCKET * self.batch_size
        batches = []
        for g in range(0, len(order), group):
            chunk = order[g:g + group]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            batches += [chunk[b:b + self.batch_size] for b in range(0, len(chunk), self.batch_size)]
        return np.concatenate([batches[i] for i in rng.permutation(len(batches))]) if batches else order

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


BUCKET = 20      # shuffled batches sorted by length within groups of this many


class TextBatches:
    """Batches of a TextSplit; `order` is the data positions of the batches' rows, batch
    after batch. shuffle=True: a permutation by `seed` (its last incomplete batch dropped with
    drop_last), cut into groups of BUCKET batches, each group sorted by length before it is
    cut into batches, the batches then shuffled: a batch holds sentences of about one length
    (on TREC 1.1x the words padded instead of about 2x) and is still a new random mix every
    epoch. Else in data order, or sorted by length (`by_length`)."""

    def __init__(self, split: TextSplit, batch_size: int, min_length: int, device, *, shuffle: bool = False,
                 seed: int = 0, drop_last: bool = False, by_length: bool = False):
        self.split, self.batch_size, self.min_length, self.device = split, batch_size, min_length, device
        n = len(split)
        lengths = np.array([len(s) for s in split.ids], dtype=np.int64)
        if shuffle:
            rng = np.random.default_rng(seed)
            order = rng.permutation(n)
            if drop_last:
                order = order[:n // batch_size * batch_size]
            group = BUCKET * batch_size
            self.rows = []
            for g in range(0, len(order), group):
                chunk = order[g:g + group]
                chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
                self.rows += [chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size)]
            self.rows = [self.rows[i] for i in rng.permutation(len(self.rows))]
        else:
            order = np.argsort(lengths, kind="stable") if by_length else np.arange(n)
            stop = n // batch_size * batch_size if drop_last else n
            self.rows = [order[b:b + batch_size] for b in range(0, stop, batch_size)]
        self.order = np.concatenate(self.rows) if self.rows else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        for rows in self.rows:
            ids = pad([self.split.ids[i] for i in rows], self.min_length)
            labels = torch.tensor([self.split.labels[i] for i in rows], dtype=torch.int64)
            yield ids.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)
