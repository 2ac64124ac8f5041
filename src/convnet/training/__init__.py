"""Training: the config dataclass, the loop, run directories and checkpoints."""

from convnet.training.config import TrainConfig

__all__ = ["TrainConfig"]
