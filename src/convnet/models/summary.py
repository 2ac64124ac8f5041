"""Per-layer output shapes, parameters, multiply-adds and receptive fields of any model.

The model runs once on the meta device (shapes only, no memory, no arithmetic), so even
VGG-19 at 224x224 is summarised in a fraction of a second. Two instruments watch that pass:

- forward hooks on the leaf modules record each layer's output shape and count its
  multiply-adds: convolutions out_pixels x out_channels x (in_channels / groups) x kH x kW,
  linear layers out_features x in_features, and any matmul/einsum run inside a custom
  layer (CapsNet's capsule transforms). Like torchvision's published GFLOPS, norms,
  activations, pools and additions are not counted.
- a torch function mode tags every tensor with its receptive field (rf, in input pixels
  along the height) and jump (input pixels between neighbouring outputs), so tags flow
  through residual additions, concatenations and reshapes as well as through modules:
  a k x k layer with stride s gives rf + (k - 1) x dilation x jump and jump x s."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from convnet.errors import ConfigError
from convnet.models.spec import ModelSpec


@dataclass
class Row:
    name: str                 # module path, e.g. "layer1.0.body.0"
    kind: str                 # module class
    shape: tuple              # output shape without the batch dimension
    params: int
    macs: int
    rf: int | None            # receptive field in input pixels (None: not image-derived)
    in_forward: bool = True   # False: a layer forward never runs (CapsNet's training-only decoder)


@dataclass
class Summary:
    model: str
    input_shape: tuple        # (C, H, W)
    rows: list[Row] = field(default_factory=list)
    params: int = 0
    trainable: int = 0
    macs: int = 0
    output_shape: tuple = ()

    def to_dict(self) -> dict:
        return {"model": self.model, "input": list(self.input_shape), "params": self.params,
                "trainable_params": self.trainable, "macs": self.macs, "output": list(self.output_shape),
                "layers": [{"name": r.name, "type": r.kind, "output": list(r.shape), "params": r.params,
                            "macs": r.macs, "receptive_field": r.rf, "in_forward": r.in_forward}
                           for r in self.rows]}


@dataclass(frozen=True)
class Tag:
    rf: int                   # receptive field size in input pixels
    jump: int                 # input pixels between adjacent positions of this tensor
    extent: int = 1           # positions along the height when last seen as [B, C, H, W]


class Tracker(TorchFunctionMode):
    """Propagates receptive-field tags through every torch call and counts matmul MACs."""

    MATMULS = {torch.matmul, torch.bmm, torch.mm, torch.Tensor.matmul, torch.Tensor.__matmul__,
               torch.Tensor.bmm, torch.Tensor.mm}

    def __init__(self):
        super().__init__()
        self.tags: dict[int, tuple[torch.Tensor, Tag]] = {}   # id -> (tensor kept alive, tag)
        self.macs = 0

    def tag(self, t) -> Tag | None:
        hit = self.tags.get(id(t)) if isinstance(t, torch.Tensor) else None
        return hit[1] if hit is not None and hit[0] is t else None

    def set(self, t: torch.Tensor, tag: Tag) -> None:
        if t.dim() == 4:
            tag = Tag(tag.rf, tag.jump, t.shape[2])
        self.tags[id(t)] = (t, tag)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = [t for t in flat(args) + flat(list(kwargs.values())) if isinstance(t, torch.Tensor)]
        self.macs += matmul_macs(func, args, out, self.MATMULS)
        tags = [g for g in map(self.tag, inputs) if g is not None]
        if tags and isinstance(out, torch.Tensor) and all(out is not t for t in inputs):
            src = next(t for t in inputs if self.tag(t) is not None)
            tag = Tag(max(g.rf for g in tags), max(g.jump for g in tags), self.tag(src).extent)
            if src.dim() >= 4 and out.dim() < 4:
                tag = whole_image(tag)                   # flatten/mean/reshape merges the positions
            self.set(out, tag)
        return out


def whole_image(tag: Tag) -> Tag:
    """The tag once every position along the height is merged into one (flatten, global pool,
    CapsNet's [B, 32, 6, 6, 8] -> [B, 1152, 8]): whatever comes next may see them all."""
    return Tag(tag.rf + (tag.extent - 1) * tag.jump, tag.jump * tag.extent, 1)


def flat(items) -> list:
    out = []
    for item in items:
        out += flat(item) if isinstance(item, (list, tuple)) else [item]
    return out


def matmul_macs(func, args, out, matmuls) -> int:
    if func in matmuls and isinstance(out, torch.Tensor) and len(args) >= 2:
        return out.numel() * args[0].shape[-1]
    if func is torch.einsum and isinstance(out, torch.Tensor):
        equation, operands = args[0], flat(args[1:])
        sizes = {}
        for spec, t in zip(equation.replace(" ", "").split("->")[0].split(","), operands):
            sizes.update(zip(spec, t.shape))
        return math.prod(sizes.values())          # every index combination is one multiply-add
    return 0


def window(module: nn.Module):
    """(kernel, stride, dilation) along the height of a sliding-window layer, else None."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.MaxPool2d, nn.AvgPool2d)):
        pick = lambda v: v[0] if isinstance(v, (tuple, list)) else v       # noqa: E731
        stride = pick(module.stride) if module.stride is not None else pick(module.kernel_size)
        return pick(module.kernel_size), stride, pick(getattr(module, "dilation", 1))
    return None


def layer_macs(module: nn.Module, out: torch.Tensor) -> int | None:
    """Multiply-adds of one sample through a conv or linear layer; None for other layers."""
    if isinstance(module, nn.modules.conv._ConvNd):
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        return out[0].numel() * per_output
    if isinstance(module, nn.Linear):
        return out[0].numel() * module.in_features
    return None


SHAPE_PRESERVING = (nn.modules.batchnorm._NormBase, nn.LocalResponseNorm, nn.GroupNorm, nn.LayerNorm,
                    nn.Dropout)


def identity(x):
    return x


def summarize(model: nn.Module, input_shape: tuple[int, int, int], name: str = "") -> Summary:
    """Run `model` (built on the meta device) once on a [1, C, H, W] input and describe it."""
    names = {m: n for n, m in model.named_modules()}
    leaves = [m for m in model.modules() if not list(m.children())]
    summary = Summary(model=name, input_shape=tuple(input_shape))
    tracker, seen, handles, before = Tracker(), set(), [], {}
    leaf_matmuls = 0              # matmul/einsum MACs counted inside leaf layers' rows

    def pre_hook(module, inputs):
        before[module] = tracker.macs

    def hook(module, inputs, out):
        nonlocal leaf_matmuls
        out = out[0] if isinstance(out, (tuple, list)) else out
        if not isinstance(out, torch.Tensor):
            return
        src = next((tracker.tag(t) for t in inputs if tracker.tag(t) is not None), None)
        if src is not None:
            tracker.set(out, propagate(module, inputs[0], out, src))
        params = 0 if module in seen else sum(p.numel() for p in module.parameters())
        seen.add(module)
        macs = layer_macs(module, out)
        if macs is None:
            macs = tracker.macs - before[module]
            leaf_matmuls += macs
        tag = tracker.tag(out)
        summary.rows.append(Row(names.get(module, "?"), type(module).__name__, tuple(out.shape[1:]),
                                params, macs, tag.rf if tag else None))

    for m in leaves:
        handles += [m.register_forward_pre_hook(pre_hook), m.register_forward_hook(hook)]
        if isinstance(m, SHAPE_PRESERVING):
            m.forward = identity      # PyTorch's meta batch norm is slow (0.08 s a layer); same shape
    device = next(model.parameters(), torch.empty(0, device="meta")).device
    x = torch.empty(1, *input_shape, device=device)
    if hasattr(model, "example_input"):       # a model that reads token ids, not pixels (kimcnn)
        x = model.example_input(1, input_shape[-1]).to(device)
    try:
        with tracker:
            tracker.set(x, Tag(1, 1))
            with torch.no_grad():
                y = model.eval()(x)
    finally:
        for h in handles:
            h.remove()
        for m in leaves:
            m.__dict__.pop("forward", None)
    summary.output_shape = tuple(y.shape[1:])
    for m in leaves:                              # e.g. a decoder only the training loss runs
        if m not in seen and any(True for _ in m.parameters()):
            macs = m.in_features * m.out_features if isinstance(m, nn.Linear) else 0
            summary.rows.append(Row(names.get(m, "?"), type(m).__name__, (), sum(p.numel() for p in m.parameters()),
                                    macs, None, in_forward=False))
    counted = sum(r.macs for r in summary.rows if r.in_forward)
    # matmuls run outside any leaf layer (in a parent's forward) count towards the total
    summary.macs = counted + max(0, tracker.macs - leaf_matmuls)
    summary.params = sum(p.numel() for p in model.parameters())
    summary.trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return summary


def propagate(module: nn.Module, x: torch.Tensor, out: torch.Tensor, tag: Tag) -> Tag:
    w = window(module)
    if w is not None:
        k, s, d = w
        return Tag(tag.rf + (k - 1) * d * tag.jump, tag.jump * s)
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and x.dim() == 4:
        size_in, size_out = x.shape[2], out.shape[2]
        k, s = math.ceil(size_in / size_out), size_in // size_out   # the windows PyTorch uses
        return Tag(tag.rf + (k - 1) * tag.jump, tag.jump * max(s, 1))
    if x.dim() == 4 and out.dim() < 4:                                # Flatten
        return whole_image(tag)
    return tag


def build_on_meta(spec: ModelSpec, input_shape: tuple | None = None, num_classes: int | None = None):
    """The model for `spec` on the meta device, sized for `input_shape` where its builder asks."""
    c, h, w = input_shape or (spec.in_channels, *spec.input_size)
    extra = {}
    if "input_size" in inspect.signature(spec.builder).parameters:
        extra["input_size"] = (h, w)
    with torch.device("meta"):
        return spec.build(num_classes or spec.num_classes, c, **extra)


def summarize_spec(spec: ModelSpec, input_shape: tuple | None = None, num_classes: int | None = None) -> Summary:
    shape = tuple(input_shape or (spec.in_channels, *spec.input_size))
    model = build_on_meta(spec, shape, num_classes)
    try:
        return summarize(model, shape, spec.name)
    except (RuntimeError, ValueError, IndexError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"model {spec.name} does not accept input {'x'.join(map(str, shape))}: "
                          f"{first}") from None


def human(n: float) -> str:
    """1234567 -> '1.23M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return str(int(n))


def format_table(s: Summary) -> str:
    lines = [f"{'layer':<34} {'type':<18} {'output':>16} {'params':>12} {'MACs':>10} {'RF':>5}"]
    for r in s.rows:
        kind = r.kind if r.in_forward else r.kind + " *"
        shape = "x".join(map(str, r.shape)) if r.in_forward else "-"
        lines.append(f"{r.name[:34]:<34} {kind[:18]:<18} {shape:>16} "
                     f"{r.params:>12,} {human(r.macs) if r.macs else '-':>10} "
                     f"{r.rf if r.rf is not None else '-':>5}")
    lines.append(f"total: {s.params:,} parameters ({human(s.params)}), {s.macs:,} multiply-adds "
                 f"({human(s.macs)}) for one {'x'.join(map(str, s.input_shape))} input, output "
                 f"{'x'.join(map(str, s.output_shape))}")
    if not all(r.in_forward for r in s.rows):
        lines.append("* not run by forward (used only by the training loss): parameters in the total, "
                     "multiply-adds not")
    return "\n".join(lines)
