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
import torch

PLOTS = "plots"
ANALYSIS = "analysis.json"


def predict_split(model, data, preprocess, hw, batch_size: int = 500) -> torch.Tensor:
    """float [N, K] class probabilities of a TensorData split, in order."""
    from convnet.training.evaluate import evaluate

    return evaluate(model, data, preprocess, hw, _num_classes(model, data, preprocess, hw),
                    batch_size, keep_probabilities=True).probabilities


def _num_classes(model, data, preprocess, hw) -> int:
    """The width of the model's output, from one image."""
    with torch.no_grad():
        model.eval()
        x = preprocess(data.images[:1], hw.device, hw.channels_last)
        with hw.autocast():
            return model(x).shape[1]


def analyse(probs: torch.Tensor, labels: torch.Tensor, classes: list[str], worst: int = 24) -> dict:
    """Confusion matrix, per-class precision and recall, and the most confidently wrong images."""
    k = len(classes)
    conf, pred = probs.max(1)
    confusion = torch.bincount(labels * k + pred, minlength=k * k).view(k, k)   # rows true, cols predicted
    right = confusion.diag().double()
    predicted, actual = confusion.sum(0).double(), confusion.sum(1).double()
    precision = [None if predicted[i] == 0 else round((right[i] / predicted[i]).item(), 6) for i in range(k)]
    recall = [None if actual[i] == 0 else round((right[i] / actual[i]).item(), 6) for i in range(k)]
    wrong = torch.nonzero(pred != labels).flatten()
    wrong = wrong[conf[wrong].argsort(descending=True)][:worst]
    n = len(labels)
    return {
        "n": n, "accuracy": right.sum().item() / max(n, 1), "classes": classes,
        "confusion": confusion.tolist(), "precision": precision, "recall": recall,
        "most_confident_wrong": [{"index": int(i), "true": int(labels[i]), "predicted": int(pred[i]),
                                  "confidence": round(float(conf[i]), 6)} for i in wrong],
    }


def write_run_artifacts(run_dir, model, test, preprocess, hw, classes: list[str], log=print,
                        probabilities: torch.Tensor | None = None) -> dict | None:
    """Draw the run's pictures into RUN_DIR/plots; on any failure warn and return None.
    `probabilities` ([N, K] for `test`, e.g. from the final evaluation) saves a second pass."""
    try:
        return _write(Path(run_dir), model, test, preprocess, hw, classes, probabilities)
    except Exception as e:  # the trained run is already saved; pictures are a bonus
        log(f"warning: could not draw the run's plots ({type(e).__name__}: {e}); the run itself is saved")
        return None


def _write(run_dir: Path, model, test, preprocess, hw, classes, probabilities=None) -> dict:
    from convnet.fileio import atomic_write_json
    from convnet.training import runs
    from convnet.visualize import plots
    from convnet.visualize.common import save_figure

    out = run_dir / PLOTS
    save_figure(plots.plot_curves(runs.read_metrics(run_dir)), out / "curves.png")
    if test is None or len(test) == 0:
        return {}
    if probabilities is None:
        probabilities = predict_split(model, test, preprocess, hw)
    result = analyse(probabilities, test.labels.cpu(), classes)
    save_figure(plots.plot_confusion(np.array(result["confusion"]), classes), out / "confusion.png")
    save_figure(plots.plot_per_class(result["precision"], result["recall"], classes), out / "per_class.png")
    wrong = result["most_confident_wrong"]
    images = test.images[[w["index"] for w in wrong]].numpy() if wrong else np.zeros((0, 1, 1, 1), np.uint8)
    save_figure(plots.plot_wrong(images, [w["true"] for w in wrong], [w["predicted"] for w in wrong],
                                 [w["confidence"] for w in wrong], classes), out / "wrong.png")
    atomic_write_json(out / ANALYSIS, result)
    return result


def rebuild_run_artifacts(run_dir, device: str = "cpu") -> dict | None:
    """Draw the plots again for an existing run (reloads its model and its test split)."""
    from convnet.data.sources import load_dataset
    from convnet.visualize.common import load_run

    clf = load_run(run_dir, device)
    cfg = clf.config.get("train", {})
    ds = load_dataset(cfg.get("data", "digits"), cfg.get("data_dir"), size=clf.preprocess.size,
                      channels=clf.preprocess.channels, val_fraction=cfg.get("val_fraction", 0.0),
                      seed=cfg.get("seed", 0), progress=False)
    return _write(Path(run_dir), clf.model, ds.test, clf.preprocess, clf.hw, clf.classes)
