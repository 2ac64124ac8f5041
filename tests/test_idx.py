"""The IDX reader against files with known content, and against broken files."""

import gzip
import struct

import numpy as np
import pytest

from convnet.data.idx import load_idx_pair, parse_idx, read_idx, write_idx
from convnet.data.sources import load_dataset
from convnet.errors import DataError


def test_round_trip_gzip_and_raw(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "a", a, compress=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), a)
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), a)
    raw = (tmp_path / "a").read_bytes()
    assert raw[:4] == bytes([0, 0, 8, 3]) and struct.unpack(">3I", raw[4:16]) == (2, 3, 4)


def test_reads_the_shared_fashion_mnist(shared_datasets):
    images, labels = load_idx_pair(shared_datasets / "fashion-mnist", "t10k")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10      # README: 1,000 a class


def test_wrong_magic(tmp_path):
    (tmp_path / "x").write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(DataError, match="wrong magic number 12340803"):
        read_idx(tmp_path / "x")


def test_images_file_where_labels_expected(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(DataError, match="expected an idx1 file, found idx3"):
        read_idx(tmp_path / "x.gz", expect_ndim=1)


def test_truncated_data(tmp_path):
    raw = bytes([0, 0, 8, 3]) + struct.pack(">3I", 10, 28, 28) + b"\x00" * 100
    with pytest.raises(DataError, match=r"truncated IDX data: header declares shape \(10, 28, 28\)"):
        parse_idx(raw, "t")


def test_truncated_gzip(tmp_path):
    data = gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 5000) + bytes(5000))
    (tmp_path / "y.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(tmp_path / "y.gz")


def test_images_and_labels_must_agree(tmp_path):
    for prefix in ("train", "t10k"):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", np.zeros((4, 5, 5), np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="4 images but 3 labels"):
        load_idx_pair(tmp_path, "train")


def test_embedded_digits_are_real_mnist_digits():
    ds = load_dataset("digits")
    assert ds.train.images.shape == (3000, 1, 28, 28) and ds.test.images.shape == (1000, 1, 28, 28)
    assert sorted(ds.train.labels.unique().tolist()) == list(range(10))
    # MNIST digits: dark background, bright strokes covering roughly a fifth of the field
    ink = (ds.train.images > 128).float().mean().item()
    assert 0.08 < ink < 0.25
    assert ds.hflip is False


def test_named_data_sets_read_from_data_dir(shared_datasets):
    ds = load_dataset("fashion-mnist", str(shared_datasets / "fashion-mnist"))
    assert len(ds.train) == 50000 and ds.classes[7] == "Sneaker" and ds.hflip is True
    ds = load_dataset("mnist", str(shared_datasets / "mnist-10k"), val_fraction=0.1, seed=3)
    assert len(ds.train) + len(ds.val) == 6000 and abs(len(ds.val) - 600) <= 10


def test_validation_split_is_seeded_and_disjoint(shared_datasets):
    a = load_dataset("mnist", str(shared_datasets / "mnist-10k"), val_fraction=0.2, seed=1)
    b = load_dataset("mnist", str(shared_datasets / "mnist-10k"), val_fraction=0.2, seed=1)
    c = load_dataset("mnist", str(shared_datasets / "mnist-10k"), val_fraction=0.2, seed=2)
    assert bool((a.val.images == b.val.images).all())
    assert not bool((a.val.images == c.val.images).all())
    rows = {bytes(x.numpy()) for x in a.train.images[:2000]}
    assert not any(bytes(x.numpy()) in rows for x in a.val.images[:300])
