"""How long the pictures take: the per-run plots that every `train` now writes (on the
10,000 Fashion-MNIST test images), each `convnet show` picture, and `convnet report`.

    .venv/bin/python benchmarks/visualize.py [--shared ../shared]

The model is the default `convnet` with its initial weights: timing does not depend on
what it learned. Prints one line per measurement (median of --repeat runs)."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()

    import torch

    from convnet.data.batches import Preprocess, channel_stats
    from convnet.data.sources import load_dataset
    from convnet.models import create
    from convnet.training import runs
    from convnet.training.hardware import resolve
    from convnet.visualize.artifacts import write_run_artifacts
    from convnet.visualize.common import image_batch, load_run, save_figure
    from convnet.visualize.dream import dream, plot_dream
    from convnet.visualize.filters import plot_filters
    from convnet.visualize.gradcam import gradcam, plot_gradcam
    from convnet.visualize.maps import plot_maps
    from convnet.visualize.report import write_report

    torch.manual_seed(0)
    ds = load_dataset("fashion-mnist", str(Path(args.shared) / "datasets" / "fashion-mnist"))
    model = create("convnet", num_classes=10, in_channels=1)
    hw = resolve("cpu", "off", True)
    model = model.to(memory_format=torch.channels_last)
    preprocess = Preprocess(1, (28, 28), *channel_stats(ds.train))
    run = Path(tempfile.mkdtemp(prefix="bench-visualize-"))
    runs.RunDir(run).write_config({"train": {"amp": "off"}, "model": {"name": "convnet", "num_classes": 10, "in_channels": 1},
                            "preprocess": preprocess.to_dict(), "classes": ds.classes, "data": ds.source})
    runs.save_weights(run, model)
    history = [{"epoch": epoch, "train_loss": 1 / epoch, "train_accuracy": 1 - 0.5 / epoch,
                "test_loss": 1.1 / epoch, "test_accuracy": 1 - 0.55 / epoch} for epoch in range(1, 9)]
    runs.RunDir(run).save_checkpoint(8, 0.0, model, {}, history)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.repeat}")

    from convnet.tasks.classify import evaluate
    from convnet.training.loop import TrainResult

    def plots():     # what `convnet train` does after training: one evaluation, then the pictures
        final = evaluate(model, ds.test, preprocess, hw, 10, keep_probabilities=True)
        write_run_artifacts(TrainResult(run, None, final=final, test_split=ds.test, classes=ds.classes))

    rows = [("per-run plots, 10,000 test images (train() calls this)", plots)]
    clf = load_run(run)
    image = Path(args.shared) / "images" / "chelsea.png"
    raw, x = image_batch(clf, image)
    out = run / "bench.png"
    rows += [
        ("show filters (first layer)", lambda: save_figure(plot_filters(clf.model), out)),
        ("show maps (10 stages of chelsea.png)", lambda: save_figure(plot_maps(clf.model, x, raw), out)),
        ("show gradcam (chelsea.png)", lambda: save_figure(plot_gradcam(gradcam(clf.model, x), raw, clf.classes), out)),
        ("show dream (16 filters of the last conv, 100 steps)",
         lambda: save_figure(plot_dream(dream(clf.model, clf.preprocess)), out)),
        ("report (HTML, plots already drawn)", lambda: write_report(run, run / "report.html")),
    ]
    results = {}
    for name, fn in rows:
        results[name] = timed(fn, args.repeat)
        print(f"{results[name]:8.2f} s  {name}")
    size = (run / "report.html").stat().st_size
    print(f"report size {size / 1e3:.0f} kB; analysis: {json.loads((run / 'plots' / 'analysis.json').read_text())['n']} images")


if __name__ == "__main__":
    main()
