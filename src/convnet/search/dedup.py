"""Exact and near duplicates in a folder of images, grouped; nothing is ever deleted.

    exact   the same bytes (SHA-256 of the file)
    near    a perceptual hash (pHash, convnet.data.hashing) of the gray 32x32 thumbnail or of its
            mirror image within `hash_bits` bits, confirmed by the 16x16 thumbnails (the
            mirrored one for a mirrored match) within `pixel_rms` gray levels: resized,
            recompressed and mirrored copies; and, when a run is given, cosine similarity of
            the run's embeddings of at least `threshold`: crops and rotations too
Pairs join into groups transitively (A~B, B~C: one group)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convnet.data import hashing
from convnet.errors import ConvnetError, DataError


@dataclass
class Found:
    files: list[Path]
    exact: list[list[int]]              # groups of identical files
    near: list[list[int]]               # groups of near copies (exact copies included)
    skipped: list[str]                  # unreadable files, one message each
    reasons: dict                       # (i, j) -> "exact" | "phash" | "embedding"

    def to_dict(self) -> dict:
        name = lambda g: [str(self.files[i]) for i in g]       # noqa: E731
        return {"files": len(self.files), "exact_groups": [name(g) for g in self.exact],
                "near_groups": [name(g) for g in self.near], "skipped": self.skipped}


def scan(folder: str | Path, warn=None) -> tuple[list[Path], list[str], np.ndarray, list[str]]:
    """(readable image files, their SHA-256, views uint8 [N, V, 32, 32], skipped messages)."""
    from convnet.data.images import open_image
    from convnet.search.embed import list_images

    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{folder}: no such folder")
    files, digests, thumbs, skipped = [], [], [], []
    for f, _ in list_images([root]):
        try:
            im = open_image(f, "RGB")
        except ConvnetError as e:
            skipped.append(str(e))
            if warn:
                warn(f"skipped: {e}")
            continue
        files.append(f)
        digests.append(hashlib.sha256(f.read_bytes()).hexdigest())
        thumbs.append(views(im))
    empty = np.zeros((0, N_VIEWS, hashing.THUMB, hashing.THUMB), np.uint8)
    return files, digests, np.stack(thumbs) if thumbs else empty, skipped


def exact_pairs(digests: list[str]) -> tuple[np.ndarray, np.ndarray]:
    first: dict[str, int] = {}
    i, j = [], []
    for k, d in enumerate(digests):
        if d in first:
            i.append(first[d])
            j.append(k)
        else:
            first.setdefault(d, k)
    return np.array(i, np.int64), np.array(j, np.int64)


ANGLES = tuple(a * sign for a in (10, 12.5, 15, 17.5, 20, 22.5, 25) for sign in (-1, 1))   # at most 1.25 degrees off
CROP = 0.875
OFFSETS = (0.0, 0.25, 0.5, 0.75, 1.0)          # of the crop's slack: at most 1.6% of the side off
VIEW_SIDE = 4 * hashing.THUMB                    # views are cut from a copy this long on its long side


def views(im) -> np.ndarray:
    """uint8 [V, 32, 32] gray thumbnails of one PIL image: itself, its mirror, rotated by each of
    ANGLES (corners black, as a rotated copy's are) and cropped to 87.5% at 5x5 offsets. A copy
    that was mirrored, rotated or cropped looks like one of its original's views, so comparing
    each image with every other image's views finds it by pHash."""
    from PIL import Image

    gray = _gray(im)
    w, h = gray.size
    scale = VIEW_SIDE / max(w, h)
    if scale < 1:                                # keep the aspect: a rotation of the real shape
        gray = gray.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
        w, h = gray.size
    out = [gray, gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    out += [gray.rotate(a, resample=Image.Resampling.BILINEAR) for a in ANGLES]
    cw, ch = CROP * w, CROP * h
    for fy in OFFSETS:
        for fx in OFFSETS:
            x, y = fx * (w - cw), fy * (h - ch)
            out.append(gray.resize((hashing.THUMB, hashing.THUMB), Image.Resampling.BOX, box=(x, y, x + cw, y + ch)))
    side = (hashing.THUMB, hashing.THUMB)
    return np.stack([np.asarray(v.resize(side, Image.Resampling.BOX) if v.size != side else v, np.uint8) for v in out])


N_VIEWS = 2 + len(ANGLES) + len(OFFSETS) ** 2


def _gray(im):
    """The gray image hashing.thumbnail would shrink (transparency over white), at full size."""
    from PIL import Image

    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return im.convert("L")


def hash_pairs(all_views: np.ndarray, hash_bits: int, pixel_rms: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs i < j of near copies from views uint8 [N, V, 32, 32] (view 0: the image itself):
    image i's pHash within hash_bits of one of image j's views, confirmed by their 16x16
    thumbnails within pixel_rms gray levels RMS."""
    n, v = all_views.shape[:2]
    flat = all_views.reshape(n * v, hashing.THUMB, hashing.THUMB)
    h = hashing.phash(flat)                                          # [N * V]
    i, jv = hashing.close_pairs(h.reshape(n, v)[:, 0], hash_bits, others=h)
    keep = i != jv // v
    i, jv = i[keep], jv[keep]
    side = hashing.COMPARE_SIDE
    small = hashing.shrink(flat, (side, side)).astype(np.float32)    # [N * V, 16, 16]
    ok = hashing.rms_distance(small, i * v, jv) <= pixel_rms
    i, j = i[ok], jv[ok] // v
    a, b = np.minimum(i, j), np.maximum(i, j)
    pairs = np.unique(np.stack([a, b], 1), axis=0) if len(a) else np.zeros((0, 2), np.int64)
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)


def embedding_pairs(vectors: np.ndarray, threshold: float, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Pairs i < j of unit rows [N, D] with cosine similarity >= threshold, a block at a time."""
    import torch

    v = torch.as_tensor(vectors, dtype=torch.float32)
    found_i, found_j = [], []
    for start in range(0, len(v), block):
        s = v[start:start + block] @ v.T                              # [b, N]
        i, j = torch.nonzero(s >= threshold, as_tuple=True)
        i = i + start
        keep = i < j
        found_i.append(i[keep].numpy())
        found_j.append(j[keep].numpy())
    if not found_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(found_i).astype(np.int64), np.concatenate(found_j).astype(np.int64)


def find_duplicates(folder, run_dir=None, threshold: float = 0.99, hash_bits: int = 12, pixel_rms: float = 12.0,
                    warn=None, embedder=None) -> Found:
    files, digests, thumbs, skipped = scan(folder, warn)
    if not files:
        raise DataError(f"{folder}: no readable images")
    pairs = {"exact": exact_pairs(digests), "phash": hash_pairs(thumbs, hash_bits, pixel_rms)}
    if run_dir is not None or embedder is not None:
        from convnet.search.embed import Embedder, load_files

        embedder = embedder or Embedder(run_dir)
        images, paths, _ = load_files(embedder, files)
        if paths != [str(f) for f in files]:
            raise DataError(f"{folder}: files changed while being read; run again")
        pairs["embedding"] = embedding_pairs(embedder.embed_tensor(images, progress=False), threshold)
    reasons = {}
    for kind in ("embedding", "phash", "exact"):             # the strongest reason wins
        for a, b in zip(*[x.tolist() for x in pairs.get(kind, (np.zeros(0), np.zeros(0)))]):
            reasons[(a, b)] = kind
    ei, ej = pairs["exact"]
    all_i = np.concatenate([p[0] for p in pairs.values()])
    all_j = np.concatenate([p[1] for p in pairs.values()])
    return Found(files, hashing.groups(len(files), ei, ej), hashing.groups(len(files), all_i, all_j),
                 skipped, reasons)
