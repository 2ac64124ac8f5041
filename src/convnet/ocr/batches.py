"""Mini-batches of line images for CTC training and evaluation.

A batch is (x, widths, targets, target_lengths, rows):
    x               float [B, 1, 32, W]  ink 1.0 on 0.0 (255 - pixel) / 255, padded on the right
                                         with background (0) to the batch's widest line W
    widths          int64 [B]            each line's own width in pixels
    targets         int64 [sum L]        the texts' symbols (alphabet index + 1; 0 is the blank),
                                         concatenated, as torch.nn.CTCLoss takes them
    target_lengths  int64 [B]            characters of each text
    rows            int64 [B]            the lines' positions in the LineSet
Training order: a seeded permutation cut into groups of BUCKET batches, each group sorted by
width before it is cut into batches, the batches then shuffled, so a batch pads little and is
still a new mix every epoch. Evaluation order: by width."""

from __future__ import annotations

import numpy as np
import torch

BUCKET = 20


def encode(text: str, index: dict[str, int]) -> list[int]:
    return [index[c] + 1 for c in text]


def pad_lines(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 [32, W_i] each -> float [B, 1, 32, max W_i], ink 1 on 0."""
    width = max(im.shape[1] for im in images)
    x = np.zeros((len(images), 1, images[0].shape[0], width), dtype=np.float32)
    for i, im in enumerate(images):
        x[i, 0, :, :im.shape[1]] = (255 - im.astype(np.float32)) / 255
    return torch.from_numpy(x)


class LineBatches:
    def __init__(self, lines, alphabet: str, batch_size: int, device, *, shuffle: bool = False, seed: int = 0,
                 drop_last: bool = False):
        self.lines, self.device = lines, device
        self.index = {c: i for i, c in enumerate(alphabet)}
        widths = lines.widths
        n = len(lines)
        if shuffle:
            rng = np.random.default_rng(seed)
            order = rng.permutation(n)
            if drop_last and n >= batch_size:
                order = order[:n - n % batch_size]
            group = BUCKET * batch_size
            order = np.concatenate([chunk[np.argsort(widths[chunk], kind="stable")]
                                    for chunk in np.split(order, range(group, len(order), group))])
            batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
            self.batches = [batches[i] for i in rng.permutation(len(batches))]
        else:
            order = np.argsort(widths, kind="stable")
            self.batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for rows in self.batches:
            images = [self.lines.images[i] for i in rows]
            texts = [self.lines.texts[i] for i in rows]
            x = pad_lines(images)
            widths = torch.tensor([im.shape[1] for im in images], dtype=torch.int64)
            targets = torch.tensor([s for t in texts for s in encode(t, self.index)], dtype=torch.int64)
            lengths = torch.tensor([len(t) for t in texts], dtype=torch.int64)
            yield (x.to(self.device), widths.to(self.device), targets.to(self.device), lengths.to(self.device),
                   torch.from_numpy(np.asarray(rows, dtype=np.int64)))
