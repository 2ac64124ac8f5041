"""An architecture notation for networks that are not in the zoo, as the lectures write them:

    conv(32,5)-relu-pool(2)-conv(64,5)-relu-pool(2)-fc(128)-relu-fc(10)
    input(3,32,32)-[conv(64,3)-bn-relu]x2-pool(2)-[conv(128,3)-bn-relu]x2-gap-fc(10)

Layers are joined by `-`; `[...]xN` repeats a group N times. Layers and their arguments
(positional, or by name as in `conv(64,3,stride=2)`):

    conv(out, kernel, stride=1, pad=kernel//2)   2-D convolution ("same" padding by default)
    pool(kernel, stride=kernel)                   max pool (also `maxpool`)
    avgpool(kernel, stride=kernel)                average pool
    gap                                           global average pool (any input size)
    bn                                            batch norm (2-D or 1-D, whichever fits)
    relu tanh sigmoid gelu                        activations
    lrn(size=5)                                   local response normalisation (AlexNet)
    dropout(p=0.5)                                dropout
    flatten                                       [B, C, H, W] -> [B, C*H*W] (implied before fc)
    fc(units)                                     fully connected; a bare `fc` has one unit per class
    input(C,H,W), input(H,W) or input(S)          optional first item: the input size (default 1x28x28)

If the text does not end with a fully connected layer, `fc` (one unit per class) is added.
Every error names the offending token and its character position.

A few characters can describe an enormous network (`[[[conv(1,1)]x1000]x1000]x1000`, `fc(2000000)`),
so the notation has caps, each named in its error: MAX_LAYERS expanded layers, MAX_DEPTH nested
groups, MAX_WIDTH channels or units, MAX_WINDOW for kernels, strides, padding and input sides,
and MAX_PARAMS parameters (counted on the meta device, where nothing is allocated)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from convnet.errors import ConfigError
from convnet.models.spec import ModelSpec

DEFAULT_INPUT = (1, 28, 28)
MAX_LAYERS = 10_000          # after expanding [...]xN; ResNet-1001 written out is about 3,000
MAX_DEPTH = 32               # nested [ ]: deeper recursion would overflow Python's stack
MAX_WIDTH = 65_536           # conv output channels, fc units, input channels
MAX_WINDOW = 4096            # kernel, stride, pad, lrn size, input sides (as `summary --input`)
MAX_PARAMS = 1_000_000_000   # 4 GB of float32 weights
MAX_REPEAT = 1000


@dataclass
class Layer:
    name: str
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    pos: int = 0                      # 0-based character offset of the layer's name
    text: str = ""                    # the token as written, for error messages


# name -> (parameter names, number required, defaults)
SIGNATURES = {
    "conv": (("out", "kernel", "stride", "pad"), 2),
    "pool": (("kernel", "stride"), 1),
    "maxpool": (("kernel", "stride"), 1),
    "avgpool": (("kernel", "stride"), 1),
    "gap": ((), 0), "bn": ((), 0), "relu": ((), 0), "tanh": ((), 0), "sigmoid": ((), 0),
    "gelu": ((), 0), "flatten": ((), 0),
    "lrn": (("size",), 0),
    "dropout": (("p",), 0),
    "fc": (("units",), 0),
    "input": (("a", "b", "c"), 1),
}


class Parser:
    """Recursive descent over the text; every token keeps its position for error messages."""

    def __init__(self, text: str):
        self.text, self.i, self.depth = text, 0, 0

    def fail(self, message: str, pos: int | None = None) -> ConfigError:
        pos = self.i if pos is None else pos
        return ConfigError(f"model notation: {message} at character {pos + 1} of {clip(self.text, 200)!r}")

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def sequence(self, closing: str = "") -> list[Layer]:
        start = self.i
        layers = self.item()
        while self.peek() == "-":
            self.i += 1
            layers += self.item()
            if len(layers) > MAX_LAYERS:
                raise self.fail(f"more than {MAX_LAYERS:,} layers (the cap on expanded layers)", start)
        if self.peek() != closing:
            found = repr(self.peek()) if self.peek() else "the end"
            want = f"'-' or {closing!r}" if closing else "'-' or the end"
            raise self.fail(f"expected {want}, found {found}")
        return layers

    def item(self) -> list[Layer]:
        if self.peek() == "[":
            start = self.i
            if self.depth >= MAX_DEPTH:
                raise self.fail(f"groups [...] nested more than {MAX_DEPTH} deep (the cap)", start)
            self.i += 1
            self.depth += 1
            group = self.sequence("]")
            self.depth -= 1
            self.i += 1
            m = re.compile(r"x(\d+)").match(self.text, self.i)
            if not m:
                raise self.fail("a group [...] must be followed by xN, e.g. ]x2")
            digits = m.group(1)
            if len(digits) > 6 or not 1 <= int(digits) <= MAX_REPEAT:
                raise self.fail(f"repeat count x{clip(digits, 12)} must be between 1 and {MAX_REPEAT}", start)
            times = int(digits)
            if len(group) * times > MAX_LAYERS:   # checked before expanding, so nothing is built
                raise self.fail(f"[...]x{times} expands to {len(group) * times:,} layers, more than "
                                f"{MAX_LAYERS:,} (the cap on expanded layers)", start)
            self.i = m.end()
            return [Layer(l.name, l.args, l.kwargs, l.pos, l.text) for _ in range(times) for l in group]
        return [self.layer()]

    def layer(self) -> Layer:
        start = self.i
        m = re.compile(r"[A-Za-z_]\w*").match(self.text, self.i)
        if not m:
            found = repr(self.peek()) if self.peek() else "the end"
            raise self.fail(f"expected a layer name, found {found}")
        name = m.group(0).lower()
        if name not in SIGNATURES:
            raise self.fail(f"unknown layer {m.group(0)!r} (known: {', '.join(sorted(SIGNATURES))})", start)
        self.i = m.end()
        args, kwargs = [], {}
        if self.peek() == "(":
            close = self.text.find(")", self.i)
            if close < 0:
                raise self.fail(f"{name}( is never closed", start)
            args, kwargs = self.arguments(name, self.i + 1, close)
            self.i = close + 1
        layer = Layer(name, args, kwargs, start, self.text[start:self.i])
        check_arguments(layer, self)
        return layer

    def arguments(self, name: str, begin: int, end: int) -> tuple[list, dict]:
        args, kwargs, pos = [], {}, begin
        body = self.text[begin:end]
        if not body.strip():
            return args, kwargs
        for part in body.split(","):
            key, _, value = part.rpartition("=")
            try:   # (int() refuses more than 4,300 digits with a ValueError too)
                number = float(value) if "." in value or "e" in value.lower() else int(value)
            except ValueError:
                raise self.fail(f"{name}: {clip(part.strip())!r} is not a number", pos) from None
            if key:
                kwargs[key.strip()] = number
            elif kwargs:
                raise self.fail(f"{name}: positional argument {clip(part.strip())!r} after a named one", pos)
            else:
                args.append(number)
            pos += len(part) + 1
        return args, kwargs


def clip(text: str, limit: int = 40) -> str:
    """`text` cut to `limit` characters, so an error about a huge token stays one readable line."""
    return text if len(text) <= limit else text[:limit] + "..."


def check_arguments(layer: Layer, parser: Parser) -> None:
    names, required = SIGNATURES[layer.name]
    if len(layer.args) > len(names):
        raise parser.fail(f"{layer.text} takes at most {len(names)} argument(s)", layer.pos)
    for key in layer.kwargs:
        if key not in names:
            raise parser.fail(f"{layer.text}: unknown argument {key!r}"
                              + (f" (known: {', '.join(names)})" if names else ""), layer.pos)
    values = dict(zip(names, layer.args)) | layer.kwargs
    if len([n for n in names[:required] if n in values]) < required:
        raise parser.fail(f"{layer.text} needs {', '.join(names[:required])}", layer.pos)
    layer.kwargs, layer.args = values, []
    for key, v in values.items():
        ok = 0 <= v < 1 if key == "p" else isinstance(v, int) and (v >= 0 if key == "pad" else v >= 1)
        if not ok:
            want = "a probability in [0, 1)" if key == "p" else "a whole number >= 0" if key == "pad" \
                else "a whole number >= 1"
            raise parser.fail(f"{layer.text}: {key}={v} must be {want}", layer.pos)
        cap = argument_cap(layer.name, key)
        if cap is not None and v > cap:
            raise parser.fail(f"{layer.text}: {key}={v} is more than {cap:,} (the cap)", layer.pos)


def argument_cap(layer: str, key: str) -> int | None:
    """The largest value an argument may take: widths allocate weights, windows allocate compute."""
    if key in ("out", "units") or (layer == "input" and key == "a"):
        return MAX_WIDTH          # input(C,H,W): a is the channel count (or the side, capped below)
    if key == "p":
        return None
    return MAX_WINDOW


def parse(text: str) -> tuple[tuple[int, int, int], list[Layer]]:
    """-> ((C, H, W) input, layers). Raises ConfigError naming the bad token."""
    parser = Parser(text.strip())
    if not parser.text:
        raise ConfigError("model notation: empty architecture")
    layers = parser.sequence()
    shape = DEFAULT_INPUT
    if layers[0].name == "input":
        v = layers.pop(0).kwargs
        dims = [v[k] for k in ("a", "b", "c") if k in v]
        shape = {1: (1, dims[0], dims[0]), 2: (1, *dims), 3: tuple(dims)}[len(dims)]
        if max(shape[1:]) > MAX_WINDOW:
            raise parser.fail(f"input side {max(shape[1:])} is more than {MAX_WINDOW} (the cap)", 0)
    for layer in layers:
        if layer.name == "input":
            raise parser.fail("input(...) may only be the first item", layer.pos)
    if not layers:
        raise parser.fail("no layers after input(...)", 0)
    return shape, layers


def build(text: str, layers: list[Layer], in_channels: int, size: tuple[int, int],
          num_classes: int | None) -> nn.Sequential:
    """The network for (in_channels, *size) input; shapes are checked layer by layer."""
    parser = Parser(text)
    shape = (in_channels, *size)                 # (C, H, W) while spatial, (F,) after flatten
    modules = []
    if layers[-1].name != "fc":
        layers = layers + [Layer("fc", pos=len(text), text="fc")]
    for layer in layers:
        v = layer.kwargs
        if layer.name == "fc" or layer.name == "flatten":
            if len(shape) == 3:
                modules.append(nn.Flatten())     # [B, C, H, W] -> [B, C*H*W]
                shape = (shape[0] * shape[1] * shape[2],)
            if layer.name == "fc":
                last = layer is layers[-1]
                units = v.get("units", num_classes if last else None)
                if units is None:
                    raise parser.fail("only the last fc may leave out its width", layer.pos)
                if last and num_classes is not None and units != num_classes:
                    raise parser.fail(f"the last layer {layer.text} gives {units} outputs but the data "
                                      f"have {num_classes} classes (write fc({num_classes}) or a bare fc)",
                                      layer.pos)
                modules.append(nn.Linear(shape[0], units))
                shape = (units,)
            continue
        if layer.name in ("conv", "pool", "maxpool", "avgpool", "gap", "lrn") and len(shape) != 3:
            raise parser.fail(f"{layer.text} needs an image-shaped input, but it comes after flatten/fc",
                              layer.pos)
        module, shape = make(layer, shape, parser)
        modules.append(module)
    return nn.Sequential(*modules)


def make(layer: Layer, shape: tuple, parser: Parser) -> tuple[nn.Module, tuple]:
    v, name = layer.kwargs, layer.name
    if name == "conv":
        k, s = v["kernel"], v.get("stride", 1)
        pad = v.get("pad", k // 2)
        out = conv_size(shape, k, s, pad, layer, parser)
        return nn.Conv2d(shape[0], v["out"], k, s, pad), (v["out"], *out)
    if name in ("pool", "maxpool", "avgpool"):
        k = v["kernel"]
        s = v.get("stride", k)
        out = conv_size(shape, k, s, 0, layer, parser)
        cls = nn.AvgPool2d if name == "avgpool" else nn.MaxPool2d
        return cls(k, s), (shape[0], *out)
    if name == "gap":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), (shape[0],)   # [B, C, H, W] -> [B, C]
    if name == "bn":
        return (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(shape[0]), shape
    if name == "lrn":
        return nn.LocalResponseNorm(v.get("size", 5), alpha=1e-4, beta=0.75, k=2.0), shape
    if name == "dropout":
        return nn.Dropout(v.get("p", 0.5)), shape
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}[name](), shape


def conv_size(shape: tuple, k: int, s: int, pad: int, layer: Layer, parser: Parser) -> tuple[int, int]:
    from convnet.reference.shapes import output_size   # the project's one output-size formula

    out = tuple(output_size(n, k, s, pad) for n in shape[1:])
    if min(out) < 1:
        raise parser.fail(f"{layer.text} does not fit its {shape[1]}x{shape[2]} input "
                          f"(output would be {out[0]}x{out[1]})", layer.pos)
    return out


def spec_from_notation(text: str) -> ModelSpec:
    """A ModelSpec for an architecture written in the notation (checked now, built later)."""
    (channels, h, w), layers = parse(text)
    last = layers[-1]
    classes = last.kwargs.get("units") if last.name == "fc" else None
    with torch.device("meta"):   # shape errors surface here, without allocating any weights
        model = build(text.strip(), layers, channels, (h, w), classes or 10)
    check_size(text.strip(), model)

    def builder(num_classes: int, in_channels: int, input_size: tuple = (h, w)) -> nn.Module:
        with torch.device("meta"):   # another size or class count: check it before allocating
            check_size(text.strip(), build(text.strip(), layers, in_channels, tuple(input_size), num_classes))
        return build(text.strip(), layers, in_channels, tuple(input_size), num_classes)

    return ModelSpec(name=text, builder=builder, input_size=(h, w), in_channels=channels,
                     num_classes=classes or 10, fixed_size=flattens_image(layers), paper="architecture notation",
                     description=f"{len(layers)} layers from notation")


def check_size(text: str, model: nn.Module) -> None:
    """Refuse a network with more than MAX_PARAMS parameters (counted on the meta device)."""
    params = sum(p.numel() for p in model.parameters())
    if params > MAX_PARAMS:
        raise Parser(text).fail(f"the network has {params:,} parameters, more than {MAX_PARAMS:,} "
                                "(the cap)", 0)


def flattens_image(layers: list[Layer]) -> bool:
    """True if an image-shaped tensor meets flatten/fc, which ties the net to one input size."""
    for layer in layers:
        if layer.name == "gap":
            return False
        if layer.name in ("fc", "flatten"):
            return True
    return True                                  # the implied final fc flattens
