"""Shared fixtures. Tests never download: data come from ../shared/datasets or are written here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CONVNET_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    path = SHARED / "datasets"
    if not (path / "fashion-mnist").is_dir():
        pytest.fail(f"shared data sets not found at {path} (set CONVNET_SHARED)")
    return path


@pytest.fixture(scope="session")
def shared_images() -> Path:
    path = SHARED / "images"
    if not (path / "chelsea.png").is_file():
        pytest.fail(f"shared images not found at {path} (set CONVNET_SHARED)")
    return path


@pytest.fixture(autouse=True)
def _no_network(monkeypatch, tmp_path_factory):
    """Any download attempt goes to an empty cache and a closed loopback port, never out."""
    monkeypatch.setenv("CONVNET_DATA", str(tmp_path_factory.getbasetemp() / "no-cache"))
    monkeypatch.setenv("CONVNET_MIRROR", "http://127.0.0.1:9/{name}/")


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """A small convnet trained 2 epochs on the embedded digits (about 5 s): a real run directory."""
    from convnet.training.config import TrainConfig

    out = tmp_path_factory.mktemp("runs") / "digits"
    _train_and_draw(TrainConfig(data="digits", epochs=2, lr=0.02, out=str(out), progress=False))
    return out


def _train_and_draw(cfg):
    """What `convnet train` does: the one loop, then the run's plots."""
    from convnet.training.loop import train
    from convnet.visualize.artifacts import write_run_artifacts

    write_run_artifacts(train(cfg, log=lambda *_: None), log=lambda *_: None)


@pytest.fixture(scope="session")
def fashion_run(tmp_path_factory, shared_datasets) -> Path:
    """The default convnet trained 1 epoch on 5,000 Fashion-MNIST images (a real run, ~10 s)."""
    from convnet.data.idx import write_idx_subset
    from convnet.training.config import TrainConfig

    small = write_idx_subset(shared_datasets / "fashion-mnist", tmp_path_factory.mktemp("fashion-small"),
                             5000, 1000)
    out = tmp_path_factory.mktemp("runs") / "fashion"
    _train_and_draw(TrainConfig(data="fashion-mnist", data_dir=str(small), epochs=2, lr=0.02, out=str(out),
                                progress=False))
    return out


@pytest.fixture(scope="session")
def texture_folder(tmp_path_factory, shared_images) -> Path:
    """A three-class image folder of 32x32 crops of brick, grass and gravel (40 per class)."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("textures")
    rng = np.random.default_rng(0)
    for name in ("brick", "grass", "gravel"):
        im = np.asarray(Image.open(shared_images / f"{name}.png").convert("L"))
        (root / name).mkdir()
        for i in range(40):
            y, x = rng.integers(0, im.shape[0] - 64), rng.integers(0, im.shape[1] - 64)
            Image.fromarray(im[y:y + 64, x:x + 64]).save(root / name / f"{i:03d}.png")
    return root
