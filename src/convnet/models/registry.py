"""The model registry: every architecture is registered by name with the data to describe it.

    @register("lenet5", input_size=(28, 28), in_channels=1, year=1998, paper="...")
    def lenet5(num_classes=10, in_channels=1): ...

Builders take `num_classes` and `in_channels` (and optional keyword arguments); the
registry records the default input size, which the data pipeline resizes images to."""

from __future__ import annotations

import difflib
from typing import Callable

from convnet.errors import ConfigError
from convnet.models.spec import ModelSpec

__all__ = ["ModelSpec", "add", "create", "get_spec", "names", "register"]


_REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, **info) -> Callable:
    """Decorator: register `builder` under `name`. A name may be registered once."""

    def decorator(builder: Callable) -> Callable:
        add(ModelSpec(name=name, builder=builder, **info))
        return builder

    return decorator


def add(spec: ModelSpec) -> None:
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec


def names() -> list[str]:
    _load_families()
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The spec for a registered name, or for an architecture written in the notation."""
    _load_families()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if "(" in name or "-" in name and not name.replace("-", "").replace("_", "").isalnum():
        try:
            from convnet.models.notation import spec_from_notation
        except ImportError:
            pass
        else:
            return spec_from_notation(name)
    close = difflib.get_close_matches(name, _REGISTRY, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `convnet models` lists them"
    shown = name if len(name) <= 100 else name[:100] + "..."     # keep the error one readable line
    raise ConfigError(f"unknown model {shown!r}{hint}")


def create(name: str, num_classes: int | None = None, in_channels: int | None = None, **overrides):
    return get_spec(name).build(num_classes, in_channels, **overrides)


def _load_families() -> None:
    """Import every architecture module once, which registers its models."""
    import convnet.models  # noqa: F401  (its __init__ imports the families)
