"""Data in memory: one uint8 tensor of images and one int64 tensor of labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class TensorData:
    images: torch.Tensor          # uint8 [N, C, H, W]
    labels: torch.Tensor          # int64 [N]

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 [N,C,H,W], got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> "TensorData":
        return TensorData(self.images[index], self.labels[index])

    @property
    def channels(self) -> int:
        return self.images.shape[1]


@dataclass
class Dataset:
    """A named data set with its splits. `val` and `test` may be None."""

    name: str
    classes: list[str]
    train: TensorData | None
    test: TensorData | None
    val: TensorData | None = None
    hflip: bool = False           # does a mirror image keep its class? (clothes yes, digits no)
    source: dict = field(default_factory=dict)   # how to load it again (stored in config.json)

    @property
    def channels(self) -> int:
        split = self.train or self.test or self.val
        return split.channels

    @property
    def image_size(self) -> tuple[int, int]:
        split = self.train or self.test or self.val
        return tuple(split.images.shape[2:])

    def split(self, name: str) -> TensorData:
        from convnet.errors import DataError

        data = getattr(self, name)
        if data is None:
            raise DataError(f"data set {self.name!r} has no {name} split")
        return data


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (keep, held_out): `fraction` of each class held out, chosen by `seed`."""
    g = torch.Generator().manual_seed(seed)
    keep, held = [], []
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_held = int(round(len(idx) * fraction))
        if fraction > 0 and len(idx) > 1:
            n_held = max(1, min(n_held, len(idx) - 1))
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    return torch.cat(keep).sort().values, torch.cat(held).sort().values
