"""convnet tasks: the kinds of work convnet trains, and which data select each."""

from __future__ import annotations

import argparse
import json

HELP = "list the tasks (image classification, sound, text, graphs, ...) and what selects them"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON list")


def run(args) -> int:
    from convnet.tasks import get_task, names

    rows = []
    for name in names():
        task = get_task(name)
        rows.append({"task": name, "help": task.help, "metric": task.metric, "item": task.item,
                     "engines": list(task.engines)})
    if args.json:
        print(json.dumps(rows))
        return 0
    width = max(len(r["task"]) for r in rows)
    for r in rows:
        print(f"{r['task']:<{width}}  {r['help']} (metric: {r['metric']}; engines: {', '.join(r['engines'])})")
    print("\n`convnet train --data ...` picks the task its data imply; `--task NAME` chooses one.")
    return 0
