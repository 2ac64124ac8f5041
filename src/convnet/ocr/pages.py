"""Splitting a page image into text lines by its horizontal projection profile.

The page is read as grayscale; if its median is dark the page is taken to be light text on a
dark ground and inverted. A pixel is ink if it is clearly darker than the brightest pixel near
it (the local background, so uneven lighting is no ink); a row holds text if its share of ink
pixels is at least 0.5% and 8% of a typical text row's (the 95th percentile). Runs of inky rows separated by fewer than 2 blank rows are one line; runs shorter
than 5 rows (specks, rules) are dropped. Each line is cropped to its ink columns with a small
margin on every side; the caller scales it to the model's height."""

from __future__ import annotations

import numpy as np

from convnet.errors import DataError

ROW_INK = 0.005         # share of a row's pixels that must be ink for the row to count, at least
ROW_SHARE = 0.08        # ... and at least this share of a typical text row's ink (its 95th percentile)
MIN_ROWS = 5            # shorter runs of inky rows are noise, not text
MERGE_GAP = 2           # blank rows inside a line (between a letter's parts) that do not split it
MARGIN = 3              # pixels kept around each line's ink
BACKGROUND = 15         # odd: the window (pixels) over which the background is the brightest pixel
CONTRAST = 40           # grey levels darker than the background that are ink


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """uint8 [H, W] grayscale -> bool [H, W], True where there is ink (dark on light, either way).
    The background is the brightest pixel within BACKGROUND pixels (a grey closing), so uneven
    lighting (a photographed page darker at one side) does not read as ink."""
    from PIL import Image, ImageFilter

    g = gray if np.median(gray) >= 128 else 255 - gray     # light text on a dark ground: invert
    background = np.asarray(Image.fromarray(np.ascontiguousarray(g)).filter(ImageFilter.MaxFilter(BACKGROUND)),
                            dtype=np.float32)
    return background - g.astype(np.float32) > np.maximum(CONTRAST, 0.25 * background)


def split_lines(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """uint8 [H, W] page -> the (top, bottom, left, right) boxes of its text lines, top to
    bottom (bottom and right exclusive). An empty list: no text found."""
    ink = ink_mask(gray)
    share = ink.mean(1)
    # descenders and ascenders touching between lines are a little ink: relative to a text row's
    rows = share > max(ROW_INK, ROW_SHARE * float(np.percentile(share, 95)))
    runs, start, blank = [], None, 0
    for y, inky in enumerate(rows):
        if inky:
            if start is None:
                start = y
            blank, end = 0, y + 1
        elif start is not None:
            blank += 1
            if blank > MERGE_GAP:
                runs.append((start, end))
                start = None
    if start is not None:
        runs.append((start, end))
    boxes = []
    h, w = gray.shape
    for top, bottom in runs:
        if bottom - top < MIN_ROWS:
            continue
        cols = np.flatnonzero(ink[top:bottom].any(0))
        boxes.append((max(0, top - MARGIN), min(h, bottom + MARGIN),
                      max(0, int(cols[0]) - MARGIN), min(w, int(cols[-1]) + 1 + MARGIN)))
    return boxes


def page_lines(gray: np.ndarray, name: str = "page") -> list[np.ndarray]:
    """The line images (uint8 [h, w] crops, dark ink on white) of a page, top to bottom;
    DataError naming the page if it holds no text."""
    boxes = split_lines(gray)
    if not boxes:
        raise DataError(f"{name}: no text lines found (a blank page, or too little contrast)")
    dark_ground = np.median(gray) < 128
    return [(255 - gray[t:b, l:r]) if dark_ground else gray[t:b, l:r] for t, b, l, r in boxes]
