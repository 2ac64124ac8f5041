"""Kinds of work, each one module with one Task class (see tasks/base.py for the interface).

    TASKS: name -> "module:Class". Add a task by writing its module and one line here.
    The first task (in this order) whose `claims(data, data_dir)` is true is chosen when
    `--task` is not given, so the catch-all image task comes last.
"""

from __future__ import annotations

import importlib

from convnet.errors import ConfigError

TASKS = {
    "graph": "convnet.tasks.graph:GraphNodeClassification",
    "text": "convnet.tasks.text:TextClassification",
    "audio": "convnet.tasks.audio:AudioClassification",
    "ocr": "convnet.tasks.ocr:LineRecognition",
    "classify": "convnet.tasks.classify:ImageClassification",
}
DEFAULT = "classify"


def _load(name: str):
    module, cls = TASKS[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ModuleNotFoundError as e:
        if e.name == module:
            return None          # a task whose module is absent is simply not offered
        raise


def names() -> list[str]:
    return [n for n in TASKS if _load(n) is not None]


def get_task(name: str | None):
    """A Task instance by name (None: the image classification task)."""
    name = name or DEFAULT
    cls = _load(name) if name in TASKS else None
    if cls is None:
        raise ConfigError(f"unknown task {name!r} (choose {', '.join(names())})")
    return cls()


def task_for(data: str, data_dir: str | None, task: str | None = None):
    """The task `--task` names, else the first that claims `--data`."""
    if task:
        return get_task(task)
    for name in names():
        cls = _load(name)
        if name == DEFAULT or cls.claims(data, data_dir):
            return cls()
    return get_task(DEFAULT)
