"""An image folder: one sub-folder per class, or train/ (+ val/, test/) each holding them.

    photos/cat/001.jpg, photos/dog/002.png, ...          -> seeded train/val split
    photos/train/cat/..., photos/val/cat/..., [test/]    -> the given splits

Images are decoded once, resized to the network's input size, and kept as one uint8
tensor. A corrupt image is reported and skipped; the rest of the folder still loads."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch

from convnet.data.images import FORMATS, IMAGE_SUFFIXES, is_color, open_image
from convnet.data.tensors import Dataset, TensorData, stratified_split
from convnet.errors import DataError


def scan_classes(root: Path) -> dict[str, list[Path]]:
    """class name -> sorted image paths, for the class sub-folders of root."""
    classes = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in sub.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            name = class_name(sub.name)
            if name in classes:
                raise DataError(f"{root}: two class folders are both named {name!r} once their "
                                "names are made valid text; rename one")
            classes[name] = files
    return classes


def class_name(folder_name: str) -> str:
    """A folder name as valid Unicode text: a name whose bytes are not UTF-8 (Python keeps them
    as lone surrogates, which JSON writers, fonts and HTML all refuse) gets those bytes written
    as escapes, 'caf\\xe9' for b'caf\\xe9' (Latin-1)."""
    try:
        folder_name.encode("utf-8")
        return folder_name
    except UnicodeEncodeError:
        return os.fsencode(folder_name).decode("utf-8", "backslashreplace")


def load_folder(root: str | Path, size: tuple[int, int], channels: int | None = None,
                val_fraction: float = 0.2, seed: int = 0, progress: bool = True) -> Dataset:
    root = Path(root)
    if not root.exists():
        raise DataError(f"image folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"{root} is not a folder")
    split_dirs = {name: root / name for name in ("train", "val", "test") if (root / name).is_dir()}
    if "train" in split_dirs:
        splits = {name: scan_classes(path) for name, path in split_dirs.items()}
    else:
        splits = {"train": scan_classes(root)}
    classes = sorted(splits["train"])
    if not classes:
        raise DataError(f"{root}: no class sub-folders with images "
                        f"({', '.join(sorted(IMAGE_SUFFIXES))}) found")
    if len(classes) < 2:
        raise DataError(f"{root}: only one class ({classes[0]!r}); a classifier needs at least two")
    for name, found in splits.items():
        extra = set(found) - set(classes)
        if extra:
            raise DataError(f"{root / name}: classes {sorted(extra)} are not in train/")
    if channels is None:
        channels = _guess_channels(splits["train"])
    mode = "RGB" if channels == 3 else "L"
    index = {c: i for i, c in enumerate(classes)}
    loaded = {name: _load_split(found, index, size, mode, f"{root.name}/{name}", progress)
              for name, found in splits.items()}
    train, val, test = loaded["train"], loaded.get("val"), loaded.get("test")
    if val is None:
        keep, held = stratified_split(train.labels, val_fraction, seed)
        train, val = train.subset(keep), train.subset(held)
    return Dataset(
        name=root.name, classes=classes, train=train, val=val, test=test if test is not None else val,
        hflip=mirror_keeps_class(classes),
        source={"kind": "folder", "path": str(root.resolve()), "val_fraction": val_fraction,
                "seed": seed, "channels": channels, "size": list(size)},
    )


def mirror_keeps_class(classes: list[str]) -> bool:
    """Random flips for a folder unless its classes are digits or letters (a mirrored 2 or R is
    no longer a 2 or an R): photos of things keep their class in a mirror."""
    return not all(len(c) == 1 and c.isalnum() or c.isdigit() for c in classes)


def _guess_channels(found: dict[str, list[Path]], sample: int = 20) -> int:
    """3 if any of the first images of each class is in colour, else 1."""
    from PIL import Image

    for files in found.values():
        for f in files[:sample]:
            try:
                with Image.open(f, formats=FORMATS) as im:
                    if is_color(im):
                        return 3
            except Exception:
                continue
    return 1


def _load_split(found, index, size, mode, label, progress) -> TensorData:
    from PIL import Image
    from tqdm import tqdm

    h, w = size
    paths = [(p, index[c]) for c, files in found.items() for p in files]
    images = np.empty((len(paths), h, w, 3 if mode == "RGB" else 1), np.uint8)
    labels, n, skipped = [], 0, []
    for path, y in tqdm(paths, desc=f"loading {label}", unit="img", disable=not progress or len(paths) < 500,
                        leave=False):
        try:
            im = open_image(path, mode)
        except DataError as e:
            skipped.append(str(e))
            continue
        im = im.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=None)
        images[n] = np.asarray(im).reshape(h, w, -1)
        labels.append(y)
        n += 1
    for msg in skipped[:5]:
        print(f"warning: skipped {msg}", file=sys.stderr)
    if len(skipped) > 5:
        print(f"warning: skipped {len(skipped) - 5} more unreadable images", file=sys.stderr)
    if n == 0:
        raise DataError(f"{label}: none of the {len(paths)} images could be read")
    tensor = torch.from_numpy(images[:n]).permute(0, 3, 1, 2).contiguous()   # [N, H, W, C] -> [N, C, H, W]
    return TensorData(tensor, torch.tensor(labels, dtype=torch.int64))
