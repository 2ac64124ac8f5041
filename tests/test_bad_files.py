"""Hostile or odd files and settings: each is a one-line error naming it, or is skipped with a
warning where the README says so, never an internal error."""

from __future__ import annotations

import io
import os
import struct

import numpy as np
import pytest
from PIL import Image

from convnet.data.folder import load_folder
from convnet.data.idx import parse_idx, write_idx
from convnet.data.images import open_image
from convnet.errors import ConvnetError, DataError, WriteError
from helpers import assert_one_line_error, cli, write_idx_set


def dds_with_unknown_pixel_format() -> bytes:
    """A DDS header Pillow recognises, declaring a FourCC it has no decoder for: Pillow's own
    DDS plugin raises NotImplementedError on it."""
    header = struct.pack("<7I", 124, 0x1007, 8, 8, 0, 0, 0) + bytes(44)
    pixel_format = struct.pack("<2I", 32, 0x4) + b"ZZZZ" + bytes(20)
    return b"DDS " + header + pixel_format + struct.pack("<5I", 0x1000, 0, 0, 0, 0) + bytes(64)


def blp_with_unknown_encoding() -> bytes:
    """A BLP2 header with encoding 3: Pillow raises BLPFormatError (a NotImplementedError)."""
    return b"BLP2" + struct.pack("<I", 1) + bytes([3, 0, 0, 0]) + struct.pack("<II", 8, 8) + bytes(128 + 1024)


def ppm() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buf, format="PPM")
    return buf.getvalue()


@pytest.mark.parametrize("make", [dds_with_unknown_pixel_format, blp_with_unknown_encoding, ppm])
def test_formats_beyond_the_accepted_ones_are_a_data_error(tmp_path, make):
    path = tmp_path / "photo.png"                 # the name claims PNG; the bytes say otherwise
    path.write_bytes(make())
    with pytest.raises(DataError, match="photo.png: not an image Pillow can read as PNG, JPEG"):
        open_image(path, "L")
    with pytest.raises(DataError, match="not an image Pillow can read"):
        open_image(make(), "RGB", name="upload")


@pytest.mark.parametrize("fmt, suffix", [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("BMP", "bmp"),
                                         ("TIFF", "tif"), ("WEBP", "webp")])
def test_the_accepted_formats_still_decode(tmp_path, fmt, suffix):
    path = tmp_path / f"x.{suffix}"
    Image.new("RGB", (10, 6), (200, 30, 30)).save(path, format=fmt)
    assert open_image(path, "RGB").size == (10, 6)


def test_predict_names_a_dds_file(digits_run, tmp_path):
    (tmp_path / "digit.png").write_bytes(dds_with_unknown_pixel_format())
    assert_one_line_error(cli("predict", digits_run, tmp_path / "digit.png"),
                          "digit.png: not an image Pillow can read")


def test_a_folder_with_one_dds_file_skips_it(tmp_path, capsys):
    for k, name in enumerate(["a", "b"]):
        (tmp_path / name).mkdir()
        for i in range(6):
            Image.new("L", (8, 8), 40 + 150 * k).save(tmp_path / name / f"{i}.png")
    (tmp_path / "a" / "odd.png").write_bytes(dds_with_unknown_pixel_format())
    (tmp_path / "b" / "odd.png").write_bytes(blp_with_unknown_encoding())
    ds = load_folder(tmp_path, (8, 8), val_fraction=0.25, progress=False)
    assert len(ds.train) + len(ds.val) == 12
    err = capsys.readouterr().err
    assert err.count("warning: skipped") == 2 and "odd.png" in err


@pytest.mark.parametrize("value", ["abc", "1e6", "-5", "0"])
def test_a_bad_pixel_cap_setting_is_named(digits_run, tmp_path, value):
    Image.new("L", (8, 8)).save(tmp_path / "x.png")
    assert_one_line_error(cli("predict", digits_run, tmp_path / "x.png", env={"CONVNET_MAX_PIXELS": value}),
                          "CONVNET_MAX_PIXELS")


def test_a_bad_pixel_cap_setting_stops_the_server_before_it_serves(digits_run):
    assert_one_line_error(cli("serve", digits_run, "--port", "0", env={"CONVNET_MAX_PIXELS": "abc"}),
                          "CONVNET_MAX_PIXELS='abc' is not a whole number")


@pytest.mark.parametrize("verb", ["predict", "serve"])
def test_an_unknown_device_is_refused_by_the_flag(digits_run, verb):
    args = [verb, digits_run] + (["x.png"] if verb == "predict" else []) + ["--device", "tpu"]
    assert_one_line_error(cli(*args), "--device", "unknown device 'tpu'")


def idx(shape: tuple, data: bytes = b"") -> bytes:
    return bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + data


@pytest.mark.parametrize("raw, fragment", [
    (idx((0, 28, 28)), "holds no items (its header declares shape (0, 28, 28))"),
    (idx((2**32 - 1,) * 3, b"xx"), "truncated IDX data: header declares shape (4294967295"),
    (idx((2**31, 2**31, 4)), "truncated IDX data"),
    (bytes([0, 0, 8, 0]), "declares no dimensions"),
])
def test_idx_headers_that_describe_nothing_or_too_much(raw, fragment):
    with pytest.raises(DataError, match="f.idx") as e:
        parse_idx(raw, "f.idx")
    assert fragment in str(e.value)


def test_training_on_an_idx_file_with_no_images_is_named(tmp_path):
    data = write_idx_set(tmp_path / "data")
    write_idx(data / "train-images-idx3-ubyte.gz", np.zeros((0, 12, 12), np.uint8))
    write_idx(data / "train-labels-idx1-ubyte.gz", np.zeros((0,), np.uint8))
    assert_one_line_error(cli("train", "--data", data, "--epochs", "1", "--out", tmp_path / "run"),
                          "train-", "holds no items")
    assert not (tmp_path / "run").exists()


def test_one_corrupt_label_byte_is_refused_not_a_201_class_model(tmp_path):
    data = write_idx_set(tmp_path / "data", classes=10, n_train=300)
    from convnet.data.idx import read_idx

    labels = read_idx(data / "train-labels-idx1-ubyte.gz")
    labels[17] = 200
    write_idx(data / "train-labels-idx1-ubyte.gz", labels)
    assert_one_line_error(cli("train", "--data", data, "--epochs", "1", "--out", tmp_path / "run"),
                          "train-labels-idx1-ubyte.gz", "labels run to 200", "a corrupt label byte?")
    assert not (tmp_path / "run").exists()


def test_a_small_subset_missing_a_few_classes_still_loads(tmp_path):
    from convnet.data.idx import load_idx_pair

    folder = tmp_path / "subset"
    folder.mkdir()
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", np.zeros((4, 8, 8), np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.array([0, 3, 9, 9], np.uint8))
    images, labels = load_idx_pair(folder, "train")
    assert list(labels) == [0, 3, 9, 9]


def test_non_utf8_class_folder_names_become_text(tmp_path):
    root = os.fsencode(tmp_path / "photos")
    for k, name in enumerate([b"caf\xe9", b"plain"]):
        os.makedirs(os.path.join(root, name))
        for i in range(4):
            Image.new("L", (8, 8), 40 + 150 * k).save(os.path.join(root, name, b"%d.png" % i).decode(
                "utf-8", "surrogateescape"))
    ds = load_folder(tmp_path / "photos", (8, 8), progress=False)
    assert ds.classes == ["caf\\xe9", "plain"]
    for name in ds.classes:
        name.encode("utf-8")                            # JSON, fonts and HTML accept it


@pytest.mark.slow
def test_report_of_a_run_with_non_utf8_class_names(tmp_path):
    root = os.fsencode(tmp_path / "photos")
    rng = np.random.default_rng(0)
    for k, name in enumerate([b"caf\xe9", b"\xff\xfe", b"plain"]):
        os.makedirs(os.path.join(root, name))
        for i in range(10):
            a = rng.integers(0, 60, (12, 12)).astype(np.uint8)
            a[4 * k:4 * k + 4] = 230
            Image.fromarray(a).save(os.path.join(root, name, b"%d.png" % i).decode("utf-8", "surrogateescape"))
    run = tmp_path / "run"
    trained = cli("train", "--data", tmp_path / "photos", "--epochs", "1", "--out", run, "--no-progress")
    assert trained.returncode == 0 and "error" not in trained.stderr, trained.stderr
    report = cli("report", run)
    assert report.returncode == 0, report.stderr
    assert "caf\\xe9" in (run / "report.html").read_text(encoding="utf-8")


def test_atomic_writes_honour_the_umask(tmp_path):
    from convnet.fileio import atomic_write_bytes, atomic_write_json

    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "weights.bin", b"x")
        assert (tmp_path / "weights.bin").stat().st_mode & 0o777 == 0o640
        os.umask(0o002)
        atomic_write_json(tmp_path / "config.json", {"a": 1})
        assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o664
        (tmp_path / "config.json").chmod(0o600)               # a file's own mode is kept
        atomic_write_json(tmp_path / "config.json", {"a": 2})
        assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_a_write_that_cannot_happen_is_a_one_line_error(tmp_path):
    from convnet.fileio import atomic_write_bytes

    with pytest.raises(WriteError, match=r"cannot write /proc/convnet-test\.bin"):
        atomic_write_bytes("/proc/convnet-test.bin", b"x")
    assert issubclass(WriteError, OSError) and issubclass(WriteError, ConvnetError)


def test_export_to_proc_is_named(digits_run):
    assert_one_line_error(cli("export", digits_run, "--out", "/proc/convnet-model.onnx"),
                          "cannot write /proc/convnet-model.onnx")


@pytest.mark.parametrize("difference", [float("nan"), float("inf"), 1.0])
def test_an_export_that_does_not_match_is_removed_even_when_the_difference_is_nan(digits_run, tmp_path,
                                                                                 monkeypatch, difference):
    from convnet.export import writer

    monkeypatch.setattr(writer, "_torchscript_difference", lambda *a: difference)
    out = tmp_path / "model.pt"
    with pytest.raises(ConvnetError, match="differs from PyTorch"):
        writer.export(digits_run, "torchscript", out)
    assert not out.exists()
