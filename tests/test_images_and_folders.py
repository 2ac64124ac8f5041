"""Image decoding limits and image-folder data sets, on real photos and broken files."""

import numpy as np
import pytest
from PIL import Image

from convnet.data.folder import load_folder
from convnet.data.images import open_image
from convnet.data.sources import load_dataset
from convnet.errors import DataError


def test_open_real_photo_in_both_modes(shared_images):
    rgb = open_image(shared_images / "chelsea.png", "RGB")
    gray = open_image(shared_images / "chelsea.png", "L")
    assert rgb.size == (451, 300) and rgb.mode == "RGB" and gray.mode == "L"
    # luma of the RGB image is the grayscale image
    expected = np.asarray(rgb.convert("L"), dtype=int)
    assert np.abs(np.asarray(gray, dtype=int) - expected).max() <= 1


def test_non_image_file(tmp_path):
    (tmp_path / "notes.png").write_text("this is not a picture")
    with pytest.raises(DataError, match="not an image Pillow can read"):
        open_image(tmp_path / "notes.png", "L")


def test_truncated_image(tmp_path, shared_images):
    data = (shared_images / "chelsea.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match="corrupt or truncated"):
        open_image(tmp_path / "cut.png", "RGB")


def test_image_bomb_refused_from_header(tmp_path, monkeypatch):
    Image.new("L", (3000, 3000)).save(tmp_path / "big.png")      # 9 Mpx, tiny file
    monkeypatch.setenv("CONVNET_MAX_PIXELS", "1000000")
    with pytest.raises(DataError, match="than the cap of 1,000,000"):
        open_image(tmp_path / "big.png", "L")
    monkeypatch.setenv("CONVNET_MAX_PIXELS", "5000000")            # between the cap and twice it
    with pytest.raises(DataError, match="than the cap of 5,000,000"):
        open_image(tmp_path / "big.png", "L")
    monkeypatch.setenv("CONVNET_MAX_PIXELS", "10000000")
    assert open_image(tmp_path / "big.png", "L").size == (3000, 3000)


def test_missing_and_folder_paths(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        open_image(tmp_path / "nope.png", "L")
    with pytest.raises(DataError, match="is a folder"):
        open_image(tmp_path, "L")


def test_transparent_pixels_become_white(tmp_path):
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "t.png")
    assert np.asarray(open_image(tmp_path / "t.png", "L")).min() == 255


def test_folder_split_resize_and_channels(texture_folder):
    ds = load_folder(texture_folder, size=(16, 16), val_fraction=0.25, seed=0, progress=False)
    assert ds.classes == ["brick", "grass", "gravel"]
    assert ds.channels == 1 and ds.train.images.shape[1:] == (1, 16, 16)
    assert len(ds.train) == 90 and len(ds.val) == 30             # 25% of 40 per class held out
    assert ds.test is ds.val
    assert ds.val.labels.bincount().tolist() == [10, 10, 10]
    again = load_folder(texture_folder, size=(16, 16), val_fraction=0.25, seed=0, progress=False)
    assert bool((again.val.images == ds.val.images).all())


def test_folder_with_given_splits_and_rgb(tmp_path, shared_images):
    photo = Image.open(shared_images / "chelsea.png").convert("RGB")
    for split in ("train", "val"):
        for cls, box in (("left", (0, 0, 150, 150)), ("right", (300, 150, 450, 300))):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(3):
                photo.crop(box).rotate(i * 5).save(tmp_path / split / cls / f"{i}.jpg")
    ds = load_folder(tmp_path, size=(32, 32), progress=False)
    assert ds.channels == 3 and len(ds.train) == 6 and len(ds.val) == 6


def test_corrupt_image_in_folder_is_skipped_and_reported(texture_folder, tmp_path, capsys):
    import shutil

    root = tmp_path / "f"
    shutil.copytree(texture_folder, root)
    (root / "grass" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (root / "brick" / "readme.txt").write_text("ignored: not an image suffix")
    ds = load_folder(root, size=(16, 16), progress=False)
    assert len(ds.train) + len(ds.val) == 120
    assert "skipped" in capsys.readouterr().err and "broken.png" not in str(ds.classes)


@pytest.mark.parametrize("layout, message", [
    ({}, "no class sub-folders with images"),
    ({"only": 3}, "only one class"),
    ({"a": 2, "b": 0}, "only one class"),
])
def test_bad_folders(tmp_path, layout, message):
    for cls, n in layout.items():
        (tmp_path / cls).mkdir()
        for i in range(n):
            Image.new("L", (8, 8), 128).save(tmp_path / cls / f"{i}.png")
    with pytest.raises(DataError, match=message):
        load_folder(tmp_path, size=(8, 8), progress=False)


def test_unknown_data_name(tmp_path):
    with pytest.raises(DataError, match="unknown data set 'cifar99'"):
        load_dataset("cifar99")
