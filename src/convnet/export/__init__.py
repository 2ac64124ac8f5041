"""Use a trained run outside PyTorch: ONNX (for onnxruntime) or TorchScript.

    export(run_dir, "onnx")            -> RUN_DIR/model.onnx
    load_classifier(path, "onnx")      -> a Classifier that runs the ONNX file in onnxruntime

Both formats hold the network with a softmax on top: float [B, C, H, W] normalised images in,
float [B, K] class probabilities out. Preprocessing (decode, resize, normalise) stays in Python
and is shared with the PyTorch path, so the two runtimes see identical inputs."""

from convnet.export.writer import FORMATS, default_path, export

__all__ = ["FORMATS", "default_path", "export", "load_classifier"]


def load_classifier(path, runtime: str = "torch", device: str = "auto", weights: str = "auto"):
    """A run directory (torch or onnx) or an .onnx file (onnx) -> a classifier with
    `.classes`, `.preprocess`, `.predict(images)` and `.probabilities(uint8 batch)`."""
    if runtime == "onnx":
        from convnet.export.runtime import OnnxClassifier

        return OnnxClassifier.load(path)
    from convnet.inference import Classifier

    return Classifier.load(path, device=device, weights=weights)
