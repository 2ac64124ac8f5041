"""The search space: a YAML mapping of hyperparameter -> fixed value, list of choices or range.

    lr: {low: 1.0e-3, high: 0.3, log: true}   # a range (float: both ends floats)
    blocks: {low: 1, high: 3}                 # a range of whole numbers (step 1 unless `step`)
    optimizer: [sgd, adamw]                   # a list: one of these
    epochs: 2                                 # a single value: fixed

Training keys are TrainConfig fields; architecture keys describe the `convnet` family
(models/simple.py): conv blocks, filters per block (`filters` is drawn once per block, as
filters_1, filters_2, ...), kernel, first-conv stride, pooling or strided downsampling,
hidden FC units, dropout. Everything is checked here, before a study is touched."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

from convnet.errors import ConfigError
from convnet.training.config import OPTIMIZERS, SCHEDULES

DEFAULT_SPACE = Path(__file__).with_name("default_space.yaml")
MAX_GRID = 10_000       # grid points: each is a training run, and the grid is queued whole


def _num(low=None, high=None, whole=False):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int if whole else (int, float)):
            return "a whole number" if whole else "a number"
        if low is not None and v < low or high is not None and v > high:
            return f"between {low} and {high}" if high is not None else f"at least {low}"
        return None
    return check


def _one_of(options):
    def check(v):
        return None if v in options else f"one of {', '.join(map(str, options))}"
    return check


def _odd_kernel(v):
    return _num(1, 11, whole=True)(v) or (None if v % 2 else "an odd number (the padding keeps sizes)")


# key -> check(value) returning None or what the value must be
TRAIN_KEYS = {
    "lr": _num(1e-6, 10.0), "batch_size": _num(1, 65536, whole=True),
    "weight_decay": _num(0.0, 1.0), "epochs": _num(1, 1000, whole=True),
    "label_smoothing": _num(0.0, 0.99), "optimizer": _one_of(OPTIMIZERS),
    "momentum": _num(0.0, 0.999), "schedule": _one_of(SCHEDULES), "warmup": _num(0.0, 0.99),
    "crop_padding": _num(0, 16, whole=True),
}
ARCH_KEYS = {
    "blocks": _num(1, 8, whole=True), "filters": _num(1, 1024, whole=True), "kernel": _odd_kernel,
    "stride": _num(1, 4, whole=True), "downsample": _one_of(("pool", "stride")),
    "hidden": _num(0, 8192, whole=True), "dropout": _num(0.0, 0.9),
}
ARCH_DEFAULTS = {"blocks": 3, "kernel": 3, "stride": 1, "downsample": "pool", "hidden": 0, "dropout": 0.0}


@dataclass(frozen=True)
class Param:
    name: str
    kind: str                       # "fixed" | "choice" | "int" | "float"
    value: object = None            # fixed
    choices: tuple = ()             # choice
    low: float = 0.0                # int, float
    high: float = 0.0
    log: bool = False
    step: float | None = None

    def suggest(self, trial, name: str | None = None):
        name = name or self.name
        if self.kind == "fixed":
            return self.value
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def grid_values(self) -> list:
        return list(self._grid_range())

    def grid_len(self) -> int:
        """len(grid_values()) without making the list (a range may be long)."""
        return len(self._grid_range())

    def _grid_range(self):
        if self.kind == "fixed":
            return (self.value,)
        if self.kind == "choice":
            return self.choices
        if self.kind == "int" and not self.log:
            return range(int(self.low), int(self.high) + 1, int(self.step or 1))
        raise ConfigError(f"grid search needs a list of values for {self.name!r}, not a "
                          f"{'log ' if self.log else ''}range {self.low}..{self.high}")


@dataclass(frozen=True)
class Space:
    params: dict                    # name -> Param, in file order
    source: str = "default"

    @property
    def tunes_architecture(self) -> bool:
        return any(k in ARCH_KEYS for k in self.params)

    def to_dict(self) -> dict:
        return {name: _param_to_yaml(p) for name, p in self.params.items()}

    def sample(self, trial) -> tuple[dict, dict | None]:
        """Ask the trial for every value -> (TrainConfig overrides, model_kwargs or None)."""
        train = {k: p.suggest(trial) for k, p in self.params.items() if k in TRAIN_KEYS}
        if not self.tunes_architecture:
            return train, None
        arch = {k: p.suggest(trial) for k, p in self.params.items() if k in ARCH_KEYS and k != "filters"}
        arch = {**ARCH_DEFAULTS, **arch}
        filters = self.params.get("filters")
        widths = [filters.suggest(trial, f"filters_{i + 1}") if filters else 32 * 2 ** i
                  for i in range(arch.pop("blocks"))]
        return train, {"widths": widths, **arch}

    def grid_size(self) -> int:
        """How many points grid() gives, counted without making them."""
        plain = [p for k, p in self.params.items() if k not in ("filters", "blocks")]
        count = math.prod(p.grid_len() for p in plain)
        filters = self.params.get("filters")
        blocks = self.params.get("blocks")
        block_counts = blocks.grid_values() if blocks else [ARCH_DEFAULTS["blocks"]]
        if filters is None or not self.tunes_architecture:
            return count * len(block_counts)
        # blocks are at most 8 (ARCH_KEYS), so this sum has at most 8 terms
        return count * sum(filters.grid_len() ** b for b in block_counts)

    def checked_grid_size(self) -> int:
        """grid_size(), or a ConfigError naming the cap if the grid is too big to queue."""
        size = self.grid_size()
        if size > MAX_GRID:
            raise ConfigError(f"{self.source}: the grid has {size:,} points, more than {MAX_GRID:,} "
                              "(the cap); shrink the lists and ranges or use --method random or bayes")
        return size

    def grid(self) -> list[dict]:
        """Every distinct point, as optuna params; filters_i only for the blocks a point has."""
        self.checked_grid_size()
        plain = [p for k, p in self.params.items() if k != "filters"]
        filters = self.params.get("filters")
        points = []
        for combo in itertools.product(*(p.grid_values() for p in plain)):
            point = {p.name: v for p, v in zip(plain, combo) if p.kind != "fixed"}
            blocks = dict(zip([p.name for p in plain], combo)).get("blocks", ARCH_DEFAULTS["blocks"])
            if filters is None or not self.tunes_architecture:
                points.append(point)
                continue
            for widths in itertools.product(filters.grid_values(), repeat=blocks):
                points.append({**point, **({f"filters_{i + 1}": w for i, w in enumerate(widths)}
                                           if filters.kind != "fixed" else {})})
        return points


def _param_to_yaml(p: Param):
    if p.kind == "fixed":
        return p.value
    if p.kind == "choice":
        return list(p.choices)
    d = {"low": p.low, "high": p.high}
    if p.log:
        d["log"] = True
    if p.step is not None:
        d["step"] = p.step
    return d


def load_space(path: str | Path | None = None) -> Space:
    """Read and check a space file (None: the packaged default)."""
    from convnet.training.configfile import read_yaml

    path = Path(path) if path else DEFAULT_SPACE
    return parse_space(read_yaml(path, "search space file"), str(path))


def parse_space(raw, where: str = "space") -> Space:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: expected a mapping of hyperparameter: values, got {raw!r}")
    params = {}
    for name, spec in raw.items():
        check = TRAIN_KEYS.get(name) or ARCH_KEYS.get(name)
        if check is None:
            known = ", ".join(sorted({*TRAIN_KEYS, *ARCH_KEYS}))
            raise ConfigError(f"{where}: unknown key {name!r} (known: {known})")
        params[name] = parse_param(name, spec, check, where)
    return Space(params, where)


def parse_param(name: str, spec, check, where: str) -> Param:
    def bad(v, role="value"):
        problem = check(v)
        if problem:
            raise ConfigError(f"{where}: {name}: {role} {v!r} must be {problem}")

    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where}: {name}: empty list of choices")
        for v in spec:
            bad(v, "choice")
        if len({repr(v) for v in spec}) != len(spec):
            raise ConfigError(f"{where}: {name}: repeated choice in {spec}")
        return Param(name, "choice", choices=tuple(spec))
    if isinstance(spec, dict):
        return parse_range(name, spec, bad, where)
    bad(spec)
    return Param(name, "fixed", value=spec)


def parse_range(name: str, spec: dict, bad, where: str) -> Param:
    unknown = sorted(set(spec) - {"low", "high", "log", "step"})
    if unknown:
        raise ConfigError(f"{where}: {name}: unknown range key {unknown[0]!r} (use low, high, log, step)")
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where}: {name}: a range needs both low and high, got {spec}")
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    bad(low, "low")
    bad(high, "high")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: {name}: log must be true or false, got {log!r}")
    whole = all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))
    if not high > low:
        raise ConfigError(f"{where}: {name}: empty range, low {low} must be below high {high}")
    if log and low <= 0:
        raise ConfigError(f"{where}: {name}: a log range needs low > 0, got {low}")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0 or \
                whole and not isinstance(step, int):
            raise ConfigError(f"{where}: {name}: step must be a positive {'whole ' if whole else ''}number, "
                              f"got {step!r}")
        if log:
            raise ConfigError(f"{where}: {name}: a range cannot have both log and step")
    return Param(name, "int" if whole else "float", low=low, high=high, log=log, step=step)


def output_side(size: int, kwargs: dict) -> int:
    """The feature map side after the conv blocks of `kwargs` (0: a block has nothing to pool)."""
    kernel, pad = kwargs["kernel"], kwargs["kernel"] // 2
    for i, _ in enumerate(kwargs["widths"]):
        step = (kwargs["stride"] if i == 0 else 1) * (2 if kwargs["downsample"] == "stride" else 1)
        size = (size + 2 * pad - kernel) // step + 1
        if kwargs["downsample"] == "pool":
            size //= 2
        if size < 1:
            return 0
    return size


def grid_size(space: Space) -> int:
    return space.grid_size()


def describe(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 or abs(value) >= 1e3 else f"{value:.4g}"
    return str(value)
