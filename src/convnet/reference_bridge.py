"""Between the engines: PyTorch modules and state_dicts <-> reference layers and NumPy arrays.
`convnet train --engine reference` trains through the one training loop with
training/engines.py's ReferenceEngine, which uses these to start from the PyTorch module's
weights and to hand its own back for evaluation and checkpoints."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from convnet import reference as ref
from convnet.errors import ConfigError


def to_numpy_state(state_dict: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """A PyTorch state_dict -> {name: NumPy array} (copies, on the CPU)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in state_dict.items()}


def to_torch_state(state: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """{name: NumPy array} -> a PyTorch state_dict."""
    return {k: torch.from_numpy(np.ascontiguousarray(v).copy()) for k, v in state.items()}


def load_torch_into_reference(module: nn.Module, model: ref.Sequential) -> None:
    model.load_state_dict(to_numpy_state(module.state_dict()))


def load_reference_into_torch(model: ref.Sequential, module: nn.Module) -> None:
    current = module.state_dict()
    state = {k: v.to(current[k].dtype) if k in current else v for k, v in to_torch_state(model.state_dict()).items()}
    module.load_state_dict(state)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _convert(m: nn.Module, rng: np.random.Generator) -> ref.Layer:
    """One PyTorch layer -> the reference layer with the same settings (weights copied later)."""
    if isinstance(m, nn.Conv2d):
        if m.padding_mode not in ref.shapes.PADDING_MODES or isinstance(m.padding, str):
            raise ConfigError(f"the reference engine has no conv padding {m.padding!r}/{m.padding_mode!r}")
        return ref.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                          m.groups, m.bias is not None, m.padding_mode, rng)
    if isinstance(m, nn.Linear):
        return ref.Linear(m.in_features, m.out_features, m.bias is not None, rng)
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        if m.ceil_mode or getattr(m, "dilation", 1) not in (1, (1, 1)) \
                or not getattr(m, "count_include_pad", True) or getattr(m, "divisor_override", None):
            raise ConfigError(f"the reference engine has no {m!r}")
        return (ref.MaxPool2d if isinstance(m, nn.MaxPool2d) else ref.AvgPool2d)(m.kernel_size, m.stride, m.padding)
    if isinstance(m, nn.AdaptiveAvgPool2d) and _pair(m.output_size) == (1, 1):
        return ref.GlobalAvgPool2d()
    if isinstance(m, nn.BatchNorm2d):
        return ref.BatchNorm2d(m.num_features, m.eps, 0.1 if m.momentum is None else m.momentum)
    if isinstance(m, nn.LocalResponseNorm):
        return ref.LocalResponseNorm(m.size, m.alpha, m.beta, m.k)
    if isinstance(m, nn.Dropout):
        return ref.Dropout(m.p, rng)
    if isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1:
        return ref.Flatten()
    simple = {nn.ReLU: ref.ReLU, nn.Tanh: ref.Tanh, nn.Sigmoid: ref.Sigmoid}
    if type(m) in simple:
        return simple[type(m)]()
    raise ConfigError(f"the reference engine has no layer like {m!r}")


def from_torch(module: nn.Module, seed: int = 0) -> ref.Sequential:
    """An nn.Sequential of supported layers -> the same network in the reference engine,
    weights and running statistics copied, float32."""
    if not isinstance(module, nn.Sequential) or any(list(m.children()) for m in module):
        raise ConfigError(f"the reference engine runs plain nn.Sequential models only, not "
                          f"{type(module).__name__}")
    rng = np.random.default_rng(seed)
    model = ref.Sequential(*[_convert(m, rng) for m in module])
    load_torch_into_reference(module, model)
    return model
