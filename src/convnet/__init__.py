"""convnet: convolutional neural networks end to end.

The Python API mirrors the command line:

    import convnet
    run = convnet.train(model="convnet", data="fashion-mnist", epochs=3)
    clf = convnet.load(run.run_dir)
    clf.predict(["shoe.png"])

Heavy modules (torch) are imported lazily so `import convnet` stays fast.
"""

__version__ = "0.1.0"

__all__ = ["train", "load", "ConvnetError", "__version__"]


def train(resume=None, log=print, **options):
    """Train a model; keyword arguments are the fields of `convnet.training.TrainConfig`
    (a field left out takes the model's registered training default, then TrainConfig's).
    `resume=RUN_DIR` continues a stopped run; `log` receives the progress lines.

    Returns a `convnet.training.loop.TrainResult` (run_dir, test metrics, history, seconds);
    the run's plots are drawn into RUN_DIR/plots as `convnet train` draws them."""
    from convnet.training.config import TrainConfig, config_for_model
    from convnet.training.loop import train as _train
    from convnet.visualize.artifacts import write_run_artifacts

    cfg = TrainConfig(progress=options.get("progress", True)) if resume else config_for_model(**options)
    result = _train(cfg, resume=resume, log=log)
    write_run_artifacts(result, log=log)
    return result


def load(run_dir, device="auto"):
    """Load a trained run directory as a `convnet.inference.Classifier`."""
    from convnet.inference import Classifier

    return Classifier.load(run_dir, device=device)


def __getattr__(name):
    if name == "ConvnetError":
        from convnet.errors import ConvnetError

        return ConvnetError
    raise AttributeError(name)
