"""The built-in generator of handwritten digit strings, from MNIST digits.

Each line takes 3 to 10 digits drawn (seeded) from the IDX split it is given (train digits for
training lines, test digits for test lines, so no test digit is ever seen in training), crops
each to its ink columns, and joins them left to right with gaps of -2 to 6 pixels (a negative
gap overlaps two digits, as real handwriting does; ink is the maximum of the two there). The
28 rows of MNIST sit in a 32-row line at a random vertical offset of 0..4 rows, with a 2..6
pixel margin left and right; ink is dark on a white background, like a scan. A fifth of the
lines are 5 digits long (ZIP codes). The lines are written to disk as a line folder (PNG files
plus labels.tsv, see lines.py) so one reader reads generated and users' data alike."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from convnet.errors import DataError
from convnet.ocr.lines import HEIGHT, LABELS, write_line_folder

ALPHABET = "0123456789"
INK = 32                      # a column with a pixel above this (of 255) holds ink
GAPS = (-2, 6)                # pixels between two digits, inclusive
LENGTHS = (3, 10)             # digits a line, inclusive
ZIP_SHARE = 0.2               # share of lines that are exactly 5 digits
VERSION = 1                   # bump when the drawing changes: cached folders are then redrawn


def crop_ink(digit: np.ndarray) -> np.ndarray:
    """uint8 [28, 28] white-on-black MNIST digit -> [28, w]: its columns from the first to the
    last one with ink (a digit with no ink keeps a 4-column middle strip)."""
    cols = np.flatnonzero(digit.max(0) > INK)
    if len(cols) == 0:
        mid = digit.shape[1] // 2
        return digit[:, mid - 2:mid + 2]
    return digit[:, cols[0]:cols[-1] + 1]


def draw_line(digits: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """MNIST digits (uint8 [28, 28], white on black) -> uint8 [HEIGHT, W] line, dark on white."""
    parts = [crop_ink(d) for d in digits]
    gaps = rng.integers(GAPS[0], GAPS[1] + 1, size=len(parts) - 1)
    left, right = rng.integers(2, 7, size=2)
    width = int(left + right + sum(p.shape[1] for p in parts) + gaps.sum())
    canvas = np.zeros((HEIGHT, width), dtype=np.uint8)
    x = int(left)
    for i, part in enumerate(parts):
        top = int(rng.integers(0, HEIGHT - part.shape[0] + 1))
        h, w = part.shape
        region = canvas[top:top + h, x:x + w]
        np.maximum(region, part, out=region)          # overlapping ink: the darker stroke wins
        x += w + (int(gaps[i]) if i < len(gaps) else 0)
    return 255 - canvas


def digit_lines(images: np.ndarray, labels: np.ndarray, n: int, seed: int):
    """n lines from the digits `images` (uint8 [N, 28, 28]) with `labels` (int [N]):
    (list of uint8 [HEIGHT, W] images, list of their digit strings)."""
    if n < 1:
        raise DataError(f"the number of lines must be at least 1, got {n}")
    if len(images) == 0:
        raise DataError("no digits to draw lines from")
    rng = np.random.default_rng(seed)
    out_images, out_texts = [], []
    for _ in range(n):
        length = 5 if rng.random() < ZIP_SHARE else int(rng.integers(LENGTHS[0], LENGTHS[1] + 1))
        pick = rng.integers(0, len(images), size=length)
        out_images.append(draw_line([images[i] for i in pick], rng))
        out_texts.append("".join(str(int(labels[i])) for i in pick))
    return out_images, out_texts


def write_digit_lines(out, mnist_dir, split: str, n: int, seed: int) -> Path:
    """Draw n lines from the `split` ("train" or "test") digits of the MNIST IDX folder
    `mnist_dir` and write them as a line folder in `out`."""
    from convnet.data.idx import load_idx_pair

    if split not in ("train", "test"):
        raise DataError(f"split must be train or test, got {split!r}")
    images, labels = load_idx_pair(Path(mnist_dir), "train" if split == "train" else "t10k")
    if labels.max() > 9:
        raise DataError(f"{mnist_dir}: labels up to {int(labels.max())}: not MNIST digits")
    lines, texts = digit_lines(images, labels, n, seed)
    return write_line_folder(out, lines, texts, prefix=f"digits_{split}")


def cached_digit_lines(mnist_dir, split: str, n: int, seed: int, root: Path | None = None) -> Path:
    """The line folder of write_digit_lines(…), drawn once into the data cache and reused: its
    name is a hash of the source digits' file sizes and times, the split, n, seed and VERSION."""
    from convnet.data.download import cache_dir
    from convnet.data.idx import _find

    mnist_dir = Path(mnist_dir)
    if not mnist_dir.is_dir():
        raise DataError(f"--data-dir {mnist_dir}: no such folder (digit-lines reads MNIST IDX files there)")
    prefix = "train" if split == "train" else "t10k"
    sources = [_find(mnist_dir, f"{prefix}-{kind}-idx{d}-ubyte") for kind, d in (("images", 3), ("labels", 1))]
    key = json.dumps({"files": [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in sources],
                      "split": split, "n": n, "seed": seed, "version": VERSION})
    folder = (root or cache_dir()) / "digit-lines" / f"{split}-{n}-{seed}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if not (folder / LABELS).is_file():
        write_digit_lines(folder, mnist_dir, split, n, seed)
    return folder
