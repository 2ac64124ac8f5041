"""Reading one image safely: a pixel cap against decompression bombs, one-line errors.

Every path into the package that opens an image (folders, predict, the server) goes
through `open_image`, so the same limits and the same conversion apply everywhere.
Pillow is asked for the accepted formats only (those the server's byte check knows):
its other decoders (DDS, BLP, ...) are rarely exercised and some raise NotImplementedError
on a file that merely claims to be one, whatever the file's name."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from convnet.errors import ConfigError, DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
# Pillow format ids for those suffixes (and serve/images.py's signatures); "JPEG" also opens
# a camera's multi-picture JPEG (MPO)
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
FORMAT_NAMES = "PNG, JPEG, GIF, BMP, TIFF or WebP"
DEFAULT_MAX_PIXELS = 40_000_000


def max_pixels() -> int:
    """The pixel cap: $CONVNET_MAX_PIXELS, else 40 megapixels."""
    text = os.environ.get("CONVNET_MAX_PIXELS", "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise ConfigError(f"CONVNET_MAX_PIXELS={_clip(text)!r} is not a whole number of pixels") from None
    if value < 1:
        raise ConfigError(f"CONVNET_MAX_PIXELS={value} must be at least 1")
    return value


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def open_image(source: str | Path | bytes, mode: str, name: str | None = None):
    """Decode an image file or bytes into a PIL image in `mode` ('L' or 'RGB').

    Raises DataError for a missing file, a non-image, a corrupt or truncated image,
    or one with more pixels than the cap (checked from the header, before decoding)."""
    from PIL import Image, UnidentifiedImageError

    label = name or (str(source) if not isinstance(source, bytes) else "image")
    if isinstance(source, bytes):
        fp = io.BytesIO(source)
    else:
        path = Path(source)
        if not path.exists():
            raise DataError(f"no such file: {path}")
        if path.is_dir():
            raise DataError(f"{path} is a folder, not an image")
        fp = path
    cap = max_pixels()
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that; both are
            # refusals here, raised from the header before any pixel is decoded.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = cap
            with Image.open(fp, formats=FORMATS) as im:
                w, h = im.size
                if w * h > cap:
                    raise DataError(f"{label}: image bomb refused: {w}x{h} = {w * h:,} pixels, more "
                                    f"than the cap of {cap:,} (set CONVNET_MAX_PIXELS to raise it)")
                im.load()
                return _convert(im, mode)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{label}: image bomb refused: more pixels than the cap of {cap:,} "
                        f"(set CONVNET_MAX_PIXELS to raise it; {e})") from None
    except UnidentifiedImageError:
        raise DataError(f"{label}: not an image Pillow can read as {FORMAT_NAMES}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{label}: corrupt or truncated image ({_first_line(e)})") from None
    except Exception as e:   # any other decoder failure is still this file's problem, not a bug here
        raise DataError(f"{label}: cannot decode the image ({type(e).__name__}: {_first_line(e)})") from None


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return _clip(text.splitlines()[0], 200) if text else type(e).__name__


def is_color(im) -> bool:
    return im.mode not in ("1", "L", "LA", "I", "I;16", "F", "P") or (
        im.mode == "P" and "transparency" not in im.info and _palette_is_color(im))


def _palette_is_color(im) -> bool:
    rgb = im.convert("RGB")
    r, g, b = rgb.split()
    return r.tobytes() != g.tobytes() or g.tobytes() != b.tobytes()


def _convert(im, mode: str):
    if mode not in ("L", "RGB"):
        raise ValueError(f"mode must be 'L' or 'RGB', not {mode!r}")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # Composite transparent pixels over white, as a viewer shows them.
        from PIL import Image

        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    if im.mode in ("I", "I;16", "F"):
        import numpy as np
        from PIL import Image

        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo or 1.0) * 255.0
        im = Image.fromarray(a.round().astype("uint8"), "L")
    return im.convert(mode)
