"""convnet show filters|maps|gradcam|dream|graph|embedding: pictures of what a trained network does."""

from __future__ import annotations

import argparse
from pathlib import Path

from convnet.cli.limits import MAX_DREAM_SIDE, MAX_DREAM_STEPS, MAX_MAPS, int_in

HELP = "draw filters, activation maps, Grad-CAM or filter dreams of a trained run"

WHAT = {
    "filters": "the learned kernels of a conv layer as an image grid",
    "maps": "the activation maps of one image at each conv, activation and pooling stage",
    "gradcam": "Grad-CAM heat map and gradient saliency of one image",
    "dream": "the input pattern that most excites each of a grid of filters",
    "graph": "graph runs: the graph coloured by predicted class, misclassified nodes ringed",
    "embedding": "graph runs: the hidden layer of every node on its 2 principal components",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from convnet.cli.main import Parser

    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True, parser_class=Parser)
    for name, text in WHAT.items():
        s = sub.add_parser(name, help=text, description=text)
        s.add_argument("run_dir", metavar="RUN_DIR")
        if name in ("maps", "gradcam"):
            s.add_argument("image", metavar="IMAGE", help="any image; converted as `predict` converts it")
        s.add_argument("--layer", metavar="L", help="layer name or index (a wrong one lists the valid ones)")
        s.add_argument("--out", metavar="PATH", help=f"picture to write (default RUN_DIR/show/{name}-....png)")
        s.add_argument("--device", default="cpu")
    sub.choices["gradcam"].add_argument("--class", dest="cls", metavar="C",
                                        help="class name or number to explain (default: the predicted one)")
    dream = sub.choices["dream"]
    dream.add_argument("--filter", dest="filters", metavar="F", default=None,
                       help="filter numbers: 3, 0-15 or 1,4,9 (default: the first 16)")
    dream.add_argument("--steps", type=int_in(1, MAX_DREAM_STEPS), default=100,
                       help=f"gradient-ascent steps (default 100, at most {MAX_DREAM_STEPS:,})")
    dream.add_argument("--size", type=int_in(1, MAX_DREAM_SIDE), help="square side of the dreamed images "
                       f"(default: the model's input size; at most {MAX_DREAM_SIDE})")
    sub.choices["maps"].add_argument("--max-maps", type=int_in(1, MAX_MAPS),
                                     help=f"maps to draw per stage (at most {MAX_MAPS})")
    sub.choices["graph"].add_argument("--nodes", nargs="+", metavar="ID",
                                      help="draw a sample around these nodes (big graphs; default: the best-linked one)")
    sub.choices["graph"].add_argument("--max-nodes", type=int_in(1, 5000), default=400,
                                      help="nodes in the drawing of a big graph (default 400, at most 5,000)")


def run(args) -> int:
    from convnet.visualize.common import load_run, save_figure

    if args.what in ("graph", "embedding"):
        from convnet.visualize.graph import draw_run

        fig, default_name, line = draw_run(args.run_dir, args.what, getattr(args, "nodes", None),
                                           getattr(args, "max_nodes", 400), args.device)
        print(line)
    else:
        clf = load_run(args.run_dir, args.device)
        fig, default_name = globals()[f"_{args.what}"](clf, args)
    out = Path(args.out) if args.out else Path(args.run_dir) / "show" / default_name
    save_figure(fig, out)
    print(f"wrote {out}")
    return 0


def _filters(clf, args):
    from convnet.visualize.filters import plot_filters, conv_weight

    name, weight = conv_weight(clf.model, args.layer)
    print(f"layer {name}: {weight.shape[0]} filters of {weight.shape[2]}x{weight.shape[3]}x{weight.shape[1]}")
    return plot_filters(clf.model, name), f"filters-{_safe(name)}.png"


def _maps(clf, args):
    from convnet.visualize.activations import describe_shapes
    from convnet.visualize.common import image_batch
    from convnet.visualize.maps import feature_maps, plot_maps

    raw, x = image_batch(clf, args.image)
    print(describe_shapes(feature_maps(clf.model, x, args.layer), tuple(x.shape)))
    fig = plot_maps(clf.model, x, raw, args.layer, args.max_maps)
    return fig, f"maps-{Path(args.image).stem}" + (f"-{_safe(args.layer)}" if args.layer else "") + ".png"


def _gradcam(clf, args):
    from convnet.visualize.common import class_index, image_batch
    from convnet.visualize.gradcam import gradcam, plot_gradcam

    k = class_index(clf.classes, args.cls)
    raw, x = image_batch(clf, args.image)
    result = gradcam(clf.model, x, k, args.layer)
    p = result.probabilities
    print(f"{args.image}: explaining {clf.classes[result.class_index]!r} (p = {p[result.class_index]:.3f}); "
          f"predicted {clf.classes[int(p.argmax())]!r} (p = {p.max():.3f}); Grad-CAM at layer {result.layer}")
    return plot_gradcam(result, raw, clf.classes), f"gradcam-{Path(args.image).stem}.png"


def _dream(clf, args):
    from convnet.visualize.dream import dream, plot_dream

    size = (args.size, args.size) if args.size else None
    result = dream(clf.model, clf.preprocess, args.layer, parse_filters(args.filters), size, args.steps)
    print(f"layer {result.layer}: mean activation per filter, random start -> dream")
    for f, a, b in zip(result.filters, result.start, result.activation):
        print(f"  filter {f:>3}: {a:8.3f} -> {b:8.3f}")
    return plot_dream(result), f"dream-{_safe(result.layer)}.png"


MAX_FILTERS = 256     # filters in one dream grid (each is an image optimised in the batch)


def parse_filters(text: str | None) -> list[int] | None:
    """'3' -> [3]; '0-3' -> [0, 1, 2, 3]; '1,4,9' -> [1, 4, 9]; None -> None (the default)."""
    from convnet.errors import ConfigError

    if text is None:
        return None
    shown = text if len(text) <= 40 else text[:40] + "..."
    out = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            first, last = int(lo), int(hi) if hi else int(lo)
            # counted before the range is made: 0-100000000000 must not become a list
            if len(out) + max(0, last - first + 1) > MAX_FILTERS:
                raise ConfigError(f"--filter {shown!r}: more than {MAX_FILTERS} filters (the cap)")
            out += range(first, last + 1)
    except ValueError:
        raise ConfigError(f"--filter {shown!r}: give numbers like 3, 0-15 or 1,4,9") from None
    if not out:
        raise ConfigError(f"--filter {shown!r}: give between 1 and {MAX_FILTERS} filters")
    return out


def _safe(name) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))
