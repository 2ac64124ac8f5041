"""A stack of layers run in order, with PyTorch-style names ("0.weight", "3.bias", ...)."""

from __future__ import annotations

import numpy as np

from convnet.errors import ConfigError
from convnet.reference.layer import Layer


class Sequential:
    def __init__(self, *layers: Layer):
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            layer.name = f"layer {i} {layer.name}"

    def forward(self, x: np.ndarray, train: bool = False):
        """x -> (out, caches), one cache per layer for backward()."""
        caches = []
        for layer in self.layers:
            x, cache = layer.forward(x, train)
            caches.append(cache)
        return x, caches

    def __call__(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        return self.forward(x, train)[0]

    def backward(self, dout: np.ndarray, caches) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """dL/d(out) -> (dL/dx, {"i.name": dL/d(param)})."""
        grads = {}
        for i in reversed(range(len(self.layers))):
            dout, g = self.layers[i].backward(dout, caches[i])
            grads.update({f"{i}.{k}": v for k, v in g.items()})
        return dout, grads

    def parameters(self) -> dict[str, np.ndarray]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    def set_parameter(self, name: str, value: np.ndarray) -> None:
        i, key = name.split(".", 1)
        self.layers[int(i)].params[key] = value

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers by name, in layer order (as torch's state_dict)."""
        state = {}
        for i, layer in enumerate(self.layers):
            for store in (layer.params, layer.buffers):
                state.update({f"{i}.{k}": v for k, v in store.items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy every entry in; names and shapes must match exactly (nothing silently skipped)."""
        mine = self.state_dict()
        missing, unexpected = sorted(set(mine) - set(state)), sorted(set(state) - set(mine))
        if missing or unexpected:
            raise ConfigError(f"state does not fit this network: missing {missing or 'nothing'}, "
                              f"unexpected {unexpected or 'nothing'}")
        for name, value in state.items():
            value = np.asarray(value)
            if value.shape != mine[name].shape:
                raise ConfigError(f"{name}: shape {value.shape} does not fit {mine[name].shape}")
            i, key = name.split(".", 1)
            layer = self.layers[int(i)]
            store = layer.params if key in layer.params else layer.buffers
            store[key] = value.astype(mine[name].dtype).copy()

    def astype(self, dtype) -> "Sequential":
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def num_params(self) -> int:
        return sum(layer.num_params() for layer in self.layers)

    def __repr__(self) -> str:
        return "Sequential(\n" + "".join(f"  {layer!r}\n" for layer in self.layers) + ")"
