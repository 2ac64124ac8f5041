"""Perceptual hashes of images as 64-bit integers, and grouping by Hamming distance.

Both hashes read an image as gray levels shrunk by area averaging, so a resized, recompressed
or slightly retouched copy keeps nearly the same bits while different pictures differ in about
half of them:

    dhash   shrunk to 8 rows x 9 columns; bit 8r+c set where pixel (r, c+1) is brighter than
            (r, c) (Krawetz's difference hash)
    phash   shrunk to 32x32; its 2-D DCT-II; bit 8u+v set where low-frequency coefficient
            (u, v), u, v < 8, DC included, is above the median of those 64

Bits are packed row by row, most significant first, as the `imagehash` package writes them,
so `f"{h:016x}"` is the hex string imagehash prints for the same shrunk pixels. Everything
works on a batch [N, H, W] at once; `thumbnail` brings one PIL image of any size to the
[32, 32] gray square the batch is made of. `close_pairs` compares every pair in blocks
(N^2/2 XOR-and-popcounts: about a second for 10,000 images), `near_pairs` keeps the pairs
whose thumbnails agree too, and `groups` joins pairs into sets of copies."""

from __future__ import annotations

import numpy as np

HASH_SIDE = 8                   # 8x8 = 64 bits
THUMB = 32                      # pHash's DCT input side (4x the hash side, as imagehash)
COMPARE_SIDE = 16               # near_pairs compares thumbnails averaged to this side
_BLOCK_PAIRS = 4 << 20          # XORs per block in close_pairs: ~32 MB of uint64 at a time


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Weights [n_out, n_in] that average each output cell's share of the input pixels.

    Output cell o covers input span [o*s, (o+1)*s), s = n_in/n_out; input pixel i weighs its
    overlap with that span, divided by s, so every row sums to 1 (upsampling repeats pixels)."""
    s = n_in / n_out
    lo = np.arange(n_out)[:, None] * s                   # [n_out, 1] span starts
    i = np.arange(n_in)[None, :]                         # [1, n_in] pixel starts
    overlap = np.clip(np.minimum(lo + s, i + 1) - np.maximum(lo, i), 0, None)
    return overlap / s


def shrink(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average a batch of gray images [N, H, W] to float [N, h, w] (size = (h, w)): float32
    (plenty for 8-bit levels, and half the memory traffic), float64 when no resizing is needed."""
    if np.ndim(images) != 3:
        raise ValueError(f"expected gray images [N, H, W], got shape {np.shape(images)}")
    n, h, w = np.shape(images)
    if (h, w) == tuple(size):
        return np.asarray(images, dtype=np.float64)
    images = np.asarray(images, dtype=np.float32)
    return separable(images, area_matrix(h, size[0]).astype(np.float32), area_matrix(w, size[1]).astype(np.float32))


def separable(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """rows [h, H] @ image [H, W] @ cols[w, W]^T for each image of [N, H, W] -> [N, h, w].

    Two tensordots, each one big matrix product over the whole batch (a batched matmul of
    28x28 matrices is several times slower)."""
    x = np.tensordot(images, cols, axes=([2], [1]))    # [N, H, w]
    x = np.tensordot(rows, x, axes=([1], [1]))         # [h, N, w]
    return x.transpose(1, 0, 2)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """bool [N, 8, 8] -> uint64 [N], row-major, first bit most significant."""
    packed = np.packbits(bits.reshape(len(bits), 64), axis=1, bitorder="big")   # [N, 8] bytes
    return packed.view(">u8").reshape(-1).astype(np.uint64)


def dhash(images: np.ndarray) -> np.ndarray:
    """Difference hashes uint64 [N] of gray images [N, H, W]."""
    small = shrink(images, (HASH_SIDE, HASH_SIDE + 1))  # [N, 8, 9]
    return pack_bits(small[:, :, 1:] > small[:, :, :-1])


def dct_matrix(n: int) -> np.ndarray:
    """Unnormalised DCT-II [n, n] (scipy.fftpack.dct's default): C[k, m] = 2 cos(pi k (2m+1) / 2n)."""
    k, m = np.arange(n)[:, None], np.arange(n)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * m + 1) / (2 * n))


def phash(images: np.ndarray) -> np.ndarray:
    """DCT hashes uint64 [N] of gray images [N, H, W]."""
    small = shrink(images, (THUMB, THUMB)).astype(np.float64)                  # [N, 32, 32]
    c = dct_matrix(THUMB)[:HASH_SIDE]                   # [8, 32]: only the low frequencies
    low = separable(small, c, c)                        # [N, 8, 8]
    # A flat region's AC coefficients are 0 up to rounding noise; zero them so the noise of
    # one way of summing does not decide bits (a blank image hashes to the DC bit alone).
    scale = np.abs(low).reshape(len(low), -1).max(axis=1)[:, None, None]
    low = np.where(np.abs(low) <= 1e-9 * (scale + 1.0), 0.0, low)
    med = np.median(low.reshape(len(low), -1), axis=1)[:, None, None]
    return pack_bits(low > med)


HASHES = {"dhash": dhash, "phash": phash}


def thumbnail(im, side: int = THUMB) -> np.ndarray:
    """One PIL image -> uint8 [side, side] gray, the input `dhash`/`phash` batches are made of.

    A JPEG of more than 4x the side is decoded at a reduced scale (`draft`: 1/2 to 1/8, straight
    from the DCT blocks): a 12-megapixel photo takes 20 ms instead of 130. Transparent pixels
    are composited over white first, as convnet.data.images shows them."""
    from PIL import Image

    box = None
    if im.format == "JPEG":
        # at least 4x the side: coarser DCT scaling blurs more than the area average would
        scaled = im.draft("L", (side * 4, side * 4))
        box = scaled[1] if scaled else None             # the decoded part, in the new pixels
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    if im.mode in ("I", "I;16", "F"):                   # 16-bit and float: stretch to 0..255
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        im = Image.fromarray(((a - lo) / (hi - lo or 1.0) * 255).round().astype(np.uint8), "L")
    gray = im.convert("L")
    return np.asarray(gray.resize((side, side), Image.Resampling.BOX, box=box), dtype=np.uint8)


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64, as uint8 (numpy's bitwise_count where it exists: numpy >= 2.0)."""
    x = np.asarray(x, dtype=np.uint64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return popcount_table(x)


def popcount_table(x: np.ndarray) -> np.ndarray:
    """popcount for numpy 1.x: the set bits of each of the 8 bytes, looked up and added."""
    x = np.ascontiguousarray(x, dtype=np.uint64)
    return _BYTE_BITS[x.view(np.uint8).reshape(*x.shape, 8)].sum(axis=-1, dtype=np.uint8)


def _popcount_into(x: np.ndarray, out: np.ndarray) -> None:
    if hasattr(np, "bitwise_count"):
        np.bitwise_count(x, out=out)
    else:
        out[...] = popcount(x)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances uint8 [N, M] between hashes a [N] and b [M]."""
    return popcount(np.asarray(a, np.uint64)[:, None] ^ np.asarray(b, np.uint64)[None, :])


def close_pairs(hashes: np.ndarray, threshold: int | tuple[int, ...], others: np.ndarray | None = None,
                progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) whose hashes are all within `threshold` bits.

    hashes [N, K] (K hashes per image, e.g. dHash and pHash; [N] for one) and a threshold per
    column (or one for all). Without `others`: pairs within the set, i < j. With others [M, K]:
    pairs across, i into hashes and j into others. A block of rows at a time is compared with
    every later row on the first column; only the pairs that pass are checked on the others.
    `progress(pairs)` is called after each block with the number of pairs it compared."""
    a = _columns(hashes)
    b = a if others is None else _columns(others)
    limits = np.broadcast_to(np.asarray(threshold), (a.shape[1],))
    rows = max(1, min(len(a), _BLOCK_PAIRS // max(1, len(b))))
    # one set of buffers for every block: a fresh 32 MB array a block costs more in page
    # faults than the XOR itself
    xor = np.empty((rows, len(b)), np.uint64)
    bits = np.empty((rows, len(b)), np.uint8)
    close = np.empty((rows, len(b)), bool)
    found_i, found_j = [], []
    within = others is None
    for start in range(0, len(a), rows):
        block = a[start:start + rows, 0, None]           # [r, 1]
        right = b[start:, 0] if within else b[:, 0]     # within one set: only j > i, from `start` on
        r, m = len(block), len(right)
        np.bitwise_xor(block, right[None, :], out=xor[:r, :m])
        _popcount_into(xor[:r, :m], bits[:r, :m])
        np.less_equal(bits[:r, :m], limits[0], out=close[:r, :m])
        if within:                                      # the diagonal square: j > i only
            close[:r, :r] &= np.triu(np.ones((r, r), bool), 1)
        i, j = np.nonzero(close[:r, :m])
        i, j = i + start, (j + start if within else j)
        for k in range(1, a.shape[1]):                  # the other hashes, on the survivors only
            ok = popcount(a[i, k] ^ b[j, k]) <= limits[k]
            i, j = i[ok], j[ok]
        found_i.append(i)
        found_j.append(j)
        if progress is not None:
            progress(r * m)
    if not found_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(found_i).astype(np.int64), np.concatenate(found_j).astype(np.int64)


def hash_images(images: np.ndarray, kinds: tuple[str, ...] = ("dhash", "phash"), chunk: int = 1024) -> np.ndarray:
    """Hashes uint64 [N, len(kinds)] of gray images [N, H, W], a chunk at a time (a float copy
    of a whole 60,000-image set at 32x32 would take a quarter of a gigabyte)."""
    out = np.zeros((len(images), len(kinds)), np.uint64)
    for start in range(0, len(images), chunk):
        part = np.asarray(images[start:start + chunk])
        for k, kind in enumerate(kinds):
            out[start:start + len(part), k] = HASHES[kind](part)
    return out


def thumbnails(images: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Gray images [N, H, W] (all one size, e.g. an IDX set) -> uint8 [N, 32, 32] by area
    averaging, a chunk at a time: what `thumbnail` makes of one PIL image, for a whole array."""
    out = np.zeros((len(images), THUMB, THUMB), np.uint8)
    for start in range(0, len(images), chunk):
        part = shrink(images[start:start + chunk], (THUMB, THUMB))
        out[start:start + len(part)] = np.clip(part.round(), 0, 255)
    return out


def rms_distance(thumbs: np.ndarray, i: np.ndarray, j: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Root-mean-square gray-level difference float [P] of thumbnails i[p] and j[p] of thumbs
    [N, h, w]: what tells a resized or recompressed copy (a few levels everywhere) from a
    different picture whose hashes happen to agree (large local differences: another hand's
    "1" is a stroke a few pixels over)."""
    out = np.zeros(len(i), np.float64)
    for start in range(0, len(i), chunk):
        a = thumbs[i[start:start + chunk]].astype(np.float32)
        b = thumbs[j[start:start + chunk]].astype(np.float32)
        out[start:start + len(a)] = np.sqrt(((a - b) ** 2).mean(axis=(1, 2)))
    return out


def near_pairs(hashes: np.ndarray, thumbs: np.ndarray, hash_bits: int = 10, pixel_rms: float = 6.0,
               progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j), i < j, of near copies among thumbs [N, 32, 32] with pHashes [N] (or
    hashes [N, K], each within the bound): hashes within `hash_bits` bits (the candidates),
    then the thumbnails averaged to 16x16 within `pixel_rms` gray levels RMS (the check).

    pHash, not dHash, picks the candidates: on a flat background the slightest noise flips
    dHash's bits (a noisy or JPEG copy of an MNIST digit moves it up to 25 bits, pHash 4).
    16x16, not 32x32: a copy a third the size of its original keeps too little of a 32x32
    thumbnail's finest detail. Measured on 288 resized (0.5x to 1.5x) and JPEG-recompressed
    (quality 40 to 90) copies of 12 photos at 64 px to full size, the defaults find 90% of the
    copies (97% of those 60 px or larger) and join 1 pair among 6,000 MNIST digits, whose hashes
    alone join over 100,000 pairs of different hands' digits. The RMS of 8x8 block means is never
    above that of the 16x16 pixels (a block's mean difference squared is at most its mean
    squared difference), so candidates that fail at 8x8 are dropped first."""
    i, j = close_pairs(hashes, hash_bits, progress=progress)
    for side in (COMPARE_SIDE // 2, COMPARE_SIDE):
        small = shrink(thumbs, (side, side)).astype(np.float32)                 # [N, side, side]
        ok = rms_distance(small, i, j) <= pixel_rms + (1e-3 if side < COMPARE_SIDE else 0.0)
        i, j = i[ok], j[ok]
    return i, j


def _columns(hashes: np.ndarray) -> np.ndarray:
    h = np.asarray(hashes, dtype=np.uint64)
    return h[:, None] if h.ndim == 1 else h


def groups(n: int, i: np.ndarray, j: np.ndarray) -> list[list[int]]:
    """The connected sets (of 2 or more, each sorted, the list ordered by first member) that the
    pairs (i, j) join among n items: near copies chain, so A~B and B~C make one set."""
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]               # path halving keeps the trees flat
            x = parent[x]
        return x

    for a, b in zip(np.asarray(i).tolist(), np.asarray(j).tolist()):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = {}
    for x in sorted({int(v) for v in np.concatenate([np.asarray(i), np.asarray(j)]).tolist()}):
        members.setdefault(root(x), []).append(x)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])
