"""`--gif`: the filter sliding over the input while the activation map fills in, one frame per
output position (PIL only; the frames are drawn cell by cell as big pixels)."""

from __future__ import annotations

import math

import numpy as np

MAX_FRAMES = 120
PANEL = 256          # pixels on the long side of each panel


def _to_rgb(values: np.ndarray) -> np.ndarray:
    """[3, H, W] RGB in [0, 1] -> uint8 [H, W, 3] as is; [H, W] -> gray, stretched to min..max."""
    if values.ndim == 3:
        return (np.clip(values, 0, 1).transpose(1, 2, 0) * 255).round().astype(np.uint8)
    gray = values
    lo, hi = float(gray.min()), float(gray.max())
    g = ((gray - lo) / (hi - lo) * 255) if hi > lo else np.full_like(gray, 128)
    return np.repeat(g.round().astype(np.uint8)[..., None], 3, axis=2)


def _diverging(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Activation map -> uint8 [H, W, 3]: blue negative, white zero, red positive; unknown cells dark."""
    scale = float(np.abs(values).max()) or 1.0
    t = np.clip(values / scale, -1, 1)[..., None]
    white = np.array([255, 255, 255])
    rgb = np.where(t >= 0, white + t * (np.array([200, 30, 30]) - white),
                   white - t * (np.array([30, 60, 200]) - white))
    rgb[~known] = (60, 60, 60)
    return rgb.round().astype(np.uint8)


def _panel(rgb: np.ndarray, cell: int, numbers: np.ndarray | None, known: np.ndarray | None = None):
    from PIL import Image, ImageDraw

    h, w, _ = rgb.shape
    im = Image.fromarray(rgb).resize((w * cell, h * cell), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(im)
    if numbers is not None:                               # small inputs: the values in the cells
        for y in range(h):
            for x in range(w):
                if known is None or known[y, x]:
                    v = numbers[y, x]
                    text = f"{int(round(v))}" if abs(v - round(v)) < 1e-9 else f"{v:.1f}"
                    draw.text((x * cell + cell // 3, y * cell + cell // 3), text,
                              fill=(0, 0, 0) if rgb[y, x].mean() > 110 else (255, 255, 255))
        for i in range(h + 1):
            draw.line([(0, i * cell), (w * cell, i * cell)], fill=(120, 120, 120))
        for i in range(w + 1):
            draw.line([(i * cell, 0), (i * cell, h * cell)], fill=(120, 120, 120))
    return im, draw


def sliding_gif(path, shown_input: np.ndarray, out_map: np.ndarray, kernel: int, stride: int,
                title: str, duration_ms: int | None = None, max_frames: int = MAX_FRAMES) -> int:
    """Write the animation; returns the number of frames.

    shown_input [H, W] (one depth slice) or [3, H, W] (an RGB image in [0, 1]), already padded;
    out_map [H', W'] (one activation map)."""
    from PIL import Image, ImageDraw

    from convnet.fileio import atomic_write

    hp, wp = shown_input.shape[-2:]
    ho, wo = out_map.shape
    cell_in = max(1, PANEL // max(hp, wp))
    cell_out = max(1, PANEL // max(ho, wo))
    small = max(hp, wp) <= 12
    in_rgb = _to_rgb(shown_input)
    numbers_in = (shown_input if shown_input.ndim == 2 else shown_input[0]) if small else None
    order = [(y, x) for y in range(ho) for x in range(wo)]
    step = max(1, math.ceil(len(order) / max_frames))             # long animations skip positions
    picked = list(range(0, len(order), step))
    if picked[-1] != len(order) - 1:
        picked.append(len(order) - 1)
    frames = []
    for idx in picked:
        y, x = order[idx]
        known = np.zeros((ho, wo), bool)
        known.reshape(-1)[:idx + 1] = True
        left, draw = _panel(in_rgb, cell_in, numbers_in)
        r0, c0 = y * stride * cell_in, x * stride * cell_in
        span = kernel * cell_in
        draw.rectangle([c0, r0, c0 + span - 1, r0 + span - 1], outline=(255, 200, 0), width=max(2, cell_in // 8))
        right, draw_r = _panel(_diverging(out_map, known), cell_out, out_map if max(ho, wo) <= 12 else None, known)
        draw_r.rectangle([x * cell_out, y * cell_out, (x + 1) * cell_out - 1, (y + 1) * cell_out - 1],
                         outline=(255, 200, 0), width=max(2, cell_out // 8))
        width = left.width + right.width + 30
        frame = Image.new("RGB", (width, max(left.height, right.height) + 24), (255, 255, 255))
        frame.paste(left, (0, 24))
        frame.paste(right, (left.width + 30, 24))
        ImageDraw.Draw(frame).text((4, 4), f"{title}   out[{y},{x}] = {out_map[y, x]:.3g}", fill=(0, 0, 0))
        frames.append(frame.quantize(colors=255, method=Image.Quantize.FASTOCTREE))   # fast; GIF needs a palette
    duration = duration_ms or max(40, min(600, 12000 // len(frames)))

    def write(tmp):
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=duration, loop=0)

    atomic_write(path, write)
    return len(frames)
