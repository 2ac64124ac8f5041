"""A trained run as a classifier: `convnet.load(run_dir).predict(images)`.

Prediction uses the preprocessing stored in the run's config.json, so an image goes
through exactly what training saw: same channels, size, mean and std."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from convnet.data.batches import Preprocess
from convnet.data.images import open_image
from convnet.errors import DataError
from convnet.training import runs
from convnet.training.hardware import Hardware


@dataclass
class Prediction:
    source: str
    top: list[tuple[str, float]]       # (class name, probability), most likely first

    @property
    def label(self) -> str:
        return self.top[0][0]

    def to_dict(self) -> dict:
        return {"image": self.source, "top": [{"class": c, "probability": p} for c, p in self.top]}


class Classifier:
    def __init__(self, model: torch.nn.Module, preprocess: Preprocess, classes: list[str],
                 hw: Hardware, config: dict, run_dir: Path | None = None):
        self.model, self.preprocess, self.classes = model.eval(), preprocess, classes
        self.hw, self.config, self.run_dir = hw, config, run_dir

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "auto", weights: str = "auto") -> "Classifier":
        """weights: auto (the best validation epoch's where the run kept them, else the last),
        best or last."""
        run = runs.RunDir.open(run_dir)
        if run.task != "classify":
            raise DataError(f"{run_dir} is a {run.task} run, not an image classifier; "
                            f"`convnet predict` and `convnet eval` read it")
        hw = run.hardware(device)
        model = run.build_model(weights=weights)
        model = model.to(hw.device)
        if hw.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return cls(model, run.preprocess(), run.classes, hw, run.config, run.path)

    @property
    def mode(self) -> str:
        return "RGB" if self.preprocess.channels == 3 else "L"

    def to_uint8(self, image) -> torch.Tensor:
        """A path, bytes, PIL image or HxW(xC) uint8 array -> uint8 [C, H, W] at input size."""
        from PIL import Image

        if isinstance(image, (str, Path, bytes)):
            image = open_image(image, self.mode)
        elif isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        if not isinstance(image, Image.Image):
            raise DataError(f"cannot predict on a {type(image).__name__}; give a path, bytes, "
                            "a PIL image or a uint8 array")
        h, w = self.preprocess.size
        image = image.convert(self.mode).resize((w, h), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8).reshape(h, w, -1)
        return torch.from_numpy(array.copy()).permute(2, 0, 1)          # [H, W, C] -> [C, H, W]

    @torch.no_grad()
    def probabilities(self, batch) -> torch.Tensor:
        """uint8 [B, C, H, W] (a tensor or a NumPy array) -> float [B, K] class probabilities."""
        if isinstance(batch, np.ndarray):
            batch = torch.from_numpy(np.ascontiguousarray(batch))
        if batch.dtype != torch.uint8 or batch.dim() != 4:
            raise DataError(f"probabilities() takes uint8 images [B, C, H, W], got {batch.dtype} "
                            f"{tuple(batch.shape)}")
        x = self.preprocess(batch, self.hw.device, self.hw.channels_last)
        with self.hw.autocast():
            logits = self.model(x)
        return torch.softmax(logits.float(), dim=1).cpu()

    def predict(self, images, top: int = 5) -> list[Prediction]:
        images = list(images) if isinstance(images, (list, tuple)) else [images]
        batch = torch.stack([self.to_uint8(im) for im in images])
        probs = self.probabilities(batch)
        k = min(top, len(self.classes))
        values, index = probs.topk(k, dim=1)
        return [Prediction(_name(im, i), [(self.classes[j], round(float(v), 6)) for v, j in zip(vs, js)])
                for i, (im, vs, js) in enumerate(zip(images, values.tolist(), index.tolist()))]


def _name(image, i: int) -> str:
    return str(image) if isinstance(image, (str, Path)) else f"image {i}"
