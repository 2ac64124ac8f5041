"""The sharp edges a new user hits (issue #21): classes matched by name, paths stored absolute,
an IDX folder given as a path, flips decided per data set, predict on folders, globs and CSV,
ONNX files recognised, NumPy batches, resolved values in config.json."""

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from convnet.data.folder import mirror_keeps_class
from convnet.data.sources import load_dataset
from convnet.inference import Classifier
from helpers import cli_in_process, write_idx_set


@pytest.fixture(scope="module")
def digit_pngs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pngs")
    test = load_dataset("digits").test
    for i in range(6):
        Image.fromarray(test.images[i, 0].numpy()).save(folder / f"d{i}.png")
    return folder


def test_predict_takes_folders_globs_and_writes_csv(digits_run, digit_pngs, tmp_path):
    table = tmp_path / "p.csv"
    out = cli_in_process("predict", digits_run, digit_pngs, str(digit_pngs / "d[01].png"), "--csv", table)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 8                       # 6 from the folder, 2 from the glob
    rows = list(csv.reader(table.open()))
    assert rows[0][:3] == ["input", "class1", "probability1"] and len(rows) == 9
    nothing = cli_in_process("predict", digits_run, str(tmp_path / "*.jpg"))
    assert nothing.returncode == 2 and "matches no file" in nothing.stderr


def test_an_onnx_file_is_recognised_without_runtime(digits_run, digit_pngs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    assert cli_in_process("export", run, "--format", "onnx").returncode == 0
    out = cli_in_process("predict", run / "model.onnx", digit_pngs / "d0.png", "--json")
    assert out.returncode == 0, out.stderr
    torch_rows = json.loads(cli_in_process("predict", run, digit_pngs / "d0.png", "--json").stdout)
    assert json.loads(out.stdout)[0]["top"][0]["class"] == torch_rows[0]["top"][0]["class"]


def test_eval_matches_classes_by_name_and_refuses_other_names(tmp_path):
    """A folder run (classes sorted by name) evaluated on a folder whose class order differs
    scores the same as on its own data; different names are refused."""
    folder = tmp_path / "abc"
    rng = np.random.default_rng(0)
    for k, name in enumerate(["zebra", "apple", "mango"]):
        (folder / name).mkdir(parents=True)
        for i in range(30):
            a = rng.integers(0, 40, (16, 16), dtype=np.uint8)
            a[k * 5:(k + 1) * 5] = 230
            Image.fromarray(a).save(folder / name / f"{i}.png")
    run = tmp_path / "run"
    assert cli_in_process("train", "--data", folder, "--input-size", "16", "--epochs", "3", "--batch-size", "16",
                          "--out", run, "--no-progress").returncode == 0
    own = json.loads(cli_in_process("eval", run, "--json", "--split", "val").stdout)
    assert json.loads((run / "config.json").read_text())["classes"] == ["apple", "mango", "zebra"]
    other = tmp_path / "other"
    for name in ("apple", "mango", "zebra"):
        shutil.copytree(folder / name, other / "val" / name)
        shutil.copytree(folder / name, other / "train" / name)
    same = json.loads(cli_in_process("eval", run, "--data", other, "--split", "val", "--json").stdout)
    assert same["n"] == 90 and 0 <= same["accuracy"] <= 1
    (other / "train" / "zebra").rename(other / "train" / "kiwi")
    (other / "val" / "zebra").rename(other / "val" / "kiwi")
    refused = cli_in_process("eval", run, "--data", other)
    assert refused.returncode == 2 and "but the run was trained on" in refused.stderr
    assert own["n"] > 0


def test_relative_data_dir_is_stored_absolute_so_eval_works_from_elsewhere(tmp_path, monkeypatch):
    write_idx_set(tmp_path / "fashion-small", n_train=120, n_test=30, classes=10)
    monkeypatch.chdir(tmp_path)
    out = cli_in_process("train", "--data", "fashion-mnist", "--data-dir", "fashion-small", "--epochs", "1",
                         "--input-size", "12", "--model", "input(1,12,12)-conv(4,3)-relu-pool(2)-fc",
                         "--out", "run", "--no-progress")
    assert out.returncode == 0, out.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"]["path"] == str((tmp_path / "fashion-small").resolve())
    assert config["train"]["lr"] == 0.05                                 # the value used, not null
    monkeypatch.chdir(tmp_path.parent)
    assert cli_in_process("eval", tmp_path / "run", "--json").returncode == 0


def test_an_idx_folder_given_as_a_path_is_recognised_by_its_name(shared_datasets):
    ds = load_dataset(str(shared_datasets / "fashion-mnist"))
    assert ds.classes[0] == "T-shirt/top" and ds.hflip
    ds = load_dataset(str(shared_datasets / "mnist-10k"))
    assert ds.classes == [str(d) for d in range(10)] and not ds.hflip


def test_flips_are_decided_per_folder_and_said():
    assert not mirror_keeps_class([str(d) for d in range(10)])
    assert not mirror_keeps_class(list("ABC"))
    assert mirror_keeps_class(["cat", "dog"])


def test_probabilities_take_numpy_batches(digits_run):
    clf = Classifier.load(digits_run)
    batch = load_dataset("digits").test.images[:4]
    a = clf.probabilities(batch.numpy())
    assert a.shape == (4, 10) and np.allclose(a.numpy(), clf.probabilities(batch).numpy())
    with pytest.raises(Exception, match="uint8 images"):
        clf.probabilities(np.zeros((4, 28, 28), np.float32))


def test_tune_runs_on_an_image_folder(texture_folder, tmp_path):
    """It used to stop with an internal error: the folder needed the network's input size."""
    space = tmp_path / "space.yaml"
    space.write_text("lr: [0.02, 0.05]\nepochs: 1\n")
    out = cli_in_process("tune", "--data", texture_folder, "--input-size", "16", "--space", space,
                         "--method", "grid", "--trials", "2", "--out", tmp_path / "study", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "study" / "trials.csv").is_file()
