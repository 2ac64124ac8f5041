"""What every picture needs: a loaded run, one input image, a layer picked by name, a tiled grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from convnet.errors import ConfigError, DataError

CONV_KINDS = ("Conv2d",)
ACTIVATION_KINDS = ("ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "GELU", "SiLU", "Tanh", "Sigmoid",
                    "Hardswish", "Mish")
POOL_KINDS = ("MaxPool2d", "AvgPool2d", "AdaptiveMaxPool2d", "AdaptiveAvgPool2d", "LPPool2d")
STAGE_KINDS = CONV_KINDS + ACTIVATION_KINDS + POOL_KINDS


def load_run(run_dir: str | Path, device: str = "cpu"):
    """A trained run as a Classifier in fp32 (pictures want exact numbers, not bf16)."""
    from convnet.inference import Classifier

    clf = Classifier.load(run_dir, device=device)
    clf.hw.amp_dtype = None
    return clf


def image_batch(clf, image) -> tuple[torch.Tensor, torch.Tensor]:
    """One image (path, bytes, PIL or array), converted as prediction converts it.
    Returns (uint8 [1, C, H, W] at the input size, normalised float [1, C, H, W])."""
    raw = clf.to_uint8(image).unsqueeze(0)
    x = clf.preprocess(raw, clf.hw.device)
    return raw, x


def display_image(raw: torch.Tensor) -> np.ndarray:
    """uint8 [1, C, H, W] or [C, H, W] -> [H, W] (gray) or [H, W, 3] for imshow."""
    a = raw.reshape(-1, *raw.shape[-2:]).permute(1, 2, 0).cpu().numpy()   # [C, H, W] -> [H, W, C]
    return a[..., 0] if a.shape[2] == 1 else a


def leaf_modules(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """(name, module) of every layer without sub-layers, in definition order."""
    return [(n, m) for n, m in model.named_modules() if n and not list(m.children())]


def named_layers(model: torch.nn.Module, kinds: tuple[str, ...] | None = None):
    """(name, module) of the leaf layers of the given kinds, in definition order."""
    return [(n, m) for n, m in leaf_modules(model) if kinds is None or type(m).__name__ in kinds]


def resolve_layer(model: torch.nn.Module, layer: str | int | None, kinds: tuple[str, ...],
                  what: str = "layer", default: int = 0) -> tuple[str, torch.nn.Module]:
    """A layer by module name ("features.3") or by index among the candidates (0, -1).
    An unknown one is refused with the list of valid names."""
    layers = named_layers(model, kinds)
    if not layers:
        raise ConfigError(f"this model has no {what} ({'/'.join(kinds)}) to show")
    if layer is None:
        return layers[default]
    text = str(layer).strip()
    for name, module in layers:
        if name == text:
            return name, module
    try:
        index = int(text)
    except ValueError:
        index = None
    if index is not None and -len(layers) <= index < len(layers):
        return layers[index]
    valid = ", ".join(f"{n} ({type(m).__name__})" for n, m in layers)
    raise ConfigError(f"no {what} {text!r}; valid: {valid} (or an index 0..{len(layers) - 1})")


def tile(images: np.ndarray, cols: int | None = None, pad: int = 1, fill: float = np.nan) -> np.ndarray:
    """[N, h, w] or [N, h, w, 3] -> one [rows*(h+pad)-pad, cols*(w+pad)-pad(, 3)] mosaic."""
    n, h, w = images.shape[:3]
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, *images.shape[3:]), fill, np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = images[i]
    return out


def normalize01(a: np.ndarray, axis=None) -> np.ndarray:
    """Scale to [0, 1] (per slice along `axis` if given); a constant slice becomes 0.5."""
    lo = np.nanmin(a, axis=axis, keepdims=axis is not None)
    hi = np.nanmax(a, axis=axis, keepdims=axis is not None)
    span = hi - lo
    return np.where(span > 0, (a - lo) / np.where(span > 0, span, 1), 0.5).astype(np.float32)


def class_index(classes: list[str], cls: str | int | None) -> int | None:
    """A class by name or by number; None stays None (the predicted class)."""
    if cls is None:
        return None
    text = str(cls)
    if text in classes:
        return classes.index(text)
    try:
        k = int(text)
    except ValueError:
        k = None
    if k is not None and 0 <= k < len(classes):
        return k
    raise ConfigError(f"no class {text!r}; classes: {', '.join(classes)} (or 0..{len(classes) - 1})")


def save_figure(fig, out: str | Path, dpi: int = 100) -> Path:
    """Write a matplotlib figure atomically (PNG unless the suffix says otherwise)."""
    from convnet.fileio import atomic_write

    out = Path(out)
    fmt = (out.suffix.lstrip(".") or "png").lower()
    if fmt not in ("png", "svg", "pdf", "jpg", "jpeg"):
        raise ConfigError(f"--out {out}: unsupported picture type {out.suffix!r}; use .png, .svg, .pdf or .jpg")
    atomic_write(out, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight"))
    return out


def require_4d(x: torch.Tensor, name: str) -> None:
    if x.dim() != 4:
        raise DataError(f"layer {name} gives {tuple(x.shape)}, not feature maps [B, C, H, W]")
