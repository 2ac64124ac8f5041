"""convnet eval: the headline metric, loss and per-class figures of a trained run, for any task."""

from __future__ import annotations

import argparse
import json

from convnet.cli.options import add_data_arguments, device_name

HELP = "evaluate a trained run on a test set"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_data_arguments(p, default=None)
    p.add_argument("--split", choices=["test", "val", "train"], default="test")
    p.add_argument("--device", type=device_name, default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--tta", action="store_true",
                   help="images: average each image's logits with its mirror image's (models trained with flips)")
    p.add_argument("--weights", choices=["auto", "best", "last"], default="auto",
                   help="best: the best validation epoch's; last: the last epoch's (default: best where kept)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from convnet.tasks import get_task
    from convnet.training.runs import RunDir

    run = RunDir.open(args.run_dir)
    task = get_task(run.task)
    hw = run.hardware(args.device)
    ds = run.dataset(task, args.data, args.data_dir)
    split = _in_run_order(ds, ds.split(args.split), run.classes, quiet=args.json)
    model = run.build_model(task, args.weights).to(hw.device)
    if hw.channels_last:
        import torch

        model = model.to(memory_format=torch.channels_last)
    ev = _evaluate(task, model, split, run.config, hw, args.tta)
    report = {"run_dir": str(args.run_dir), "data": ds.name, "split": args.split, "flip_tta": args.tta,
              "task": task.name, **ev.to_dict(run.classes)}
    if args.json:
        print(json.dumps(report))
        return 0
    how = ", each averaged with its mirror image" if args.tta else ""
    value = ev.metrics[task.metric]
    shown = f"{value:.2%}" if task.metric == "accuracy" else f"{value:.4f}"
    print(f"{ds.name} {args.split}: {task.metric} {shown}  loss {ev.loss:.4f}  ({ev.n:,} {task.item}{how})")
    per_class = report.get("per_class_accuracy") or {}
    width = max((len(c) for c in per_class), default=0)
    for name, acc in per_class.items():
        bar = "#" * round((acc or 0) * 30)
        print(f"  {name:<{width}}  {'-' if acc is None else f'{acc:6.2%}'}  {bar}")
    return 0


def _in_run_order(ds, split, classes: list[str], quiet: bool):
    """The split with its labels numbered as the run numbers its classes: the same names in
    another order are matched by name; other names are refused (a score would be meaningless)."""
    from convnet.errors import DataError

    if list(ds.classes) == classes:
        return split
    if sorted(map(str, ds.classes)) != sorted(classes) or not hasattr(split, "labels"):
        raise DataError(f"data set {ds.name!r} has classes {_short(ds.classes)} but the run was trained "
                        f"on {_short(classes)}")
    import torch

    index = torch.tensor([classes.index(str(c)) for c in ds.classes])
    if not quiet:
        print(f"note: {ds.name}'s classes are in another order than the run's; matched by name")
    return type(split)(split.images, index[split.labels])


def _evaluate(task, model, split, config, hw, tta: bool):
    if not tta:
        return task.evaluate(model, split, config, hw)
    if task.name != "classify":
        from convnet.errors import ConfigError

        raise ConfigError(f"--tta mirrors images; the {task.name} task has none")
    from convnet.data.batches import Preprocess
    from convnet.tasks.classify import evaluate

    return evaluate(model, split, Preprocess.from_dict(config["preprocess"]), hw, len(config["classes"]),
                    flip_tta=True)


def _short(classes: list[str]) -> str:
    shown = ", ".join(map(str, classes[:5]))
    return f"[{shown}{', ...' if len(classes) > 5 else ''}] ({len(classes)})"
