"""Capture every layer's output for one forward pass (forward hooks, no model changes)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LayerOutput:
    name: str            # module path in the model, e.g. "3" or "layer1.0.conv1"
    kind: str            # module class name, e.g. "Conv2d", "ReLU", "MaxPool2d"
    output: torch.Tensor # detached, on CPU, float32: [B, C, H, W] for maps, [B, F] after flatten


def leaf_modules(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if n and not list(m.children())]


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
                captured.append(LayerOutput(name, kind, output.detach().float().cpu().contiguous()))

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
