"""convnet demo: train the default model on the embedded digits and predict one of them."""

from __future__ import annotations

import argparse

HELP = "train the default model on the embedded digits, then predict a sample"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", metavar="RUN_DIR")
    p.add_argument("--epochs", type=int, default=8)


def run(args) -> int:
    import shutil
    import tempfile
    from pathlib import Path

    from PIL import Image

    from convnet.data.sources import load_dataset
    from convnet.inference import Classifier
    from convnet.training.config import TrainConfig
    from convnet.training.loop import train
    from convnet.training.runs import CONFIG

    out = Path(args.out)
    if out.is_dir() and (out / CONFIG).is_file() and out.name == "demo":
        shutil.rmtree(out)          # the demo's own folder, remade each time
    result = train(TrainConfig(data="digits", epochs=args.epochs, out=str(out)))
    test = load_dataset("digits").test
    sample = Path(tempfile.mkdtemp()) / "digit.png"
    Image.fromarray(test.images[0, 0].numpy()).save(sample)
    prediction = Classifier.load(result.run_dir).predict([sample], top=3)[0]
    print(f"\ntest accuracy: {result.test['accuracy']:.2%}")
    print(f"sample prediction (a test digit labelled {int(test.labels[0])}): "
          + "  ".join(f"{c} {p:.2f}" for c, p in prediction.top))
    print(f"\nnext: convnet eval {out}   |   convnet predict {out} IMAGE.png")
    return 0
