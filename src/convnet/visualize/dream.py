"""The input that most excites a filter: activation maximisation with regularisation.

Gradient ascent on the input image x for the mean activation of filter f at a layer,
with three regularisers that keep the result a picture rather than adversarial noise:
pixels stay inside the valid [0, 1] range, an L2 penalty and a total-variation penalty
keep it smooth, and a random shift (jitter) each step stops it exploiting one pixel grid.
All filters of the grid are optimised together as one batch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from convnet.data.batches import Preprocess
from convnet.visualize.common import STAGE_KINDS, resolve_layer


@dataclass
class Dream:
    layer: str
    filters: list[int]
    images: np.ndarray        # [F, H, W] gray or [F, H, W, 3] colour, in [0, 1]
    activation: np.ndarray    # [F] mean activation of each filter on its own dream
    start: np.ndarray         # [F] the same on the random start


class _Stop(Exception):
    """Raised by the hook: nothing after the layer needs to run."""


def layer_activation(model: torch.nn.Module, module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The output of `module` for x, running the model only as far as that layer."""
    box = {}

    def hook(mod, inputs, output):
        box["out"] = output
        raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    if "out" not in box:
        raise ValueError("the layer was not reached by the forward pass")
    return box["out"]


def filter_scores(model, module, x: torch.Tensor, filters: list[int]) -> torch.Tensor:
    """[F]: the mean activation of filter filters[i] on image x[i]."""
    out = layer_activation(model, module, x)
    picked = out[torch.arange(len(filters)), torch.tensor(filters)]          # [F, h, w] or [F]
    return picked.float().flatten(1).mean(1) if picked.dim() > 1 else picked.float()


def dream(model: torch.nn.Module, preprocess: Preprocess, layer: str | int | None = None,
          filters: list[int] | None = None, size: tuple[int, int] | None = None, steps: int = 100,
          lr: float = 0.1, l2: float = 0.001, tv: float = 0.1, jitter: int = 2, seed: int = 0) -> Dream:
    """Optimise one input per filter of `layer` (default: the last conv) so that it
    excites that filter most. `size` (H, W) defaults to the model's input size."""
    name, module = resolve_layer(model, layer, STAGE_KINDS, "layer", default=_last_conv(model))
    n_filters = _channels(model, module, preprocess)
    filters = list(range(min(16, n_filters))) if filters is None else list(filters)
    bad = [f for f in filters if not 0 <= f < n_filters]
    if bad:
        from convnet.errors import ConfigError
        raise ConfigError(f"layer {name} has filters 0..{n_filters - 1}; no filter {bad[0]}")
    h, w = size or preprocess.size
    c = preprocess.channels
    mean = torch.tensor(preprocess.mean).view(1, c, 1, 1)
    std = torch.tensor(preprocess.std).view(1, c, 1, 1)
    lo, hi = (0 - mean) / std, (1 - mean) / std                               # valid pixel box
    g = torch.Generator().manual_seed(seed)
    start = (0.5 + 0.1 * torch.randn(len(filters), c, h, w, generator=g) - mean) / std
    x = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    was_training = model.training
    model.eval()
    frozen = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in frozen:
        p.requires_grad_(False)     # gradients for the image only
    try:
        with torch.enable_grad():
            for _ in range(steps):
                dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=g))
                shifted = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
                score = filter_scores(model, module, shifted, filters)
                # Penalties are per-image means, so their weight does not grow with the image size.
                loss = (-score + l2 * x.pow(2).mean((1, 2, 3)) + tv * _total_variation(x)).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    x.copy_(torch.max(torch.min(x, hi), lo))
        with torch.no_grad():
            final = filter_scores(model, module, x, filters).numpy()
            begin = filter_scores(model, module, start, filters).numpy()
    finally:
        for p, flag in frozen:
            p.requires_grad_(flag)
        model.train(was_training)
    pixels = (x.detach() * std + mean).clamp(0, 1).permute(0, 2, 3, 1).numpy()  # [F, C, H, W] -> [F, H, W, C]
    return Dream(name, filters, pixels[..., 0] if c == 1 else pixels, final, begin)


def _total_variation(x: torch.Tensor) -> torch.Tensor:
    """[B]: mean absolute difference between neighbouring pixels of each image."""
    return ((x[..., 1:, :] - x[..., :-1, :]).abs().mean((1, 2, 3)) +
            (x[..., :, 1:] - x[..., :, :-1]).abs().mean((1, 2, 3)))


def _last_conv(model: torch.nn.Module) -> int:
    from convnet.visualize.common import named_layers

    layers = named_layers(model, STAGE_KINDS)
    convs = [i for i, (_, m) in enumerate(layers) if type(m).__name__ == "Conv2d"]
    return convs[-1] if convs else len(layers) - 1


def _channels(model, module, preprocess: Preprocess) -> int:
    with torch.no_grad():
        x = torch.zeros(1, preprocess.channels, *preprocess.size)
        return int(layer_activation(model, module, x).shape[1])


def plot_dream(result: Dream, cols: int | None = None):
    """A Figure: one panel per filter, titled with its activation before -> after."""
    from matplotlib.figure import Figure

    n = len(result.filters)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = -(-n // cols)
    fig = Figure(figsize=(1.8 * cols, 1.9 * rows + 0.5))
    fig.suptitle(f"inputs that most excite filters of layer {result.layer}", fontsize=10)
    for i, f in enumerate(result.filters):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(result.images[i], cmap="gray" if result.images.ndim == 3 else None, vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_title(f"#{f}: {result.start[i]:.2g} -> {result.activation[i]:.2g}", fontsize=7)
        ax.set_axis_off()
    return fig
