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
    confusion matrix, per-class bars and, for image splits, the most confidently wrong images.
    A run trained with --log tensorboard gets the same pictures in its event files."""
    from convnet.fileio import atomic_write_json
    from convnet.training.runs import read_metrics
    from convnet.visualize import plots

    out = run_dir / PLOTS
    board = _tensorboard(run_dir)
    try:
        # each picture saved as soon as it is drawn: a later failure keeps the earlier ones
        _save("curves", plots.plot_curves(read_metrics(run_dir)), out, board)
        if final is None or getattr(final, "probabilities", None) is None or final.n == 0:
            return {}
        result = final.analysis(classes)
        _save("confusion", plots.plot_confusion(np.array(result["confusion"]), classes), out, board)
        _save("per_class", plots.plot_per_class(result["precision"], result["recall"], classes), out, board)
        images = getattr(test, "images", None)
        if images is not None and images.dim() == 4:
            wrong = result["most_confident_wrong"]
            shown = images[[w["index"] for w in wrong]].numpy() if wrong else np.zeros((0, 1, 1, 1), np.uint8)
            _save("wrong", plots.plot_wrong(shown, [w["true"] for w in wrong], [w["predicted"] for w in wrong],
                                            [w["confidence"] for w in wrong], classes), out, board)
        atomic_write_json(out / ANALYSIS, result)
        return result
    finally:
        if board is not None:
            board.close()


def _save(name: str, fig, out: Path, board) -> None:
    import matplotlib.pyplot as plt

    from convnet.visualize.common import save_figure

    try:
        save_figure(fig, out / f"{name}.png")
        if board is not None:
            board.add_figure(f"final/{name}", fig, close=False)
    finally:
        plt.close(fig)


def _tensorboard(run_dir: Path):
    """The run's TensorBoard writer if it trained with --log tensorboard, else None."""
    from convnet.errors import ConvnetError
    from convnet.training.runs import RunDir

    try:
        train = RunDir.open(run_dir).config.get("train", {})
    except ConvnetError:
        return None
    if train.get("log") != "tensorboard":
        return None
    from convnet.training.tblog import writer

    return writer(run_dir)


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
