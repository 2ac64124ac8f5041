"""What every training run leaves behind without being asked: RUN_DIR/plots/.

    curves.png      loss and accuracy per epoch (from metrics.jsonl)
    confusion.png   the test confusion matrix
    per_class.png   per-class precision and recall
    wrong.png       the most confidently wrong test images
    analysis.json   the numbers behind them

`write_run_artifacts` never raises: a failure here must not lose a trained run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PLOTS = "plots"
ANALYSIS = "analysis.json"


def write_run_artifacts(result, log=print) -> dict | None:
    """Draw a finished run's pictures into RUN_DIR/plots from its TrainResult (the final
    evaluation keeps the test probabilities, so nothing is computed again); on any failure
    warn and return None."""
    try:
        return draw(Path(result.run_dir), result.final, result.test_split, result.classes)
    except Exception as e:  # the trained run is already saved; pictures are a bonus
        log(f"warning: could not draw the run's plots ({type(e).__name__}: {e}); the run itself is saved")
        return None


def draw(run_dir: Path, final, test, classes: list[str]) -> dict:
    """curves.png always; with a final evaluation (an Evaluation with probabilities), the
    confusion matrix, per-class bars and, for image splits, the most confidently wrong images."""
    from convnet.fileio import atomic_write_json
    from convnet.training.runs import read_metrics
    from convnet.visualize import plots
    from convnet.visualize.common import save_figure

    out = run_dir / PLOTS
    save_figure(plots.plot_curves(read_metrics(run_dir)), out / "curves.png")
    if final is None or getattr(final, "probabilities", None) is None or final.n == 0:
        return {}
    result = final.analysis(classes)
    save_figure(plots.plot_confusion(np.array(result["confusion"]), classes), out / "confusion.png")
    save_figure(plots.plot_per_class(result["precision"], result["recall"], classes), out / "per_class.png")
    images = getattr(test, "images", None)
    if images is not None and images.dim() == 4:
        wrong = result["most_confident_wrong"]
        shown = images[[w["index"] for w in wrong]].numpy() if wrong else np.zeros((0, 1, 1, 1), np.uint8)
        save_figure(plots.plot_wrong(shown, [w["true"] for w in wrong], [w["predicted"] for w in wrong],
                                     [w["confidence"] for w in wrong], classes), out / "wrong.png")
    atomic_write_json(out / ANALYSIS, result)
    return result


def rebuild_run_artifacts(run_dir, device: str = "cpu") -> dict | None:
    """Draw the plots again for an existing run (reloads its model and its test split)."""
    from convnet.tasks import get_task
    from convnet.training.hardware import resolve
    from convnet.training.runs import RunDir

    run = RunDir.open(run_dir)
    task = get_task(run.task)
    ds = run.dataset(task)
    final = None
    if ds.test is not None:
        final = task.evaluate(run.build_model(task), ds.test, run.config, resolve(device, "off", False),
                              final=True)
    return draw(run.path, final, ds.test, run.classes)
