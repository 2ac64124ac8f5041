"""Batches cut and augmented as whole tensors, never image by image.

`Preprocess` holds everything needed to turn uint8 images into the network's input; it is
saved in config.json so evaluation, prediction and serving see exactly what training saw."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from convnet.data.tensors import TensorData


@dataclass
class Preprocess:
    channels: int                 # 1 (grayscale) or 3 (RGB) at the network's input
    size: tuple[int, int]         # (H, W) at the network's input
    mean: tuple[float, ...]       # per channel, in [0, 1] units
    std: tuple[float, ...]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["size"] = list(self.size)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocess":
        return cls(int(d["channels"]), tuple(d["size"]), tuple(d["mean"]), tuple(d["std"]))

    def __call__(self, images: torch.Tensor, device=None, channels_last: bool = False) -> torch.Tensor:
        """uint8 [B, C, h, w] -> normalised float [B, channels, H, W] on `device`."""
        x = self.fit(images.to(device, non_blocking=True).float().div_(255.0))
        return self.normalize(x, channels_last)

    def normalize(self, x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        """[0, 1] floats -> zero mean, unit variance per channel."""
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        x = (x - mean) / std
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    def fit(self, x: torch.Tensor) -> torch.Tensor:
        """Match channels and size: gray -> RGB by repetition, RGB -> gray by luma, resize."""
        if x.shape[1] != self.channels:
            if self.channels == 3:
                x = x.expand(-1, 3, -1, -1)
            else:  # ITU-R 601 luma, as PIL's convert("L")
                w = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
                x = (x * w).sum(1, keepdim=True)
        if tuple(x.shape[2:]) != tuple(self.size):
            x = F.interpolate(x, size=tuple(self.size), mode="bilinear", antialias=True,
                              align_corners=False)
        return x


def channel_stats(data: TensorData, max_images: int = 20000) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std in [0, 1] units, from up to `max_images` images."""
    x = data.images[:max_images].double().div_(255.0)              # [N, C, H, W]
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(round(v, 6) for v in mean.tolist()), tuple(round(v, 6) for v in std.tolist())


@dataclass
class Augment:
    crop_padding: int = 2         # pixels of zero padding for the random crop (0 = off)
    hflip: bool = False           # random horizontal flip

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """x: float [B, C, H, W] in [0, 1] (before normalisation). Returns the same shape."""
        if self.hflip:
            flip = torch.rand(x.shape[0], generator=generator) < 0.5
            x = torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)
        if self.crop_padding > 0:
            x = random_crop(x, self.crop_padding, generator)
        return x


def random_crop(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Each image shifted by its own random (dy, dx) in [-pad, pad], zero filled."""
    b, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))                             # [B, C, H+2p, W+2p]
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    rows = (dy.view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1)
    cols = (dx.view(b, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w)
    bi = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    ci = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return xp[bi, ci, rows, cols]                                   # [B, C, H, W]


class BatchIterator:
    """Shuffled (or ordered) mini-batches of a TensorData, preprocessed as whole tensors."""

    def __init__(self, data: TensorData, batch_size: int, preprocess: Preprocess, *,
                 shuffle: bool, augment: Augment | None = None, seed: int = 0,
                 device=None, channels_last: bool = False, drop_last: bool = False,
                 sample_weights: torch.Tensor | None = None):
        """sample_weights: float [N]; each epoch then draws N examples with replacement, each
        with probability proportional to its weight (a balanced sampler: 1 / its class's count)."""
        self.data, self.batch_size, self.preprocess = data, batch_size, preprocess
        self.sample_weights = sample_weights
        self.shuffle, self.augment, self.device = shuffle, augment, device
        self.channels_last, self.drop_last = channels_last, drop_last
        self.generator = torch.Generator().manual_seed(seed)
        self.rank, self.world = 0, 1

    def shard(self, rank: int, world: int) -> "BatchIterator":
        """Distributed training: this process takes every world-th example of the epoch's order
        (the same order in every process: the same seed), all processes the same count."""
        self.rank, self.world = rank, world
        return self

    def _examples(self) -> int:
        return len(self.data) // self.world if self.world > 1 else len(self.data)

    def __len__(self) -> int:
        n = self._examples()
        return n // self.batch_size if self.drop_last and n >= self.batch_size else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.data)
        if self.sample_weights is not None:
            order = torch.multinomial(self.sample_weights, n, replacement=True, generator=self.generator)
        else:
            order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        if self.world > 1:
            order = order[:self._examples() * self.world][self.rank::self.world]
        for i in range(len(self)):
            index = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield self.batch(index)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = self.data.images[index].to(self.device, non_blocking=True)
        labels = self.data.labels[index].to(self.device, non_blocking=True)
        p = self.preprocess
        x = p.fit(images.float().div_(255.0))
        if self.augment is not None:
            x = self.augment(x, self.generator)
        return p.normalize(x, self.channels_last), labels
