"""The IDX format of MNIST and Fashion-MNIST, gzip-compressed or raw.

Layout (big-endian): magic = 0x00 0x00 <dtype> <ndim>, then ndim uint32 sizes, then data.
Images are idx3 (magic 0x00000803), labels idx1 (0x00000801), both of unsigned bytes."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from convnet.errors import DataError

_UBYTE = 0x08


def read_idx(path: str | Path, expect_ndim: int | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes into a numpy array of its declared shape."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"IDX file not found: {path}") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt or truncated gzip data ({e})") from None
    return parse_idx(raw, str(path), expect_ndim)


def parse_idx(raw: bytes, name: str = "IDX data", expect_ndim: int | None = None) -> np.ndarray:
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{name}: not an IDX file (wrong magic number {raw[:4].hex() or 'empty'})")
    dtype, ndim = raw[2], raw[3]
    if dtype != _UBYTE:
        raise DataError(f"{name}: IDX element type 0x{dtype:02x} is not unsigned byte (0x08)")
    if expect_ndim is not None and ndim != expect_ndim:
        raise DataError(f"{name}: expected an idx{expect_ndim} file, found idx{ndim} "
                        f"(magic 0x{int.from_bytes(raw[:4], 'big'):08x})")
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares no dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if shape[0] == 0:
        raise DataError(f"{name}: IDX file holds no items (its header declares shape {tuple(shape)})")
    expected = math.prod(shape)        # exact: numpy's product wraps around past 2**63
    if len(raw) - header < expected:
        raise DataError(f"{name}: truncated IDX data: header declares shape {tuple(shape)} "
                        f"({expected} bytes) but only {len(raw) - header} bytes follow")
    return np.frombuffer(raw, np.uint8, count=expected, offset=header).reshape(shape).copy()


def write_idx(path: str | Path, array: np.ndarray, compress: bool = True) -> None:
    """Write a uint8 array as IDX (used to build the embedded digits and in tests)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    if compress:
        data = gzip.compress(data, compresslevel=9, mtime=0)
    Path(path).write_bytes(data)


def write_idx_subset(source: Path, dest: Path, n_train: int | None, n_test: int | None) -> Path:
    """The first n_train training and n_test test images of an IDX folder, as a new IDX folder
    (None keeps a split whole). Small real data sets for tests and quick benchmarks."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = load_idx_pair(Path(source), prefix)
        write_idx(dest / f"{prefix}-images-idx3-ubyte.gz", images[:n])
        write_idx(dest / f"{prefix}-labels-idx1-ubyte.gz", labels[:n])
    return dest


def load_idx_pair(folder: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, H, W] and labels [N] of one split (prefix 'train' or 't10k')."""
    images = read_idx(_find(folder, f"{prefix}-images-idx3-ubyte"), expect_ndim=3)
    label_path = _find(folder, f"{prefix}-labels-idx1-ubyte")
    labels = read_idx(label_path, expect_ndim=1)
    if len(images) != len(labels):
        raise DataError(f"{folder}: {prefix} has {len(images)} images but {len(labels)} labels")
    if prefix == "train":
        check_dense_labels(labels, label_path)
    return images, labels


MAX_EMPTY_CLASSES = 16   # class numbers without a training image tolerated (small subsets lack some)


def check_dense_labels(labels: np.ndarray, name) -> None:
    """The class count of an unnamed IDX set is read as largest label + 1, so one corrupt byte
    (200 among 0..9) would make a 201-class model without a word. Refused: training labels
    that leave more class numbers empty than they use, and more than MAX_EMPTY_CLASSES of them
    (a small subset missing a few classes is fine)."""
    counts = np.bincount(labels)
    empty = int((counts == 0).sum())
    used = len(counts) - empty
    if empty > MAX_EMPTY_CLASSES and empty > used:
        rare = [int(v) for v in np.flatnonzero(counts) if counts[v] <= 3][-3:]
        hint = f"; labels {rare} occur at most 3 times: a corrupt label byte?" if rare else ""
        raise DataError(f"{name}: labels run to {len(counts) - 1} but {empty} of the class numbers "
                        f"below it have no training image{hint}")


def _find(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: missing {stem}.gz (or {stem})")
