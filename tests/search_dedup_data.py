"""The dedup test folder: the photos of ../shared/images, five transformed copies of each
(crop to 87.5%, mirror, rotation by 10-25 degrees, resize to 60%, JPEG quality 30), among
Fashion-MNIST distractors written as PNGs. Returns the folder and the true groups (paths)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def transformed(im, kind: str, rng):
    from PIL import Image

    w, h = im.size
    if kind == "crop":
        cw, ch = round(w * 0.875), round(h * 0.875)
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        return im.crop((x, y, x + cw, y + ch))
    if kind == "flip":
        return im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if kind == "rotate":
        angle = float(rng.uniform(10, 25)) * (1 if rng.random() < 0.5 else -1)
        return im.rotate(angle, resample=Image.Resampling.BILINEAR, expand=False)
    if kind == "resize":
        return im.resize((round(w * 0.6), round(h * 0.6)), Image.Resampling.LANCZOS)
    raise ValueError(kind)


KINDS = ("crop", "flip", "rotate", "resize", "jpeg")


def build(root: Path, images: Path, fashion: Path, distractors: int = 1000, seed: int = 0):
    from PIL import Image

    from convnet.data.idx import load_idx_pair

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    truth = []
    for f in sorted(p for p in images.iterdir() if p.suffix in (".png", ".jpg")):
        im = Image.open(f).convert("RGB")
        group = [root / f"{f.stem}.png"]
        im.save(group[0])
        for kind in KINDS:
            if kind == "jpeg":
                p = root / f"{f.stem}-jpeg.jpg"
                im.save(p, quality=30)
            else:
                p = root / f"{f.stem}-{kind}.png"
                transformed(im, kind, rng).save(p)
            group.append(p)
        truth.append(sorted(str(p) for p in group))
    pics, _ = load_idx_pair(fashion, "t10k")
    pics = np.asarray(pics)
    pick = rng.choice(len(pics), distractors, replace=False)
    for n, k in enumerate(pick):
        Image.fromarray(pics[k].reshape(28, 28)).save(root / f"fashion-{n:04d}.png")
    return root, truth
