"""The one output-size formula, and the checks that keep a layer from silently computing nonsense.

    H' = floor((H + 2P - D(K - 1) - 1) / S) + 1        (D = 1: H' = (H + 2P - K)/S + 1)
"""

from __future__ import annotations

from convnet.errors import ConfigError

PADDING_MODES = ("zeros", "replicate", "reflect")


def pair(value, name: str, layer: str, minimum: int) -> tuple[int, int]:
    """An int or an (h, w) pair of ints >= minimum, else a ConfigError naming the layer."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"{layer}: {name} must be a whole number or a pair of them, got {value!r}")
    if min(values) < minimum:
        raise ConfigError(f"{layer}: {name} must be at least {minimum}, got {value!r}")
    return values


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length along one axis: (size + 2*padding - dilation*(kernel-1) - 1) // stride + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def check_window(layer: str, size: tuple[int, int], kernel, stride, padding, dilation=(1, 1)) -> tuple[int, int]:
    """Output (H', W') of a sliding window, or a ConfigError if the window does not fit."""
    out = []
    for axis, n, k, s, p, d in zip("HW", size, kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        if span > n + 2 * p:
            raise ConfigError(f"{layer}: kernel {k} (span {span} with dilation {d}) is larger than the "
                              f"padded input {axis}={n}+2*{p}={n + 2 * p}")
        out.append(output_size(n, k, s, p, d))
    return tuple(out)


def check_input(layer: str, x, ndim: int, channels: int | None = None, axis: int = 1) -> None:
    """x must have `ndim` dimensions (and `channels` along `axis`)."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != ndim:
        raise ConfigError(f"{layer}: expected a {ndim}-d input, got shape {shape}")
    if channels is not None and shape[axis] != channels:
        raise ConfigError(f"{layer}: expected {channels} channels/features, got {shape[axis]} "
                          f"(input shape {tuple(shape)})")
