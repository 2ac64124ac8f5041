"""Run an exported ONNX file in onnxruntime behind the same interface as the PyTorch Classifier.

The preprocessing (Classifier.to_uint8 and Preprocess) is inherited unchanged; only the
forward pass differs, so both runtimes give the same probabilities to within 1e-4."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from convnet.data.batches import Preprocess
from convnet.errors import DataError
from convnet.inference import Classifier
from convnet.training.hardware import resolve

ONNX_NAME = "model.onnx"


def session(path: str | Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own classes for bad files
        raise DataError(f"{path}: not a loadable ONNX model ({str(e).splitlines()[0][:200]})") from None


def onnx_file(path: str | Path) -> Path:
    """A run directory (its model.onnx) or an .onnx file."""
    path = Path(path)
    if path.is_dir():
        found = path / ONNX_NAME
        if not found.is_file():
            raise DataError(f"{path} has no {ONNX_NAME}; run `convnet export {path} --format onnx` first")
        return found
    if not path.is_file():
        raise DataError(f"no such file or run directory: {path}")
    return path


class OnnxClassifier(Classifier):
    """Classifier whose forward pass is an onnxruntime session (CPU)."""

    runtime = "onnx"

    def __init__(self, sess, meta: dict, path: Path):
        self.session, self.path, self.model = sess, path, None
        self.preprocess = Preprocess.from_dict(meta["preprocess"])
        self.classes = list(meta["classes"])
        self.config = {"model": meta["model"], "classes": self.classes,
                       "preprocess": meta["preprocess"]}
        self.parameters = int(meta.get("parameters", 0))
        self.hw = resolve("cpu", "off", channels_last=False)
        self.run_dir = path.parent

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "OnnxClassifier":
        path = onnx_file(path)
        sess = session(path)
        props = sess.get_modelmeta().custom_metadata_map
        if "convnet" not in props:
            raise DataError(f"{path}: no convnet metadata (classes, preprocessing); "
                            "export it with `convnet export`")
        return cls(sess, json.loads(props["convnet"]), path)

    @torch.no_grad()
    def probabilities(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 [B, C, H, W] -> float [B, K], computed by onnxruntime."""
        x = self.preprocess(batch, "cpu").numpy()
        return torch.from_numpy(self.session.run(None, {"images": x})[0])
