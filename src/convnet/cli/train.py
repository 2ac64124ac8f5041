"""convnet train: train a model into a run directory.

Every TrainConfig field is a flag (cli/fields.py generates them from the dataclass); a flag
given wins over --config FILE.yaml, which wins over the model's registered defaults, which win
over the project's (training/config.py resolve_options)."""

from __future__ import annotations

import argparse

HELP = "train a model and save it in a run directory"

# Flags that --resume honours: the rest of the run's configuration is fixed when it starts.
RESUME_FLAGS = {"progress", "threads"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from convnet.cli.fields import add_dataclass_arguments
    from convnet.training.config import TrainConfig

    add_dataclass_arguments(p, TrainConfig)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its last epoch")
    p.add_argument("--config", metavar="FILE.yaml",
                   help="training options from a YAML file (e.g. a tuning study's best.yaml); flags win")


def config_from_args(args, log=None):
    """(TrainConfig, the model defaults used) from the flags, the --config file and the defaults."""
    from convnet.cli.fields import given
    from convnet.training.config import TrainConfig, resolve_options
    from convnet.training.configfile import read_config_file

    file_values = read_config_file(args.config) if getattr(args, "config", None) else {}
    cfg, used = resolve_options(given(args, TrainConfig), file_values)
    if used and log is not None:
        who = f"{cfg.model} with the {cfg.engine} engine" if cfg.engine != "torch" else cfg.model
        log(f"{who} trains with its own defaults: "
            + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in sorted(used.items())) + " (flags override them)")
    return cfg, used


def run(args) -> int:
    from convnet.cli.fields import given
    from convnet.errors import ConfigError
    from convnet.training.config import TrainConfig
    from convnet.training.loop import train
    from convnet.visualize.artifacts import write_run_artifacts

    if args.resume:
        ignored = sorted(set(given(args, TrainConfig)) - RESUME_FLAGS) + (["config"] if args.config else [])
        if ignored:
            raise ConfigError("--resume continues a run with its own configuration; remove "
                              + ", ".join("--" + k.replace("_", "-") for k in ignored))
        cfg = TrainConfig(progress=getattr(args, "progress", True), threads=getattr(args, "threads", None))
    else:
        cfg, _ = config_from_args(args, log=print)
    result = train(cfg, resume=args.resume)
    write_run_artifacts(result, log=print)
    return 0
