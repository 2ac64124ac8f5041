"""Line images and their texts: the folder format every OCR data set here uses.

A data set is a folder holding `labels.tsv` (UTF-8, one line per image) and the images:

    digits_000001.png<TAB>40213
    scans/line 7.png<TAB>The quick brown fox

the file is relative to the folder; the text is everything after the tab and may not hold
another tab, a line break or any other control character. Lines may be of any width and
height: each is read as grayscale and scaled to HEIGHT (32) pixels, its width in proportion.
Blank lines and lines starting with '#' are comments. A corrupt or missing image, an image
too narrow to hold its text, an empty text and (when an alphabet is given) a text with
characters outside it are reported and skipped; a folder with no usable line is an error."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convnet.errors import DataError

HEIGHT = 32                   # pixels: every line is scaled to this height
LABELS = "labels.tsv"
MIN_WIDTH = 8                 # pixels at HEIGHT: narrower images cannot hold a character
PER_CHAR = 4                  # the CRNN emits a column every 4 pixels: a text needs >= 4 px a char
MAX_WIDTH = 4096              # pixels at HEIGHT: longer lines are refused (memory per batch)


@dataclass
class LineSet:
    """Line images (uint8 [HEIGHT, W_i], ink dark on white) with their texts."""

    images: list = field(default_factory=list)
    texts: list = field(default_factory=list)
    files: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, index) -> "LineSet":
        return LineSet([self.images[i] for i in index], [self.texts[i] for i in index],
                       [self.files[i] for i in index])

    @property
    def widths(self) -> np.ndarray:
        return np.array([im.shape[1] for im in self.images], dtype=np.int64)


def note_to_stderr(message: str) -> None:
    import sys

    print(f"note: {message}", file=sys.stderr)


def to_line(im) -> np.ndarray:
    """A PIL image -> uint8 [HEIGHT, W] grayscale, scaled to HEIGHT rows (width in proportion,
    at least 1 pixel)."""
    from PIL import Image

    im = im.convert("L")
    w, h = im.size
    if h != HEIGHT:
        w = max(1, round(w * HEIGHT / h))
        im = im.resize((w, HEIGHT), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8).copy()


def load_line(path, name: str | None = None) -> np.ndarray:
    """One line image from a file (DataError naming it if it is not a readable image)."""
    from convnet.data.images import open_image

    return to_line(open_image(path, "L", name))


def check_text(text: str, where: str) -> str:
    """The text of a label, or DataError if it holds a tab, a line break or a control character
    (the TSV would be ambiguous: such a label is an error, not something to guess around)."""
    for ch in text:
        if ch == "\t":
            raise DataError(f"{where}: the text holds a tab (labels.tsv is file<TAB>text, one tab a line)")
        if ch in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029":
            raise DataError(f"{where}: the text holds a line break ({ch!r})")
        if unicodedata.category(ch) == "Cc":
            raise DataError(f"{where}: the text holds the control character {ch!r}")
    return text


def parse_labels(raw: bytes, name: str) -> list[tuple[int, str, str]]:
    """(line number, file, text) of each entry of a labels.tsv's bytes."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{name}: not UTF-8 (byte {e.start}: {raw[e.start:e.start + 1]!r})") from None
    entries = []
    # split on \n only: any other line break inside a text is then seen, and refused
    for number, line in enumerate(text.split("\n"), 1):
        line = line[:-1] if line.endswith("\r") else line
        if not line.strip() or line.startswith("#"):
            continue
        if "\t" not in line:
            raise DataError(f"{name} line {number}: no tab (expected file<TAB>text): {line[:60]!r}")
        file, label = line.split("\t", 1)
        if not file.strip():
            raise DataError(f"{name} line {number}: no file name before the tab")
        entries.append((number, file, check_text(label, f"{name} line {number}")))
    return entries


def read_line_folder(folder, alphabet: str | None = None, note=note_to_stderr) -> LineSet:
    """Every usable line of `folder` (see the module docstring), in labels.tsv's order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    labels = folder / LABELS
    if not labels.is_file():
        empty = not any(folder.iterdir())
        raise DataError(f"{folder}: {'an empty folder' if empty else 'no ' + LABELS} "
                        f"(a line data set is images plus {LABELS}: file<TAB>text a line)")
    entries = parse_labels(labels.read_bytes(), str(labels))
    if not entries:
        raise DataError(f"{labels}: no entries (expected file<TAB>text lines)")
    allowed = set(alphabet) if alphabet is not None else None
    root = folder.resolve()
    out = LineSet()
    skipped: dict[str, list[str]] = {}
    for number, file, text in entries:
        path = folder / file
        why, detail = None, ""
        if not text:
            why = "empty text"
        elif allowed is not None and not set(text) <= allowed:
            why, detail = "characters outside the alphabet", "".join(sorted(set(text) - allowed))[:10]
        elif not path.resolve().is_relative_to(root):
            why = "a file outside the folder"
        elif not path.is_file():
            why = "missing file"
        else:
            try:
                image = load_line(path, file)
            except DataError as e:
                why, detail = "unreadable image", str(e)
            else:
                width = image.shape[1]
                if width < max(MIN_WIDTH, PER_CHAR * len(text)):
                    why, detail = "image too narrow for its text", f"{width} px wide at {HEIGHT} px high"
                elif width > MAX_WIDTH:
                    why, detail = "image too wide", f"{width} px wide at {HEIGHT} px high, at most {MAX_WIDTH}"
        if why is not None:
            skipped.setdefault(why, []).append(f"{file} (line {number}{': ' + detail if detail else ''})")
            continue
        out.images.append(image)
        out.texts.append(text)
        out.files.append(file)
    for why, which in skipped.items():
        shown = ", ".join(which[:3]) + (f" and {len(which) - 3} more" if len(which) > 3 else "")
        note(f"{labels}: skipped {len(which):,} line(s), {why}: {shown}")
    if not out:
        raise DataError(f"{folder}: none of the {len(entries):,} line(s) in {LABELS} is usable (see the notes above)")
    return out


def write_line_folder(folder, images, texts, prefix: str = "line") -> Path:
    """Write line images (uint8 [H, W] each) as PNG files plus labels.tsv into `folder`
    (created; labels.tsv written last and atomically, so a folder with one is complete)."""
    from PIL import Image

    from convnet.fileio import atomic_write_bytes

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    digits = len(str(max(len(texts) - 1, 0)))
    for i, (image, text) in enumerate(zip(images, texts)):
        name = f"{prefix}_{i:0{digits}d}.png"
        Image.fromarray(image).save(folder / name)
        rows.append(f"{name}\t{check_text(text, name)}\n")
    atomic_write_bytes(folder / LABELS, "".join(rows).encode("utf-8"))
    return folder
