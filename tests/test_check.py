"""convnet check: planted problems found, none invented; the hashes against imagehash."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convnet.data import hashing
from convnet.data.check import check_data, format_report
from convnet.errors import DataError
from helpers import cli_in_process

PHOTOS = ["astronaut", "chelsea", "coffee", "camera", "coins", "rocket"]


def pattern(rng, side: int, colour: bool = True) -> Image.Image:
    """A smooth random picture: a 5x5 field of random levels blown up (two such differ everywhere)."""
    field = rng.integers(0, 256, (5, 5, 3 if colour else 1), dtype=np.uint8)
    im = Image.fromarray(field if colour else field[:, :, 0], "RGB" if colour else "L")
    return im.resize((side, side), Image.Resampling.BICUBIC)


def photo(shared_images: Path, name: str, side: int = 96) -> Image.Image:
    path = shared_images / (name + (".jpg" if name == "rocket" else ".png"))
    return Image.open(path).convert("RGB").resize((side, side), Image.Resampling.LANCZOS)


def jpeg_copy(im: Image.Image, scale: float, quality: int) -> bytes:
    """A resized, recompressed copy: what a near-duplicate usually is."""
    small = im.resize((int(im.width * scale), int(im.height * scale)), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=quality)
    return out.getvalue()


def build(root: Path, shared_images: Path, plant: bool) -> Path:
    """train/ and test/ of cat, dog, bird: generated patterns and real photos, with every kind
    of problem planted when `plant`."""
    rng = np.random.default_rng(1)
    counts = {"train": {"cat": 40, "dog": 40, "bird": 40}, "test": {"cat": 10, "dog": 10, "bird": 5}}
    if plant:
        counts["train"]["bird"] = 0                      # only its 2 photos: 20x rarer than cat and dog
    for split, per in counts.items():
        for c, n in per.items():
            (root / split / c).mkdir(parents=True)
            for k in range(n):
                pattern(rng, 32 if k % 2 else 48).save(root / split / c / f"{k:03d}.png")
    for k, name in enumerate(PHOTOS):                    # real photos, one per class
        photo(shared_images, name).save(root / "train" / ["cat", "dog", "bird"][k % 3] / f"{name}.png")
    if not plant:
        return root
    train, test = root / "train", root / "test"
    good = (train / "cat" / "000.png").read_bytes()
    (train / "cat" / "broken.png").write_bytes(good[: len(good) // 2])            # truncated
    (train / "dog" / "notes.jpg").write_bytes(b"not a picture at all\n" * 10)    # not an image
    shutil.copy(train / "dog" / "003.png", train / "dog" / "003 copy.png")        # exact duplicate
    (train / "cat" / "astronaut-small.jpg").write_bytes(                          # near duplicate
        jpeg_copy(photo(shared_images, "astronaut"), 0.6, 70))
    shutil.copy(train / "dog" / "010.png", test / "dog" / "leaked.png")           # exact leak
    (test / "bird" / "coffee-again.jpg").write_bytes(                             # near leak
        jpeg_copy(photo(shared_images, "coffee"), 0.8, 80))
    pattern(rng, 32, colour=False).save(train / "dog" / "gray.png")              # gray among RGB
    return root


@pytest.fixture(scope="module")
def planted(tmp_path_factory, shared_images) -> Path:
    return build(tmp_path_factory.mktemp("planted"), shared_images, plant=True)


@pytest.fixture(scope="module")
def clean(tmp_path_factory, shared_images) -> Path:
    return build(tmp_path_factory.mktemp("clean"), shared_images, plant=False)


@pytest.fixture(scope="module")
def planted_report(planted):
    return check_data(str(planted), progress=False)


def by_kind(report) -> dict:
    found = defaultdict(list)
    for p in report.problems:
        found[p.kind].append(p)
    return found


# ------------------------------------------------------------------------------ image folders


def test_every_planted_problem_is_found(planted_report):
    found = by_kind(planted_report)
    assert sorted(found) == ["corrupt", "duplicate", "imbalance", "leak", "mixed-colour", "near-duplicate"]
    assert all(len(v) == 1 for v in found.values()), planted_report.problems

    corrupt = found["corrupt"][0]
    assert sorted(corrupt.files) == ["train/cat/broken.png", "train/dog/notes.jpg"]
    assert any("corrupt or truncated image" in d and "broken.png" in d for d in corrupt.details)
    assert any("not an image Pillow can read" in d and "notes.jpg" in d for d in corrupt.details)

    assert found["duplicate"][0].groups == [["train/dog/003 copy.png", "train/dog/003.png"]]
    assert found["near-duplicate"][0].groups == [["train/cat/astronaut-small.jpg", "train/cat/astronaut.png"]]

    leak = found["leak"][0]
    assert leak.severity == "error" and sorted(leak.files) == ["test/bird/coffee-again.jpg", "test/dog/leaked.png"]
    assert "2 test images also appear in train (1 exact copy, 1 near copy)" in leak.message
    assert "test accuracy is optimistic" in leak.suggestion

    imbalance = found["imbalance"][0]
    assert "class 'bird' has" in imbalance.message and "--class-weights auto" in imbalance.suggestion
    ratio = float(imbalance.message.split(" has ")[1].split("x")[0])
    counts = planted_report.counts["train"]
    assert ratio == pytest.approx(max(counts.values()) / counts["bird"], rel=0.05) and ratio >= 20

    assert found["mixed-colour"][0].files == ["train/dog/gray.png"]


def test_counts_sizes_and_modes(planted_report, planted):
    """Counts against a walk of the folder; the unreadable files are counted apart."""
    for split in ("train", "test"):
        for c in ("cat", "dog", "bird"):
            files = [f for f in (planted / split / c).iterdir() if f.name not in ("broken.png", "notes.jpg")]
            assert planted_report.counts[split][c] == len(files)
    assert planted_report.unreadable == {"train": 2, "test": 0}
    headers = []
    for f in planted.rglob("*"):
        if f.is_file() and f.name not in ("broken.png", "notes.jpg"):
            with Image.open(f) as im:
                headers.append((f"{im.width}x{im.height}", im.mode))
    assert planted_report.sizes == _count(s for s, _ in headers)
    assert planted_report.modes == _count(m for _, m in headers)


def _count(items) -> dict:
    out: dict = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def test_exact_duplicates_match_a_byte_hash(planted_report, planted):
    """The oracle: SHA-256 of every file, grouped."""
    digests = defaultdict(list)
    for f in sorted(planted.rglob("*.*")):
        digests[hashlib.sha256(f.read_bytes()).hexdigest()].append(str(f.relative_to(planted)))
    same = sorted(sorted(g) for g in digests.values() if len(g) > 1)
    found = by_kind(planted_report)
    reported = [sorted(g) for g in found["duplicate"][0].groups]
    reported += [sorted(g) for g in found["leak"][0].groups if not any(x.endswith(".jpg") for x in g)]
    assert sorted(reported) == same


def test_worker_processes_give_the_same_report(planted, planted_report, monkeypatch):
    import convnet.data.check as check

    monkeypatch.setattr(check, "PARALLEL_MIN", 1)
    monkeypatch.setattr(check, "READ_CHUNK", 16)        # 8 chunks over 2 spawned processes
    assert check_data(str(planted), progress=False, workers=2).to_dict() == planted_report.to_dict()


def test_a_clean_folder_has_no_problem(clean):
    report = check_data(str(clean), progress=False)
    assert report.problems == [], format_report(report)
    assert report.total == 40 * 3 + 10 * 2 + 5 + len(PHOTOS)
    assert "no problems found" in format_report(report)


def test_real_texture_crops_are_not_near_copies(texture_folder):
    """40 random 64x64 crops each of brick, grass and gravel: similar textures, no copies."""
    report = check_data(str(texture_folder), progress=False)
    assert [p.kind for p in report.problems] == []
    assert report.counts == {"train": {"brick": 40, "grass": 40, "gravel": 40}}


def test_conflicting_labels_and_layout_problems(tmp_path, shared_images):
    rng = np.random.default_rng(2)
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for k in range(6):
            pattern(rng, 32).save(tmp_path / c / f"{k}.png")
    shutil.copy(tmp_path / "a" / "0.png", tmp_path / "b" / "same.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "a" / "scan.heic").write_bytes(b"\0" * 10)
    found = by_kind(check_data(str(tmp_path), progress=False))
    assert sorted(found) == ["conflict", "empty-folder", "ignored-files"]
    assert found["conflict"][0].severity == "error"
    assert sorted(found["conflict"][0].files) == ["a/0.png", "b/same.png"]
    assert found["empty-folder"][0].files == ["empty/"]
    assert found["ignored-files"][0].files == ["a/scan.heic"]


def test_nothing_readable_is_an_error(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        (tmp_path / c / "0.png").write_bytes(b"no image here")
    report = check_data(str(tmp_path), progress=False)
    assert [(p.kind, p.severity) for p in report.problems] == [("empty-class", "error"), ("corrupt", "error")]
    assert report.problems[1].message == "2 files cannot be read as images; train/ has no readable image"
    assert "modes: none; formats: none" in format_report(report)


def test_one_class_and_unknown_class_say_what_train_says(tmp_path):
    rng = np.random.default_rng(3)
    for split, classes in (("train", ["a"]), ("test", ["a", "z"])):
        for c in classes:
            (tmp_path / split / c).mkdir(parents=True)
            pattern(rng, 32).save(tmp_path / split / c / "0.png")
    (tmp_path / "extra" / "a").mkdir(parents=True)
    found = by_kind(check_data(str(tmp_path), progress=False))
    assert found["ignored-files"][0].files == ["extra/"]
    assert "only one class ('a'); a classifier needs at least two" in found["one-class"][0].message
    assert "classes ['z'] are not in train/" in found["unknown-class"][0].message
    assert found["unknown-class"][0].files == ["test/z/0.png"]


# ------------------------------------------------------------------------------------ IDX sets


@pytest.fixture(scope="module")
def idx_sets(tmp_path_factory, shared_datasets):
    """1,000 + 300 digits of mnist-10k as they are, and the same with copies planted."""
    from convnet.data.idx import load_idx_pair, write_idx, write_idx_subset

    plain = write_idx_subset(shared_datasets / "mnist-10k", tmp_path_factory.mktemp("mnist-small"), 1000, 300)
    planted = tmp_path_factory.mktemp("planted") / "digits-planted"
    planted.mkdir()
    x, y = load_idx_pair(plain, "train")
    tx, ty = load_idx_pair(plain, "t10k")
    x, y, tx, ty = x.copy(), y.copy(), tx.copy(), ty.copy()
    x[21], y[21] = x[20], y[20]                          # an exact duplicate in train
    tx[5], ty[5] = x[7], y[7]                            # an exact leak
    near = x[3].astype(int) + rng_noise(x[3].shape)      # a near leak: the same digit, noisy
    tx[9], ty[9] = np.clip(near, 0, 255), y[3]
    for name, a in (("train-images-idx3-ubyte.gz", x), ("train-labels-idx1-ubyte.gz", y),
                    ("t10k-images-idx3-ubyte.gz", tx), ("t10k-labels-idx1-ubyte.gz", ty)):
        write_idx(planted / name, a)
    return plain, planted


def rng_noise(shape) -> np.ndarray:
    return np.random.default_rng(4).integers(-6, 7, shape)


def test_idx_subset_of_mnist_is_clean(idx_sets):
    plain, _ = idx_sets
    report = check_data("mnist", str(plain), progress=False)
    assert report.kind == "idx" and report.problems == [], format_report(report)
    assert sum(report.counts["train"].values()) == 1000 and sum(report.counts["test"].values()) == 300
    assert report.sizes == {"28x28": 1300} and report.modes == {"L": 1300}


def test_idx_planted_copies_are_found(idx_sets):
    _, planted = idx_sets
    report = check_data(str(planted), progress=False)
    found = by_kind(report)
    assert sorted(found) == ["duplicate", "leak"], format_report(report)
    assert found["duplicate"][0].groups == [["train[20]", "train[21]"]]
    leak = found["leak"][0]
    assert sorted(leak.files) == ["test[5]", "test[9]"] and "(1 exact copy, 1 near copy)" in leak.message
    assert "remove them from test or train" in leak.suggestion


def test_a_loaded_dataset_is_checked_as_train_sees_it(planted, texture_folder):
    """check_dataset on what load_folder made: the exact leak survives the resize, exact copies
    only with near=False, and a folder's val standing in for its test is not a leak."""
    from convnet.data.check import check_dataset
    from convnet.data.folder import load_folder

    ds = load_folder(planted, (32, 32), progress=False)
    report = check_dataset(ds, near=False)
    found = by_kind(report)
    # leaked.png: a copy of a training image, which the seeded split left in train or drew into val
    test_leaks = [p for p in found["leak"] if p.message.startswith("1 test image also appears in")]
    assert len(test_leaks) == 1 and test_leaks[0].message.endswith("(exact copies)")
    # 003.png and its copy: both in train (a duplicate), or one drawn into val (a leak to val)
    val_leaks = [p for p in found["leak"] if p.message.startswith("1 val image")]
    assert len(found["duplicate"]) + len(val_leaks) == 1 and "near-duplicate" not in found
    assert report.modes == {"RGB": len(ds.train) + len(ds.val) + len(ds.test)}
    textures = load_folder(texture_folder, (32, 32), progress=False)
    assert textures.test is textures.val
    report = check_dataset(textures)
    assert list(report.counts) == ["train", "val"] and report.problems == []


# ----------------------------------------------------------------------------------- the CLI


def test_cli_json_and_exit_codes(planted, clean):
    out = cli_in_process("check", planted, "--json", "--no-progress")
    assert out.returncode == 0
    d = json.loads(out.stdout)
    assert {p["kind"] for p in d["problems"]} == {"corrupt", "duplicate", "imbalance", "leak", "mixed-colour",
                                                  "near-duplicate"}
    assert all(set(p) >= {"kind", "severity", "files", "suggestion", "message"} for p in d["problems"])
    assert d["errors"] == 1 and d["counts"]["test"]["dog"] == 11
    assert cli_in_process("check", planted, "--strict", "--no-progress").returncode == 1
    assert cli_in_process("check", clean, "--strict", "--no-progress").returncode == 0
    text = cli_in_process("check", planted, "--no-progress").stdout
    assert "error leak: 2 test images also appear in train" in text
    assert "warning imbalance: class 'bird' has" in text


def test_cli_takes_train_spelling(idx_sets):
    plain, _ = idx_sets
    out = cli_in_process("check", "--data", "fashion-mnist", "--data-dir", plain, "--no-progress")
    assert out.returncode == 0 and "T-shirt/top" in out.stdout and "no problems found" in out.stdout


@pytest.mark.parametrize("args, fragment", [
    (["/no/such/folder"], "unknown data set '/no/such/folder'"),
    (["EMPTY"], "no class sub-folders with images"),
    ([], "no data set given"),
    (["a", "--data", "b"], "two data sets given"),
    (["EMPTY", "--hash-bits", "40"], "must be from 0 to 32"),
])
def test_bad_input_is_one_line(tmp_path, args, fragment):
    (tmp_path / "empty").mkdir()
    args = [str(tmp_path / "empty") if a == "EMPTY" else a for a in args]
    out = cli_in_process("check", *args)
    assert out.returncode == 2 and fragment in out.stderr and out.stderr.count("\n") == 1, out.stderr


def test_missing_folder_raises_data_error():
    with pytest.raises(DataError, match="no such folder"):
        check_data("/no/such/folder")


# --------------------------------------------------------------------------------- the hashes


@pytest.mark.parametrize("name", PHOTOS)
def test_hashes_match_imagehash(shared_images, name):
    """On pixels already at the hash's size (so no resampler differs), the bits are imagehash's."""
    import imagehash
    im = Image.open(shared_images / (name + (".jpg" if name == "rocket" else ".png"))).convert("L")
    a32 = np.asarray(im.resize((32, 32), Image.Resampling.LANCZOS))
    a98 = np.asarray(im.resize((9, 8), Image.Resampling.LANCZOS))
    assert f"{int(hashing.phash(a32[None])[0]):016x}" == str(imagehash.phash(Image.fromarray(a32)))
    assert f"{int(hashing.dhash(a98[None])[0]):016x}" == str(imagehash.dhash(Image.fromarray(a98)))


def test_dct_and_shrink_against_independent_formulas():
    from scipy.fft import dct

    x = np.random.default_rng(5).random((32, 32))
    assert np.allclose(hashing.dct_matrix(32) @ x, dct(x, axis=0))
    imgs = np.random.default_rng(6).integers(0, 256, (3, 32, 36)).astype(np.float64)
    assert np.allclose(hashing.shrink(imgs, (8, 9)), imgs.reshape(3, 8, 4, 9, 4).mean(axis=(2, 4)))
    a = hashing.area_matrix(28, 32)
    assert np.allclose(a.sum(axis=1), 1) and np.allclose(a.sum(axis=0), 32 / 28)


def test_close_pairs_and_groups_against_brute_force():
    rng = np.random.default_rng(7)
    h = rng.integers(0, 2**63, (400, 2), dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, (400, 2), dtype=np.uint64)
    for a, b in ((3, 100), (100, 250), (250, 390), (5, 399)):
        h[b] = h[a] ^ np.uint64(0b1011)                 # 3 bits apart in both columns
    i, j = hashing.close_pairs(h, 4)
    brute = [(a, b) for a in range(400) for b in range(a + 1, 400)
             if max(bin(int(h[a, k]) ^ int(h[b, k])).count("1") for k in (0, 1)) <= 4]
    assert sorted(zip(i.tolist(), j.tolist())) == brute
    assert hashing.groups(400, i, j) == [[3, 100, 250, 390], [5, 399]]
    x = rng.integers(0, 2**63, 50, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    assert hashing.hamming(x, x[:7]).tolist() == [[bin(int(p) ^ int(q)).count("1") for q in x[:7]] for p in x]
    assert hashing.popcount_table(x).tolist() == [bin(int(p)).count("1") for p in x]


def test_copies_of_photos_are_near_and_different_photos_are_not(shared_images):
    ims = [photo(shared_images, n, 160) for n in PHOTOS]
    copies = [Image.open(io.BytesIO(jpeg_copy(im, s, q))) for im, (s, q) in
              zip(ims, [(0.5, 60), (0.8, 90), (0.6, 40), (1.5, 75), (0.7, 50), (0.5, 85)])]
    thumbs = np.stack([hashing.thumbnail(im) for im in ims + copies])
    i, j = hashing.near_pairs(hashing.hash_images(thumbs), thumbs)
    assert sorted(zip(i.tolist(), j.tolist())) == [(k, k + len(ims)) for k in range(len(ims))]


def test_jpeg_draft_thumbnail_is_close_to_a_full_decode(shared_images):
    big = photo(shared_images, "astronaut", 700)
    raw = io.BytesIO()
    big.save(raw, "JPEG", quality=90)
    fast = hashing.thumbnail(Image.open(io.BytesIO(raw.getvalue()))).astype(float)
    full = np.asarray(Image.open(io.BytesIO(raw.getvalue())).convert("L").resize((32, 32), Image.Resampling.BOX))
    assert np.sqrt(((fast - full) ** 2).mean()) < 3
