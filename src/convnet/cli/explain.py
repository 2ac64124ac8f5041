"""convnet explain conv|pool|network: the arithmetic of a convolutional network, printed.

    convnet explain conv                        the lecture's 4x4x3 image, 2x2x3 filter, stride 2
    convnet explain conv --image chelsea.png --filter sobel-x --image-size 32 --gif sobel.gif
    convnet explain pool --mode max
    convnet explain network lenet5              each layer's volume, parameters, receptive field
"""

from __future__ import annotations

import argparse

from convnet.cli.limits import (MAX_CLASSES, MAX_EXPLAIN_DEPTH, MAX_EXPLAIN_SIDE, MAX_NETWORK_DEPTH,
                                 MAX_NETWORK_SIDE, int_in)
from convnet.cli.options import non_negative_int

HELP = "print the arithmetic of a convolution, a pooling layer or a whole network"
PADDING_MODES = ("zeros", "replicate", "reflect")


def add_arguments(p: argparse.ArgumentParser) -> None:
    topics = p.add_subparsers(dest="topic", metavar="TOPIC", required=True)
    conv = topics.add_parser("conv", help="a convolution, window by window (default: the lecture's example)",
                             description="a convolution, window by window (default: the lecture's example)")
    _image_arguments(conv, channels=3)
    conv.add_argument("--filter-size", type=side, help="K of the KxK filters (default 2, or the named filter's)")
    conv.add_argument("--filters", type=depth, default=1,
                      help=f"number of filters = output depth (at most {MAX_EXPLAIN_DEPTH})")
    conv.add_argument("--filter", metavar="NAME|RUN_DIR",
                      help="sobel-x, sobel-y, laplacian, gaussian, box, or a run directory (its first conv layer)")
    conv.add_argument("--filter-index", type=non_negative_int, default=0, help="which filter of the run's first conv layer")
    conv.add_argument("--stride", type=side, default=2)
    conv.add_argument("--padding", type=padding, default=0)
    conv.add_argument("--padding-mode", choices=PADDING_MODES, default="zeros")
    pool = topics.add_parser("pool", help="max or average pooling, window by window",
                             description="max or average pooling, window by window")
    _image_arguments(pool, channels=1)
    pool.add_argument("--size", type=side, default=2, help="window side")
    pool.add_argument("--stride", type=side, help="default: the window side")
    pool.add_argument("--padding", type=padding, default=0)
    pool.add_argument("--mode", choices=["max", "avg"], default="max")
    net = topics.add_parser("network", help="each layer's output volume, parameters and receptive field",
                            description="each layer's output volume, parameters and receptive field")
    net.add_argument("model", metavar="MODEL", help="a registered model name (see `convnet models`)")
    net.add_argument("--input-size", type=int_in(1, MAX_NETWORK_SIDE),
                     help=f"square input side (default: the model's; at most {MAX_NETWORK_SIDE})")
    net.add_argument("--in-channels", type=int_in(1, MAX_NETWORK_DEPTH), help="input depth (default: the model's)")
    net.add_argument("--num-classes", type=int_in(1, MAX_CLASSES), help="outputs (default: the model's)")


# every window is printed or drawn, so sides, depths and padding are capped (cli/limits.py)
side = int_in(1, MAX_EXPLAIN_SIDE)
padding = int_in(0, MAX_EXPLAIN_SIDE)
depth = int_in(1, MAX_EXPLAIN_DEPTH)


def _image_arguments(p: argparse.ArgumentParser, channels: int) -> None:
    p.add_argument("--image-size", type=side,
                   help=f"input side H = W (default 4, or 32 for --image; at most {MAX_EXPLAIN_SIDE})")
    p.add_argument("--channels", type=depth, help=f"input depth (default {channels}; an --image: 1 or 3)")
    p.add_argument("--image", metavar="PATH", help="a real image (resized to --image-size) instead of small integers")
    p.add_argument("--seed", type=non_negative_int, default=0, help="for the random small-integer inputs and filters")
    p.add_argument("--show", type=non_negative_int, help="output positions to spell out (default: all up to 16)")
    p.add_argument("--gif", metavar="PATH", help="write an animation of the window sliding and the map filling in")


def run(args) -> int:
    if args.topic == "network":
        return explain_network(args)
    import numpy as np

    from convnet.reference import explain as ex

    if args.topic == "conv":
        image, filters, bias, k = conv_inputs(args)
        h, w = image.shape[1:]
        ex.check_fits(h, w, k, args.stride, args.padding, "explain conv")
        lines, out = ex.explain_conv(image, filters, bias, args.stride, args.padding, args.padding_mode,
                                     show=_show(args, out_positions(h, w, k, args.stride, args.padding)))
        shown = ex.pad(image[None], (args.padding,) * 2, args.padding_mode, "explain conv")[0]
        stride, title = args.stride, f"conv {k}x{k}, stride {args.stride}: map 0"
    else:
        image = pool_input(args)
        h, w = image.shape[1:]
        k, stride = args.size, args.stride or args.size
        ex.check_fits(h, w, k, stride, args.padding, "explain pool")
        if args.padding > k // 2:
            from convnet.errors import ConfigError

            raise ConfigError(f"explain pool: padding {args.padding} must be at most half the window {k}")
        lines, out = ex.explain_pool(image, k, stride, args.mode, args.padding,
                                     show=_show(args, out_positions(h, w, k, stride, args.padding)))
        shown = np.pad(image, ((0, 0), (args.padding,) * 2, (args.padding,) * 2))
        title = f"{args.mode} pool {k}x{k}, stride {stride}: slice 0"
    print("\n".join(lines))
    if args.gif:
        from convnet.reference.animate import sliding_gif

        from convnet.errors import ConfigError

        rgb = bool(args.image) and shown.shape[0] == 3
        try:
            n = sliding_gif(args.gif, shown if rgb else shown[0], out[0], k, stride,
                            title if rgb or shown.shape[0] == 1 else f"{title} (input depth slice 0)")
        except OSError as e:
            raise ConfigError(f"--gif {args.gif}: cannot write it ({e.strerror or e})") from None
        print(f"wrote {args.gif} ({n} frames)")
    return 0


def out_positions(h, w, k, s, p) -> int:
    from convnet.reference.shapes import output_size

    return output_size(h, k, s, p) * output_size(w, k, s, p)


def _show(args, positions: int) -> int | None:
    if args.show is not None:
        return args.show
    return None if positions <= 16 else 2


def _is_lecture(args, channels: int) -> bool:
    return args.image is None and args.image_size in (None, 4) and args.channels in (None, channels)


def conv_inputs(args):
    """-> image [C, H, W], filters [F, C, K, K], bias [F], K from the options."""
    import numpy as np

    from convnet.reference import explain as ex

    lecture = _is_lecture(args, 3) and args.filter is None and args.filter_size in (None, 2) and args.filters == 1
    if lecture:
        return ex.LECTURE_IMAGE, ex.LECTURE_FILTER[None], np.array([ex.LECTURE_BIAS]), 2
    rng = np.random.default_rng(args.seed)
    filters = bias = None
    if args.filter is not None and _is_run_dir(args.filter):
        filters, bias = learned_filter(args.filter, args.filter_index)
        channels = filters.shape[1]
    else:
        channels = args.channels or 3
    image = load_image(args, channels) if args.image else \
        rng.integers(0, 3, (channels, args.image_size or 4, args.image_size or 4)).astype(np.float64)
    if filters is None and args.filter is not None:
        kernel = ex.named_filter(args.filter, args.filter_size)
        filters = np.repeat(kernel[None, None], image.shape[0], axis=1)      # the same 2-d filter on every slice
        bias = np.zeros(1)
    elif filters is None:
        k = args.filter_size or 2
        filters = rng.integers(-1, 2, (args.filters, image.shape[0], k, k)).astype(np.float64)
        bias = np.ones(args.filters)
    return image, filters, bias, filters.shape[-1]


def pool_input(args):
    import numpy as np

    from convnet.reference import explain as ex

    if _is_lecture(args, 1):
        return ex.LECTURE_POOL[None]
    channels = args.channels or 1
    if args.image:
        return load_image(args, channels)
    rng = np.random.default_rng(args.seed)
    return rng.integers(0, 10, (channels, args.image_size or 4, args.image_size or 4)).astype(np.float64)


def load_image(args, channels: int):
    """The --image, resized to --image-size (default 32), as floats in [0, 1]: [C, H, W]."""
    import numpy as np
    from PIL import Image

    from convnet.data.images import open_image
    from convnet.errors import ConfigError

    if channels not in (1, 3):
        raise ConfigError(f"an --image has 1 (gray) or 3 (RGB) channels, not {channels}")
    size = args.image_size or 32                 # (at most MAX_EXPLAIN_SIDE: the flag's type)
    im = open_image(args.image, "L" if channels == 1 else "RGB").resize((size, size), Image.Resampling.BILINEAR)
    a = np.asarray(im, dtype=np.float64).reshape(size, size, channels) / 255.0
    return a.transpose(2, 0, 1)                                              # [H, W, C] -> [C, H, W]


def _is_run_dir(text: str) -> bool:
    from pathlib import Path

    return Path(text).is_dir()


def learned_filter(run_dir: str, index: int):
    """The run's first conv layer's filter `index` (NumPy, from model.safetensors): [1, C, K, K], [1]."""
    from pathlib import Path

    import numpy as np
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from convnet.errors import ConfigError, DataError

    from convnet.training.runs import WEIGHTS

    path = Path(run_dir) / WEIGHTS
    if not path.is_file():
        raise DataError(f"{run_dir} has no trained model ({WEIGHTS} is missing)")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise DataError(f"{path}: unreadable weights ({e})") from None
    convs = [k for k in state if k.endswith("weight") and state[k].ndim == 4 and state[k].shape[-1] == state[k].shape[-2]]
    if not convs:
        raise DataError(f"{path} has no square convolution filters")
    first = min(convs, key=lambda k: [int(p) if p.isdigit() else 0 for p in k.split(".")])   # layer order
    weight = state[first].astype(np.float64)
    if index >= weight.shape[0]:
        raise ConfigError(f"--filter-index {index}: {first} has only {weight.shape[0]} filters")
    bias_key = first[:-len("weight")] + "bias"
    bias = state[bias_key][index:index + 1].astype(np.float64) if bias_key in state else np.zeros(1)
    return weight[index:index + 1], bias


def explain_network(args) -> int:
    for line in network_lines(args.model, args.input_size, args.in_channels, args.num_classes):
        print(line)
    return 0


def network_lines(name: str, input_size=None, in_channels=None, num_classes=None) -> list[str]:
    """Each leaf layer in call order: output volume HxWxC, parameters, receptive field (for
    networks that are one chain of layers; a branching network has no single one)."""
    import torch
    import torch.nn as nn

    from convnet.errors import ConfigError
    from convnet.models import get_spec

    spec = get_spec(name)
    c = in_channels or spec.in_channels
    h, w = (input_size, input_size) if input_size else tuple(spec.input_size)
    model = spec.build(num_classes, c).eval()
    rows, hooks = [], []
    for lname, m in model.named_modules():
        if lname and not list(m.children()):
            hooks.append(m.register_forward_hook(lambda mod, i, o, lname=lname: rows.append((lname, mod, i, o))))
    x = torch.zeros(1, c, h, w)
    try:
        with torch.no_grad():
            model(x)
    except RuntimeError as e:
        raise ConfigError(f"{name} does not take a {h}x{w}x{c} input ({str(e).splitlines()[0]})") from None
    finally:
        for hook in hooks:
            hook.remove()
    rows = [r for r in rows if isinstance(r[3], torch.Tensor)]
    # one chain: every layer reads what the layer before it wrote (a branch or a skip breaks this)
    ptrs = [x.data_ptr()] + [o.data_ptr() for _, _, _, o in rows]
    chain = all(i and isinstance(i[0], torch.Tensor) and i[0].data_ptr() == ptrs[n]
                for n, (_, _, i, _) in enumerate(rows))
    rf, jump = 1, 1
    table = [("layer", "kind", "output", "params", "receptive field"), ("input", "", f"{h}x{w}x{c}", "", "1x1")]
    for lname, m, _, out in rows:
        if isinstance(m, (nn.Flatten, nn.Linear)) or out.dim() == 4 and out.shape[2:] == (1, 1):
            rf = None                                    # from here on every unit sees the whole input
        if chain and rf and isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s, d = (_first(m.kernel_size), _first(m.stride), _first(getattr(m, "dilation", 1)))
            rf, jump = rf + (k - 1) * d * jump, jump * s
        params = sum(p.numel() for p in m.parameters(recurse=False))
        table.append((lname, _kind(m), _volume(out), f"{params:,}" if params else "",
                      "-" if not chain else f"{rf}x{rf}" if rf else "whole input"))
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    lines = [f"{name}: {h}x{w}x{c} input, volumes as H x W x depth"]
    lines += ["  ".join(v.ljust(widths[i]) if i != 3 else v.rjust(widths[i]) for i, v in enumerate(r)).rstrip()
              for r in table]
    total = sum(p.numel() for p in model.parameters())
    lines.append(f"total: {total:,} parameters")
    if not chain:
        lines.append("(receptive fields are printed only for networks that are one chain of layers, "
                     "without branches or skips)")
    return lines


def _first(v) -> int:
    return v[0] if isinstance(v, (tuple, list)) else v


def _volume(t) -> str:
    shape = tuple(t.shape[1:])
    return f"{shape[1]}x{shape[2]}x{shape[0]}" if len(shape) == 3 else "x".join(map(str, shape))


def _kind(m) -> str:
    import torch.nn as nn

    if isinstance(m, nn.Conv2d):
        k, s, p = _first(m.kernel_size), _first(m.stride), _first(m.padding)
        return f"Conv2d {m.out_channels}x{k}x{k}/{s}" + (f" pad {p}" if p else "")
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        return f"{type(m).__name__} {_first(m.kernel_size)}/{_first(m.stride)}"
    return type(m).__name__
