"""Write a run's network as ONNX or TorchScript, then check the file against PyTorch."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch

from convnet.errors import ConfigError, ConvnetError
from convnet.fileio import atomic_write
from convnet.inference import Classifier
from convnet.training import runs

FORMATS = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
TOLERANCE = 1e-4          # largest probability difference an export may show against PyTorch


class WithSoftmax(torch.nn.Module):
    """The exported graph: normalised images [B, C, H, W] -> probabilities [B, K]."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x).float(), dim=1)


def default_path(run_dir: str | Path, fmt: str) -> Path:
    return Path(run_dir) / FORMATS[fmt]


def export(run_dir: str | Path, fmt: str, out: str | Path | None = None, force: bool = False) -> dict:
    """Export `run_dir` as `fmt`; return {"path", "format", "max_difference"}.
    An existing file at the destination is kept unless `force`."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose {' or '.join(FORMATS)}")
    clf = Classifier.load(run_dir, device="cpu")      # validates the run directory
    out = Path(out) if out else default_path(run_dir, fmt)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name")
    if out.exists() and not force:
        raise ConfigError(f"{out} already exists; pass --force to replace it")
    net = WithSoftmax(runs.RunDir.open(run_dir).build_model()).eval()    # fp32, NCHW, on the CPU
    example = _example_batch(clf, 16)
    if fmt == "onnx":
        atomic_write(out, lambda tmp: _write_onnx(net, example, tmp, metadata(clf)))
        diff = _onnx_difference(out, net, example)
    else:
        atomic_write(out, lambda tmp: _write_torchscript(net, example, tmp))
        diff = _torchscript_difference(out, net, example)
    if not diff <= TOLERANCE:            # a NaN difference fails too
        out.unlink()
        raise ConvnetError(f"the {fmt} export differs from PyTorch by {diff:.2e} (> {TOLERANCE}); "
                           "file removed")
    return {"path": str(out), "format": fmt, "max_difference": diff}


def metadata(clf: Classifier) -> dict:
    """What a runtime needs besides the graph: class names and preprocessing."""
    return {"model": clf.config["model"], "classes": clf.classes,
            "preprocess": clf.preprocess.to_dict(),
            "parameters": sum(p.numel() for p in clf.model.parameters())}


def _example_batch(clf: Classifier, n: int) -> torch.Tensor:
    """Normalised noise images [n, C, H, W]: the check input, and the export's trace input."""
    c, (h, w) = clf.preprocess.channels, clf.preprocess.size
    images = torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    return clf.preprocess(images, "cpu")


def _write_onnx(net: torch.nn.Module, example: torch.Tensor, path: str, meta: dict) -> None:
    import onnx

    # The torch.export-based exporter (the default since torch 2.9); its chatter off.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    batch = torch.export.Dim("batch", min=1, max=65536)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(net, (example,), None, dynamo=True, verbose=False,
                                    input_names=["images"], output_names=["probabilities"],
                                    dynamic_shapes=({0: batch},), external_data=False)
    model = program.model_proto
    entry = model.metadata_props.add()
    entry.key, entry.value = "convnet", json.dumps(meta)
    onnx.save(model, path)


def _onnx_difference(path: Path, net: torch.nn.Module, example: torch.Tensor) -> float:
    from convnet.export.runtime import session

    with torch.no_grad():
        expected = net(example).numpy()
    got = session(path).run(None, {"images": example.numpy()})[0]
    return float(abs(got - expected).max())


def _write_torchscript(net: torch.nn.Module, example: torch.Tensor, path: str) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")      # torch.jit.trace is deprecated but still supported
        traced = torch.jit.trace(net, example)
        torch.jit.save(traced, path)


def _torchscript_difference(path: Path, net: torch.nn.Module, example: torch.Tensor) -> float:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
        return float((loaded(example) - net(example)).abs().max())
