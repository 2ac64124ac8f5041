"""ModelSpec: what the registry and the architecture notation both describe a model with.

It lives below both so that the notation can make specs without importing the registry
(which imports the notation to resolve notation names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable
    input_size: tuple[int, int]           # (H, W) the architecture was designed for
    in_channels: int = 3                  # its usual input channels
    num_classes: int = 10                 # its usual number of classes
    fixed_size: bool = False              # True if another input size breaks it (flatten to FC)
    year: int | None = None
    paper: str = ""
    description: str = ""
    kwargs: dict = field(default_factory=dict)
    # TrainConfig fields this model trains best with (the paper's optimiser, a safe lr, ...);
    # they replace the project's defaults but never a value the user gave
    training: dict = field(default_factory=dict)

    def build(self, num_classes: int | None = None, in_channels: int | None = None, **overrides):
        kwargs = {**self.kwargs, **overrides}
        return self.builder(num_classes=num_classes or self.num_classes,
                            in_channels=in_channels or self.in_channels, **kwargs)
