"""convnet train: train a model into a run directory."""

from __future__ import annotations

import argparse

from convnet.cli.options import (add_data_arguments, fraction, non_negative_float, non_negative_int,
                                 positive_float, positive_int)
from convnet.training.configfile import hide_defaults, merge_config_file

HELP = "train a model and save it in a run directory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="convnet", help="registered name (see `convnet models`) or notation")
    add_data_arguments(p)
    p.add_argument("--epochs", type=positive_int, default=8)
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--lr", type=positive_float, help="peak learning rate (default 0.05 sgd, 3e-3 adamw)")
    p.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd",
                   help="sgd = SGD with Nesterov momentum")
    p.add_argument("--momentum", type=fraction, default=0.9)
    p.add_argument("--weight-decay", type=non_negative_float, default=5e-4)
    p.add_argument("--schedule", choices=["onecycle", "cosine", "constant"], default="onecycle")
    p.add_argument("--warmup", type=fraction, default=0.2, help="fraction of steps warming up")
    p.add_argument("--label-smoothing", type=fraction, default=0.1)
    p.add_argument("--crop-padding", type=non_negative_int, default=2,
                   help="random-crop shift in pixels (0 = off)")
    p.add_argument("--hflip", action=argparse.BooleanOptionalAction, default=None,
                   help="random horizontal flips (default: where the data set allows)")
    p.add_argument("--input-size", type=positive_int, help="square input side (default: the model's)")
    p.add_argument("--val-fraction", type=fraction, default=0.0,
                   help="share of the training set held out for validation")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--amp", choices=["auto", "bf16", "fp16", "off"], default="auto",
                   help="mixed precision (auto: bf16 on AMX CPUs and GPUs)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--threads", type=positive_int, help="CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="RUN_DIR", help="run directory (default runs/<model>-<data>-<time>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its last epoch")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument("--engine", choices=["torch", "reference"], default="torch",
                   help="reference = the NumPy engine of convnet.reference (SGD, CPU; plain Sequential models)")
    p.add_argument("--config", metavar="FILE.yaml",
                   help="training options from a YAML file (e.g. a tuning study's best.yaml); flags win")
    hide_defaults(p)


def config_from_args(args):
    from convnet.training.config import TrainConfig

    return TrainConfig(
        model=args.model, data=args.data, data_dir=args.data_dir, input_size=args.input_size,
        val_fraction=args.val_fraction, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        optimizer=args.optimizer, momentum=args.momentum, weight_decay=args.weight_decay,
        schedule=args.schedule, warmup=args.warmup, label_smoothing=args.label_smoothing,
        crop_padding=args.crop_padding, hflip=args.hflip, device=args.device, amp=args.amp,
        channels_last=args.channels_last, threads=args.threads, seed=args.seed, out=args.out,
        progress=args.progress)


def run(args) -> int:
    from convnet.training.loop import train

    from convnet.training.config import TrainConfig

    extra = merge_config_file(args, getattr(args, "config", None), log=print)
    cfg = config_from_args(args)
    if extra:                                   # file keys without a flag, e.g. model_kwargs
        cfg = TrainConfig.from_dict({**cfg.to_dict(), **extra})
    if getattr(args, "engine", "torch") == "reference":
        from convnet.reference_bridge import train as train_reference

        train_reference(cfg, resume=args.resume)
        return 0
    train(cfg, resume=args.resume)
    return 0
