"""convnet demo: train the default model on the embedded digits and predict one of them.

The demo remakes its own run folder each time, and only its own: a folder it trained carries a
`.demo` marker, and anything else at --out (a real run, say) is refused, never deleted. The
previous demo run is moved aside while the new one trains and is put back if training fails."""

from __future__ import annotations

import argparse

from convnet.cli.options import positive_int

HELP = "train the default model on the embedded digits, then predict a sample"
MARKER = ".demo"   # in a run folder the demo made, so the next demo may replace it


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", metavar="RUN_DIR",
                   help="run folder to train into (default runs/demo); a previous demo run there "
                        "is replaced, any other non-empty folder is refused")
    p.add_argument("--epochs", type=positive_int, default=8,
                   help="training epochs (default 8, about 15 s on two CPU cores)")


def run(args) -> int:
    import tempfile
    from pathlib import Path

    from PIL import Image

    from convnet.data.sources import load_dataset
    from convnet.inference import Classifier
    from convnet.training.config import TrainConfig

    out = Path(args.out)
    cfg = TrainConfig(data="digits", epochs=args.epochs, out=str(out))   # validated before any move
    result = _train_replacing(cfg, out)
    from convnet.visualize.artifacts import write_run_artifacts

    write_run_artifacts(result, log=print)
    test = load_dataset("digits").test
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "digit.png"
        Image.fromarray(test.images[0, 0].numpy()).save(sample)
        prediction = Classifier.load(result.run_dir).predict([sample], top=3)[0]
    print(f"\ntest accuracy: {result.test['accuracy']:.2%}")
    print(f"sample prediction (a test digit labelled {int(test.labels[0])}): "
          + "  ".join(f"{c} {p:.2f}" for c, p in prediction.top))
    print(f"\nnext: convnet eval {out}   |   convnet predict {out} IMAGE.png")
    return 0


def _train_replacing(cfg, out):
    """Train into `out`; a previous demo run there is deleted only once the new one is done."""
    from convnet.training.loop import train

    previous = _set_aside(out)
    try:
        result = train(cfg)
    except BaseException:
        _restore(out, previous)
        raise
    (out / MARKER).write_text("made by `convnet demo`; the next demo replaces this folder\n")
    if previous is not None:
        _remove_tree(previous.parent)
    return result


def _set_aside(out):
    """Move a previous demo run out of the way (returns where), refusing anything else at `out`."""
    import tempfile
    from pathlib import Path

    from convnet.errors import ConfigError

    if not out.exists() and not out.is_symlink():
        return None
    if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
        return None          # an empty folder: training may use it as it is
    if not (out.is_dir() and not out.is_symlink() and (out / MARKER).is_file()):
        raise ConfigError(f"{out} exists and is not a run made by `convnet demo` (no {MARKER} "
                          "file in it); the demo never replaces it: choose another --out")
    # a hidden sibling on the same file system, so the move is one rename
    holder = Path(tempfile.mkdtemp(prefix=f".{out.name}.previous-", dir=out.parent))
    previous = holder / out.name
    out.rename(previous)
    return previous


def _restore(out, previous):
    """After a failed training: drop the partial new run (the demo's own) and put the old one back."""
    if out.is_dir() and not out.is_symlink() and not (out / MARKER).exists():
        _remove_tree(out)    # made by this call: it was absent, empty or moved aside before
    if previous is not None:
        previous.rename(out)
        _remove_tree(previous.parent)


def _remove_tree(path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)
