"""Embeddings of images from a trained image run: its penultimate features, L2-normalised.

The features are the input of the model's last `nn.Linear` (caught with a forward hook), or,
for a model without one, its last convolution's output averaged over space. Images go through
exactly what `convnet predict` does (`Classifier.to_uint8` then the run's Preprocess).

EMB.npz (numpy, no pickles; read with allow_pickle=False):
    embeddings  float32 [N, D]   unit rows
    labels      int64 [N]        class number into `classes`, -1 where unknown
    classes     str [K]          class names (possibly empty)
    paths       str [N]          the image file, "" for a data set item
    indices     int64 [N]        the item's index in its data set split, -1 for a file
    meta        str []           JSON: run, weights_sha256, source (how to load the items again),
                                 mirror (features averaged with the mirror image's)
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from convnet.data.images import IMAGE_SUFFIXES
from convnet.errors import ConvnetError, DataError

BATCH = 256


def weights_sha256(path: str | Path) -> str:
    """SHA-256 of a weights file: what ties an index to the run that made it."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Embeddings:
    vectors: np.ndarray                 # float32 [N, D], unit rows
    labels: np.ndarray                  # int64 [N], -1 unknown
    classes: list[str]
    paths: list[str]                    # "" for data set items
    indices: np.ndarray                 # int64 [N], -1 for files
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.vectors)

    def save(self, path: str | Path) -> None:
        from convnet.fileio import atomic_write

        def write(tmp):
            with open(tmp, "wb") as f:
                np.savez(f, embeddings=self.vectors.astype(np.float32), labels=self.labels.astype(np.int64),
                         classes=np.array(self.classes, dtype=str), paths=np.array(self.paths, dtype=str),
                         indices=self.indices.astype(np.int64), meta=np.array(json.dumps(self.meta)))
        atomic_write(Path(path), write)

    @classmethod
    def load(cls, path: str | Path) -> "Embeddings":
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(z["embeddings"].astype(np.float32), z["labels"].astype(np.int64),
                           [str(c) for c in z["classes"]], [str(p) for p in z["paths"]],
                           z["indices"].astype(np.int64), json.loads(str(z["meta"])))
        except (OSError, ValueError, KeyError) as e:
            raise DataError(f"{path}: not an embeddings file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def feature_hook(model: torch.nn.Module):
    """(module, how) for the penultimate features: the last nn.Linear's input ("input") or the
    last Conv2d's output pooled ("pool")."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if linears:
        return linears[-1], "input"
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise DataError("the model has neither a linear layer nor a convolution to take features from")
    return convs[-1], "pool"


class Embedder:
    """A run's model that returns penultimate features instead of class scores."""

    def __init__(self, run_dir: str | Path, device: str = "cpu", mirror: bool = False):
        from convnet.inference import Classifier
        from convnet.training.runs import RunDir

        self.run = RunDir.open(run_dir)
        self.classifier = Classifier.load(run_dir, device=device)
        self.weights_sha256 = weights_sha256(self.run.weights_file())
        self.preprocess = self.classifier.preprocess
        self.mirror = mirror            # average each image's features with its mirror image's
        self._caught: list[torch.Tensor] = []
        module, self._how = feature_hook(self.classifier.model)
        module.register_forward_hook(self._catch)

    def _catch(self, module, inputs, output):
        self._caught.append(inputs[0] if self._how == "input" else output)

    @torch.no_grad()
    def features(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 [B, C, H, W] -> float32 [B, D], unit rows (on the CPU). With mirror: the
        normalised mean of the image's and its left-right mirror's unit features (for data whose
        mirror images keep their class: Fashion-MNIST 0.8975 -> 0.9006 precision@1)."""
        f = self._features(batch)
        if self.mirror:
            f = torch.nn.functional.normalize(f + self._features(batch.flip(-1)), dim=1)
        return f

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        c = self.classifier
        x = c.preprocess(batch, c.hw.device, c.hw.channels_last)
        self._caught.clear()
        with c.hw.autocast():
            c.model(x)
        f = self._caught[-1].float()
        if f.dim() == 4:                                # [B, C, h, w] -> [B, C]
            f = f.mean(dim=(2, 3))
        f = f.reshape(len(f), -1)
        return torch.nn.functional.normalize(f, dim=1).cpu()

    def embed_tensor(self, images: torch.Tensor, batch_size: int = BATCH, progress: bool = True,
                     desc: str = "embed") -> np.ndarray:
        """uint8 [N, C, H, W] -> float32 [N, D]."""
        from tqdm import tqdm

        out = []
        with tqdm(total=len(images), desc=desc, unit="img", disable=not progress, file=sys.stderr) as bar:
            for start in range(0, len(images), batch_size):
                part = images[start:start + batch_size]
                out.append(self.features(part).numpy())
                bar.update(len(part))
        if not out:
            return np.zeros((0, 0), np.float32)
        return np.concatenate(out).astype(np.float32)

    def meta(self, source: dict) -> dict:
        return {"run": str(self.run.path.resolve()), "weights_sha256": self.weights_sha256, "source": source,
                "mirror": self.mirror}


def list_images(inputs: list[str | Path]) -> list[tuple[Path, str | None]]:
    """Files and folders -> (image file, class name or None). An image directly under a given
    folder has no class; one in a sub-folder takes that sub-folder's name (an image folder's
    layout). A named file that does not exist is an error; folders are searched recursively."""
    found = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            for f in files:
                rel = f.relative_to(p).parts
                found.append((f, rel[0] if len(rel) > 1 else None))
        elif p.is_file():
            found.append((p, None))
        else:
            raise DataError(f"{item}: no such file or folder")
    return found


def load_files(embedder: Embedder, inputs, strict: bool = False, warn=None):
    """(uint8 [N, C, H, W], paths, class names or None). A file that cannot be read as an image
    is reported through `warn` and skipped, or, with strict (named queries), an error."""
    images, paths, names = [], [], []
    for f, name in list_images(inputs):
        try:
            images.append(embedder.classifier.to_uint8(f))
        except ConvnetError as e:
            if strict:
                raise DataError(str(e)) from None
            if warn:
                warn(f"skipped: {e}")
            continue
        paths.append(str(f))
        names.append(name)
    if not images:
        return torch.zeros((0, embedder.preprocess.channels, *embedder.preprocess.size), dtype=torch.uint8), [], []
    return torch.stack(images), paths, names


def load_split(embedder: Embedder, data: str | None, data_dir: str | None, split: str):
    """The run's own data set (data None: as training saw it, e.g. 50,000 train) or another one,
    whole -> (TensorData, classes, source dict)."""
    if data is None:
        ds = embedder.run.dataset()
    else:
        from convnet.data.sources import load_dataset

        p = embedder.preprocess
        ds = load_dataset(data, data_dir, size=p.size, channels=p.channels, progress=False)
    part = ds.split(split)
    source = {"kind": "dataset", "data": data, "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
              "split": split}
    return part, list(ds.classes), source


def embed(run_dir, inputs=None, data: str | None = None, data_dir: str | None = None, split: str = "test",
          batch_size: int = BATCH, progress: bool = False, warn=None, embedder: Embedder | None = None) -> Embeddings:
    """The Python API: embeddings of image files/folders (`inputs`) or of a data set split."""
    embedder = embedder or Embedder(run_dir)
    if inputs:
        images, paths, names = load_files(embedder, inputs, warn=warn)
        classes = sorted({n for n in names if n is not None})
        labels = np.array([classes.index(n) if n is not None else -1 for n in names], np.int64)
        vectors = embedder.embed_tensor(images, batch_size, progress)
        return Embeddings(vectors, labels, classes, paths, np.full(len(paths), -1, np.int64),
                          embedder.meta({"kind": "files"}))
    part, classes, source = load_split(embedder, data, data_dir, split)
    vectors = embedder.embed_tensor(part.images, batch_size, progress)
    return Embeddings(vectors, part.labels.numpy().astype(np.int64), classes, [""] * len(part),
                      np.arange(len(part), dtype=np.int64), embedder.meta(source))
