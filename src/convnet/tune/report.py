"""What a study leaves in its folder: trials.csv, best.yaml, best.json (the one test-set
evaluation), and PNG plots of the history, the parameter importances and a parallel view."""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from pathlib import Path

from convnet.fileio import atomic_write_bytes, atomic_write_json
from convnet.training.runs import WEIGHTS
from convnet.tune.space import describe

PLOTS = {"history.png": "plot_optimization_history", "importance.png": "plot_param_importances",
         "parallel.png": "plot_parallel_coordinate"}


def trial_rows(study) -> tuple[list[str], list[dict]]:
    """One row per trial that ran (over-budget refusals left out), parameters in columns."""
    every = study.get_trials(deepcopy=False)
    trials = [t for t in every if t.state.name != "WAITING" and not t.user_attrs.get("over_budget")]
    rerun = {n: t.number for t in every for n in t.system_attrs.get("retry_history", [])}
    params = []
    for t in trials:
        params += [p for p in t.params if p not in params]
    rows = []
    for t in trials:
        value = t.value if t.value is not None and not math.isnan(t.value) else None
        last = max(t.intermediate_values, default=None)
        rows.append({"trial": t.number, "state": t.state.name.lower(),
                     "val_accuracy": value, "epochs": last, "seconds": t.user_attrs.get("seconds"),
                     **{p: t.params.get(p) for p in params},
                     "note": f"interrupted; run again as trial {rerun[t.number]}" if t.number in rerun
                     else t.user_attrs.get("error", "")})
    return ["trial", "state", "val_accuracy", "epochs", "seconds", *params, "note"], rows


def table_text(columns: list[str], rows: list[dict], limit: int = 40) -> str:
    """A fixed-width table for the terminal, best validation accuracy first."""
    def cell(c, v):
        if v is None:
            return "-"
        if c == "val_accuracy":
            return f"{v:.2%}"
        return describe(v)

    rows = sorted(rows, key=lambda r: -(r["val_accuracy"] if r["val_accuracy"] is not None else -1))
    shown = [[cell(c, r.get(c)) for c in columns] for r in rows[:limit]]
    widths = [max([len(c)] + [len(s[i]) for s in shown]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(s.ljust(w) for s, w in zip(row, widths)).rstrip() for row in shown]
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more in trials.csv")
    return "\n".join(lines)


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def write_best_yaml(path: Path, study, trial) -> None:
    """The best trial's full training config, which `convnet train --config` reproduces."""
    import yaml

    config = dict(trial.user_attrs["config"])
    header = (f"# best trial {trial.number} of study {study.study_name!r}: validation accuracy "
              f"{trial.value:.2%}\n# reproduce it: convnet train --config {path.name} --out RUN_DIR\n")
    atomic_write_bytes(path, (header + yaml.safe_dump(config, sort_keys=False)).encode())


def evaluate_best(out: Path, study, trial) -> dict:
    """Test-set accuracy of the best trial's saved model: computed once per best trial."""
    best_json = out / "best.json"
    if best_json.is_file():
        saved = json.loads(best_json.read_text())
        if saved.get("trial") == trial.number and "test_accuracy" in saved:
            return saved
    result = {"study": study.study_name, "trial": trial.number, "val_accuracy": trial.value,
              "params": trial.params, "run_dir": trial.user_attrs.get("run_dir")}
    run_dir = Path(result["run_dir"] or "")
    if not (run_dir / WEIGHTS).is_file():
        result["note"] = f"the best trial's run dir {run_dir} is on another machine; test not evaluated here"
        atomic_write_json(best_json, result)
        return result
    result.update(test_split_accuracy(run_dir))
    atomic_write_json(best_json, result)
    return result


def test_split_accuracy(run_dir: Path) -> dict:
    from convnet.tasks import get_task
    from convnet.training.hardware import resolve
    from convnet.training.runs import RunDir

    run = RunDir.open(run_dir)
    task = get_task(run.task)
    ds = run.dataset(task)
    if ds.test is None:
        return {"note": "the data set has no test split"}
    ev = task.evaluate(run.build_model(task), ds.test, run.config, resolve("auto", "off", False))
    return {"test_accuracy": ev.metrics[task.metric], "test_loss": ev.loss, "test_images": ev.n}


def write_plots(out: Path, study) -> list[str]:
    """The PNGs that could be drawn (importances need two finished trials that differ)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm

    written = []
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    for name, fn in PLOTS.items():
        if len(complete) < (2 if name != "history.png" else 1):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ax = getattr(ovm, fn)(study)
            except (ValueError, RuntimeError, ZeroDivisionError):
                continue                  # e.g. importances when every trial had the same values
        fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
        fig.set_size_inches(10, 6)
        fig.tight_layout()
        atomic_write_bytes(out / name, _png(fig))
        plt.close(fig)
        written.append(name)
    return written


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()
