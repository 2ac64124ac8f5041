"""`--data NAME|DIR` -> a Dataset: the embedded digits, MNIST, Fashion-MNIST or a folder."""

from __future__ import annotations

from pathlib import Path

import torch

from convnet.data.idx import load_idx_pair
from convnet.data.tensors import Dataset, TensorData, stratified_split
from convnet.errors import DataError

EMBEDDED = Path(__file__).parent / "embedded"

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_CLASSES = [str(d) for d in range(10)]

# name -> (classes, does a mirror image keep its class?)
IDX_SETS = {
    "digits": (DIGIT_CLASSES, False),
    "mnist": (DIGIT_CLASSES, False),
    "fashion-mnist": (FASHION_CLASSES, True),
}


def load_dataset(data: str = "digits", data_dir: str | None = None, *, size=None, channels=None,
                 val_fraction: float = 0.0, seed: int = 0, progress: bool = True) -> Dataset:
    """Resolve a data argument. `size` and `channels` matter only for image folders
    (IDX images stay 28x28x1 in memory and are fitted to the network batch by batch)."""
    name = data.lower()
    if name in IDX_SETS:
        folder = _idx_folder(name, data_dir)
        ds = load_idx_folder(folder, name, *IDX_SETS[name])
        # absolute, so `eval RUN` works from any folder
        ds.source = {"kind": "idx", "name": name, "path": str(Path(data_dir).resolve()) if data_dir else None}
    else:
        path = Path(data_dir or data) if data_dir and not Path(data).exists() else Path(data)
        if not path.exists():
            raise DataError(f"unknown data set {data!r}: not one of {', '.join(IDX_SETS)} "
                            "and no such folder")
        if _has_idx(path):
            known = idx_set_named(path.name)
            if known:        # e.g. --data ../shared/datasets/fashion-mnist: its class names and flips
                ds = load_idx_folder(path, known, *IDX_SETS[known])
                ds.source = {"kind": "idx", "name": known, "path": str(path.resolve())}
            else:
                ds = load_idx_folder(path, path.name, [str(i) for i in range(_num_labels(path))], False)
                ds.source = {"kind": "idx", "name": path.name, "path": str(path.resolve())}
        else:
            from convnet.data.folder import load_folder

            if size is None:
                raise ValueError("an image folder needs the network input size")
            ds = load_folder(path, size, channels, val_fraction or 0.2, seed, progress)
            return ds
    if val_fraction > 0:
        keep, held = stratified_split(ds.train.labels, val_fraction, seed)
        ds.train, ds.val = ds.train.subset(keep), ds.train.subset(held)
        ds.source.update(val_fraction=val_fraction, seed=seed)
    return ds


def idx_set_named(folder_name: str) -> str | None:
    """The known IDX set a folder's name says it holds ('fashion-mnist', 'Fashion_MNIST',
    'mnist-10k'), or None. MNIST and Fashion-MNIST share file names, so the folder name decides."""
    name = folder_name.lower().replace("_", "-")
    if "fashion" in name:
        return "fashion-mnist"
    if name == "mnist" or name.startswith("mnist-") or name.endswith("-mnist"):
        return "mnist"
    return None


def load_idx_folder(folder: Path, name: str, classes: list[str], hflip: bool) -> Dataset:
    train = _as_tensors(*load_idx_pair(folder, "train"))
    test = _as_tensors(*load_idx_pair(folder, "t10k"))
    top = int(max(train.labels.max(), test.labels.max()))
    if top >= len(classes):
        raise DataError(f"{folder}: label {top} is out of range for {len(classes)} classes")
    return Dataset(name=name, classes=classes, train=train, test=test, hflip=hflip)


def _as_tensors(images, labels) -> TensorData:
    return TensorData(torch.from_numpy(images).unsqueeze(1),           # [N, H, W] -> [N, 1, H, W]
                      torch.from_numpy(labels.astype("int64")))


def _idx_folder(name: str, data_dir: str | None) -> Path:
    if name == "digits":
        return EMBEDDED
    if data_dir:
        folder = Path(data_dir)
        if not folder.is_dir():
            raise DataError(f"--data-dir {folder}: no such folder")
        return folder
    from convnet.data.download import ensure_downloaded

    return ensure_downloaded(name)


def _has_idx(path: Path) -> bool:
    return path.is_dir() and any((path / f).is_file() for f in
                                 ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"))


def _num_labels(path: Path) -> int:
    from convnet.data.idx import read_idx

    for f in ("train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte"):
        if (path / f).is_file():
            return int(read_idx(path / f, 1).max()) + 1
    raise DataError(f"{path}: missing train-labels-idx1-ubyte.gz")
