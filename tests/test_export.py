"""`convnet export` and `--runtime onnx`: the ONNX file checked by onnxruntime against PyTorch
on the run's test set; TorchScript checked by torch.jit.load; bad input gives one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from convnet.cli.main import main


@pytest.fixture(scope="module")
def onnx_file(fashion_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "fashion.onnx"
    assert main(["export", str(fashion_run), "--format", "onnx", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def test_set(fashion_run):
    """The run's own test split (1,000 Fashion-MNIST images), as uint8 [N, 1, 28, 28] + labels."""
    from convnet.data.sources import load_dataset

    source = json.loads((fashion_run / "config.json").read_text())["data"]
    ds = load_dataset(source["name"], source["path"], progress=False)
    return ds.test.images, ds.test.labels


def _probabilities(clf, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([clf.probabilities(images[i:i + 250]) for i in range(0, len(images), 250)])


def test_onnx_matches_pytorch_on_the_test_set(fashion_run, onnx_file, test_set):
    from convnet.export import load_classifier

    images, labels = test_set
    assert len(images) == 1000
    torch_p = _probabilities(load_classifier(fashion_run, "torch", device="cpu"), images)
    onnx_p = _probabilities(load_classifier(onnx_file, "onnx"), images)
    assert onnx_p.shape == torch_p.shape == (1000, 10)
    assert torch.equal(onnx_p.argmax(1), torch_p.argmax(1))           # same top-1, image by image
    assert (onnx_p.argmax(1) == labels).float().mean() == (torch_p.argmax(1) == labels).float().mean()
    assert (onnx_p.argmax(1) == labels).float().mean() > 0.6             # a trained model, not noise
    assert (onnx_p - torch_p).abs().max() <= 1e-4


def test_onnx_file_is_a_valid_model_with_metadata(onnx_file, fashion_run):
    import onnx

    model = onnx.load(str(onnx_file))
    onnx.checker.check_model(model)
    meta = json.loads({p.key: p.value for p in model.metadata_props}["convnet"])
    config = json.loads((fashion_run / "config.json").read_text())
    assert meta["classes"] == config["classes"] and meta["preprocess"] == config["preprocess"]
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param, "the batch dimension must be dynamic"


def test_predict_with_onnx_runtime_agrees_with_torch(fashion_run, onnx_file, shared_images, capsys,
                                                     test_set, tmp_path):
    from PIL import Image

    item = tmp_path / "item.png"
    Image.fromarray(test_set[0][0, 0].numpy()).save(item)
    images = [str(shared_images / "chelsea.png"), str(item)]
    assert main(["predict", str(fashion_run), *images, "--top", "10", "--json"]) == 0
    torch_out = json.loads(capsys.readouterr().out)
    assert main(["predict", str(onnx_file), *images, "--top", "10", "--json", "--runtime", "onnx"]) == 0
    onnx_out = json.loads(capsys.readouterr().out)
    for t, o in zip(torch_out, onnx_out, strict=True):
        assert [c["class"] for c in t["top"]][:1] == [c["class"] for c in o["top"]][:1]
        tp = {c["class"]: c["probability"] for c in t["top"]}
        op = {c["class"]: c["probability"] for c in o["top"]}
        assert max(abs(tp[k] - op[k]) for k in tp) <= 1e-4


def test_torchscript_export_loads_and_matches(fashion_run, tmp_path, test_set, capsys):
    from convnet.inference import Classifier

    out = tmp_path / "model.pt"
    assert main(["export", str(fashion_run), "--format", "torchscript", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    clf = Classifier.load(fashion_run, device="cpu")
    images = test_set[0][:200]
    scripted = torch.jit.load(str(out), map_location="cpu")
    with torch.no_grad():
        got = scripted(clf.preprocess(images, "cpu"))
    assert (got - clf.probabilities(images)).abs().max() <= 1e-5


def test_export_never_overwrites_without_force(fashion_run, tmp_path, capsys):
    out = tmp_path / "keep.onnx"
    out.write_bytes(b"precious")
    assert main(["export", str(fashion_run), "--format", "torchscript", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err and str(out) in err
    assert out.read_bytes() == b"precious"


@pytest.mark.parametrize("argv, message", [
    (["export", "{missing}", "--format", "onnx"], "run directory not found"),
    (["predict", "{run}", "{image}", "--runtime", "onnx"], "convnet export"),
    (["predict", "{config}", "{image}", "--runtime", "onnx"], "not a loadable ONNX model"),
])
def test_bad_input_is_one_line(argv, message, fashion_run, shared_images, tmp_path, capsys):
    values = {"missing": tmp_path / "nope", "run": fashion_run, "config": fashion_run / "config.json",
              "image": shared_images / "chelsea.png"}
    argv = [a.format(**values) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_bad_format_is_refused_by_the_parser(fashion_run):
    with pytest.raises(SystemExit) as e:
        main(["export", str(fashion_run), "--format", "tflite"])
    assert e.value.code == 2


def test_serve_runs_the_onnx_file(onnx_file, fashion_run, shared_images):
    import httpx

    from convnet.inference import Classifier
    from convnet.serve.launch import ServerProcess

    chelsea = (shared_images / "chelsea.png").read_bytes()
    with ServerProcess(onnx_file, "--runtime", "onnx") as server:
        info = httpx.get(server.url + "/model").json()
        r = httpx.post(server.url + "/predict?top=10", files={"file": ("c.png", chelsea)}, timeout=30)
        inspected = httpx.post(server.url + "/inspect", content=chelsea, timeout=30).json()
    clf = Classifier.load(fashion_run, device="cpu")
    assert info["runtime"] == "onnx" and info["classes"] == clf.classes
    assert info["parameters"] == sum(p.numel() for p in clf.model.parameters())
    got = {t["class"]: t["probability"] for t in r.json()["predictions"][0]["top"]}
    want = dict(clf.predict(chelsea, top=10)[0].top)
    assert max(got, key=got.get) == max(want, key=want.get)
    assert max(abs(got[k] - want[k]) for k in want) <= 1e-4
    assert inspected["layers"] == [] and "PyTorch" in inspected["note"]   # maps need the torch model
    assert inspected["input"]["shape"] == [1, 28, 28]
