"""Capture every layer's output for one forward pass (forward hooks, no model changes)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

# leaf_modules lives in common.py (which needs it too) and is imported from here as well
from convnet.visualize.common import STAGE_KINDS, leaf_modules, resolve_layer

__all__ = ["LayerOutput", "Stage", "describe_shapes", "layer_outputs", "leaf_modules", "stages"]


@dataclass
class LayerOutput:
    name: str            # module path in the model, e.g. "3" or "layer1.0.conv1"
    kind: str            # module class name, e.g. "Conv2d", "ReLU", "MaxPool2d"
    output: torch.Tensor # detached, on CPU, float32: [B, C, H, W] for maps, [B, F] after flatten


@torch.no_grad()
def layer_outputs(model: torch.nn.Module, x: torch.Tensor,
                  kinds: tuple[str, ...] | None = None) -> tuple[torch.Tensor, list[LayerOutput]]:
    """Run `model(x)` once; return its output and each leaf layer's output, in call order.
    `kinds` keeps only some module classes (e.g. ("Conv2d", "ReLU", "MaxPool2d"))."""
    captured: list[LayerOutput] = []
    hooks = []
    for name, module in leaf_modules(model):
        kind = type(module).__name__
        if kinds is not None and kind not in kinds:
            continue

        def hook(mod, inputs, output, name=name, kind=kind):
            if isinstance(output, torch.Tensor):
                # A copy: a following in-place ReLU would otherwise rewrite what we captured.
                out = output.detach().to("cpu", torch.float32, copy=True).contiguous()
                captured.append(LayerOutput(name, kind, out))

        hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        out = model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return out, captured


@dataclass
class Stage:
    """One conv, activation or pooling step of a forward pass, for one image."""
    name: str
    kind: str
    maps: torch.Tensor    # [C, H, W]

    @property
    def shape(self) -> str:
        c, h, w = self.maps.shape
        return f"{h}x{w}x{c}"


def stages(model: torch.nn.Module, x: torch.Tensor, layer: str | int | None = None) -> list[Stage]:
    """The activation maps of one image x [1, C, H, W] at every conv, ReLU and pooling stage
    (or only at `layer`), in call order. Stages that are no longer maps (after flatten) are left out."""
    wanted = None
    if layer is not None:
        wanted, _ = resolve_layer(model, layer, STAGE_KINDS, "conv/activation/pooling layer")
    _, outs = layer_outputs(model, x[:1], STAGE_KINDS)
    return [Stage(o.name, o.kind, o.output[0]) for o in outs
            if o.output.dim() == 4 and (wanted is None or o.name == wanted)]


def describe_shapes(found: list[Stage], input_shape: tuple[int, ...]) -> str:
    """'28x28x1 -> 28x28x32 (Conv2d) -> ...': how the maps change through the network."""
    c, h, w = input_shape[-3:]
    return " -> ".join([f"{h}x{w}x{c}"] + [f"{s.shape} ({s.kind})" for s in found])
