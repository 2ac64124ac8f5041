"""convnet lr-find: the learning-rate range test (Smith 2015, fastai's lr_find) for a training
configuration; prints the suggested rate and draws the curve. Nothing is trained or saved."""

from __future__ import annotations

import argparse

from convnet.cli.options import positive_float, positive_int

HELP = "find a learning rate: loss against an exponentially growing rate (nothing is saved)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from convnet.cli.fields import add_dataclass_arguments
    from convnet.training.config import TrainConfig

    add_dataclass_arguments(p, TrainConfig, skip=("out", "epochs", "lr", "schedule", "warmup", "patience",
                                                  "min_delta", "ema", "time", "log", "resume"))
    p.add_argument("--config", metavar="FILE.yaml", help="training options from a YAML file; flags win")
    p.add_argument("--start", type=positive_float, default=1e-6, help="first learning rate (default 1e-6)")
    p.add_argument("--end", type=positive_float, default=10.0, help="last learning rate (default 10)")
    p.add_argument("--steps", type=positive_int, default=200, help="steps of the test (default 200)")
    p.add_argument("--plot", metavar="PLOT.png", default="lr_find.png", help="the curve (default lr_find.png)")


def run(args) -> int:
    from convnet.cli.train import config_from_args
    from convnet.errors import ConfigError
    from convnet.training.lr_find import find_lr
    from convnet.visualize.common import save_figure
    from convnet.visualize.plots import plot_lr_find

    if args.steps > 10_000:
        raise ConfigError(f"--steps {args.steps}: at most 10,000")
    cfg, _ = config_from_args(args, log=print)
    bar = _bar(args.steps, cfg.progress)
    result = find_lr(cfg, args.start, args.end, args.steps, progress=lambda i, n: bar.update(1))
    bar.close()
    out = save_figure(plot_lr_find(result), args.plot)
    print(f"suggested learning rate {result['suggested']:.2e} (steepest fall of the loss; lowest loss at "
          f"{result['min_loss_lr']:.2e}); {len(result['lr'])} steps ({result['stopped']})")
    print(f"train with it: convnet train --lr {result['suggested']:.2g} ...   curve: {out}")
    return 0


def _bar(total: int, progress: bool):
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc="lr range test", unit="step", leave=False, file=sys.stderr,
                disable=None if progress else True)
