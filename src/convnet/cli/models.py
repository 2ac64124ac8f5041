"""convnet models: every registered architecture with its year, paper, size and cost."""

from __future__ import annotations

import argparse

HELP = "list the model zoo: year, paper, parameters and multiply-adds of each model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list of objects instead of a table")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def describe_all(progress: bool = True) -> list[dict]:
    """One dict per registered model, counted at its default input size on the meta device."""
    import sys

    from tqdm import tqdm

    from convnet.models import get_spec, names
    from convnet.models.summary import summarize_spec

    rows = []
    for name in tqdm(names(), desc="counting", unit="model", leave=False, file=sys.stderr,
                     disable=None if progress else True):
        spec = get_spec(name)
        s = summarize_spec(spec)
        rows.append({"name": name, "year": spec.year, "paper": spec.paper, "description": spec.description,
                     "params": s.params, "macs": s.macs, "input": list(s.input_shape),
                     "num_classes": spec.num_classes, "fixed_size": spec.fixed_size,
                     "training": dict(spec.training)})      # its own training defaults, if any
    return rows


def format_rows(rows: list[dict]) -> str:
    from convnet.models.summary import human

    lines = [f"{'name':<18} {'year':>4} {'params':>13} {'MACs':>9}  {'input':<10} paper"]
    for r in rows:
        lines.append(f"{r['name']:<18} {r['year'] or '':>4} {r['params']:>13,} {human(r['macs']):>9}  "
                     f"{'x'.join(map(str, r['input'])):<10} {r['paper']}")
    return "\n".join(lines)


def run(args) -> int:
    import json

    rows = describe_all(args.progress)
    print(json.dumps(rows, indent=1) if args.json else format_rows(rows))
    return 0
