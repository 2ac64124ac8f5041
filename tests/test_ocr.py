"""OCR: CER and CTC decoding against hand computations and brute force, the digit-line
generator, the line-folder reader's bad input, the page splitter, the CRNN, and the task end to
end through `convnet ocr train|eval|read`."""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from convnet.errors import DataError
from convnet.ocr.decode import beam, collapse, edit_distance, error_rates, greedy
from convnet.ocr.lines import LABELS, read_line_folder, write_line_folder

# -- CER and decoding ------------------------------------------------------------------------


def levenshtein_oracle(a: str, b: str) -> int:
    """The textbook recursion, memoised: an implementation independent of decode.edit_distance."""
    @functools.lru_cache(None)
    def d(i, j):
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))
    return d(len(a), len(b))


def test_cer_matches_a_hand_computation():
    assert edit_distance("kitten", "sitting") == 3          # k->s, e->i, +g
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3
    # "12345" read as "1245": one deletion; "678" read as "6789": one insertion; "00" exact
    r = error_rates(["12345", "678", "00"], ["1245", "6789", "00"])
    assert r["errors"] == 2 and r["chars"] == 10 and r["n"] == 3
    assert r["cer"] == pytest.approx(0.2) and r["exact"] == pytest.approx(1 / 3)


def test_edit_distance_matches_the_recursion_on_random_strings():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = "".join(rng.choice(list("abc"), rng.integers(0, 7)))
        b = "".join(rng.choice(list("abc"), rng.integers(0, 7)))
        assert edit_distance(a, b) == levenshtein_oracle(a, b), (a, b)


def log_probs(rows) -> np.ndarray:
    p = np.asarray(rows, dtype=np.float64)
    return np.log(p / p.sum(1, keepdims=True))


def test_greedy_merges_repeats_then_drops_blanks():
    # columns' best: a a - a b b - (blank = 0, a = 1, b = 2)
    best = [1, 1, 0, 1, 2, 2, 0]
    lp = log_probs([[0.1 if s != b else 0.8 for s in range(3)] for b in best])
    assert greedy(lp, "ab") == "aab"
    assert collapse([0, 0, 0], "ab") == ""


def test_beam_sums_the_paths_of_a_text_where_greedy_takes_one_path():
    # two columns, P(blank) = 0.6, P(a) = 0.4 each: greedy reads "" (path --, 0.36); "a" has
    # the paths aa, a-, -a: 0.16 + 0.24 + 0.24 = 0.64
    lp = log_probs([[0.6, 0.4], [0.6, 0.4]])
    assert greedy(lp, "a") == ""
    found = beam(lp, "a", width=4)
    assert [t for t, _ in found] == ["a", ""]
    assert math.exp(found[0][1]) == pytest.approx(0.64) and math.exp(found[1][1]) == pytest.approx(0.36)


def test_beam_matches_brute_force_over_every_path():
    rng = np.random.default_rng(1)
    for _ in range(5):
        lp = np.log(rng.dirichlet(np.ones(3), size=4))          # T=4, blank + "ab"
        totals: dict[str, float] = {}
        for path in itertools.product(range(3), repeat=4):
            text = collapse(path, "ab")
            totals[text] = totals.get(text, 0.0) + math.exp(sum(lp[t, s] for t, s in enumerate(path)))
        found = beam(lp, "ab", width=100, prune=-math.inf)
        assert {t: math.exp(p) for t, p in found} == pytest.approx(totals)
        best = max(totals, key=totals.get)
        assert found[0][0] == best


# -- the generator -------------------------------------------------------------------------


def write_idx(path, array: np.ndarray) -> None:
    """An IDX file (uint8 data) written by hand from the format's definition."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def marked_mnist(tmp_path):
    """An MNIST-format folder whose train digits (labels 1, 2) have ink 200 and test digits
    (labels 7, 8) ink 100, each a block of 6 to 11 ink columns: a line shows its digits' split."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, ink, labels in (("train", 200, (1, 2)), ("t10k", 100, (7, 8))):
        images = np.zeros((40, 28, 28), np.uint8)
        for i in range(40):
            w = 6 + i % 6
            images[i, 4:24, 10:10 + w] = ink
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.choice(labels, 40))
    return folder


def test_generator_draws_only_the_given_splits_digits(marked_mnist, tmp_path):
    from convnet.ocr.generate import write_digit_lines

    folder = write_digit_lines(tmp_path / "test-lines", marked_mnist, "test", 50, seed=3)
    lines = read_line_folder(folder, "0123456789")
    assert len(lines) == 50
    for image, text in zip(lines.images, lines.texts):
        assert image.shape[0] == 32 and image.dtype == np.uint8
        assert set(np.unique(image)) <= {255, 155}            # white ground, the test digits' ink only
        # dark ink on white: the 2..6 px margins and the rows above any digit's ink are background
        assert (image[:, :2] == 255).all() and (image[:, -2:] == 255).all() and (image[:2] == 255).all()
        assert (image == 155).any()
        assert 3 <= len(text) <= 10 and set(text) <= {"7", "8"}
        # widths: margins 2..6 each side, digits 6..11 columns, gaps -2..6
        n = len(text)
        assert 4 + 6 * n - 2 * (n - 1) <= image.shape[1] <= 12 + 11 * n + 6 * (n - 1)
    train = read_line_folder(write_digit_lines(tmp_path / "train-lines", marked_mnist, "train", 20, 3))
    assert all(set(np.unique(im)) <= {255, 55} for im in train.images)
    assert set("".join(train.texts)) <= {"1", "2"}


def test_generator_is_seeded(shared_datasets):
    from convnet.data.idx import load_idx_pair
    from convnet.ocr.generate import digit_lines

    images, labels = load_idx_pair(shared_datasets / "mnist-10k", "t10k")
    a, ta = digit_lines(images, labels, 30, seed=5)
    b, tb = digit_lines(images, labels, 30, seed=5)
    c, tc = digit_lines(images, labels, 30, seed=6)
    assert ta == tb and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert ta != tc
    lengths = [len(t) for t in ta + tc]
    assert min(lengths) >= 3 and max(lengths) <= 10


def test_generated_lines_are_cached_and_reused(shared_datasets, tmp_path):
    from convnet.ocr.generate import cached_digit_lines

    a = cached_digit_lines(shared_datasets / "mnist-10k", "test", 12, 1, root=tmp_path)
    stamp = (a / LABELS).stat().st_mtime_ns
    assert cached_digit_lines(shared_datasets / "mnist-10k", "test", 12, 1, root=tmp_path) == a
    assert (a / LABELS).stat().st_mtime_ns == stamp
    assert cached_digit_lines(shared_datasets / "mnist-10k", "test", 12, 2, root=tmp_path) != a


# -- the reader's bad input -----------------------------------------------------------------


def line_image(width: int = 60) -> np.ndarray:
    im = np.full((32, width), 255, np.uint8)
    im[8:24, 4:width - 4:6] = 0
    return im


def make_folder(path, rows: list[str], images: dict[str, np.ndarray]):
    path.mkdir(parents=True, exist_ok=True)
    for name, im in images.items():
        Image.fromarray(im).save(path / name)
    (path / LABELS).write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_reader_refuses_an_empty_folder_and_one_without_labels(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty folder"):
        read_line_folder(tmp_path / "empty")
    make_folder(tmp_path / "nolabels", [], {"a.png": line_image()})
    (tmp_path / "nolabels" / LABELS).unlink()
    with pytest.raises(DataError, match="no labels.tsv"):
        read_line_folder(tmp_path / "nolabels")
    with pytest.raises(DataError, match="no such folder"):
        read_line_folder(tmp_path / "absent")


def test_reader_reports_and_skips_missing_corrupt_narrow_and_foreign_lines(tmp_path):
    folder = make_folder(tmp_path / "d", ["good.png\t123", "gone.png\t45", "bad.png\t6", "thin.png\t7",
                                          "good2.png\t12x", "good3.png\t"],
                         {"good.png": line_image(), "thin.png": line_image(60)[:, :1],
                          "good2.png": line_image(), "good3.png": line_image()})
    (folder / "bad.png").write_bytes(b"not a png at all")
    notes = []
    lines = read_line_folder(folder, "0123456789", notes.append)
    assert lines.texts == ["123"] and lines.files == ["good.png"]
    text = "\n".join(notes)
    for expected in ("missing file: gone.png", "unreadable image: bad.png", "too narrow", "thin.png",
                     "outside the alphabet", "good2.png", "empty text", "good3.png"):
        assert expected in text, expected


def test_reader_refuses_a_folder_with_no_usable_line(tmp_path):
    folder = make_folder(tmp_path / "d", ["a.png\t1", "b.png\t2"], {"b.png": line_image(60)[:, :1]})
    with pytest.raises(DataError, match="none of the 2 line"):
        read_line_folder(folder, note=lambda m: None)


@pytest.mark.parametrize("label, why", [("12\t3", "tab"), ("12\r3", "line break"), ("12\u20283", "line break"),
                                        ("12\x0c3", "line break"), ("12\x073", "control character")])
def test_reader_refuses_tabs_and_line_breaks_in_a_label(tmp_path, label, why):
    folder = make_folder(tmp_path / "d", [f"a.png\t{label}"], {"a.png": line_image()})
    with pytest.raises(DataError, match=f"line 1: .*{why}"):
        read_line_folder(folder)


def test_reader_reads_utf8_and_scales_lines_to_32_rows(tmp_path):
    tall = np.full((64, 200), 255, np.uint8)
    tall[10:50, 20:180:10] = 0
    folder = make_folder(tmp_path / "d", ["# a comment", "", "tall.png\tÄbç déf", "line.png\t€12"],
                         {"tall.png": tall, "line.png": line_image(80)})
    lines = read_line_folder(folder)
    assert lines.texts == ["Äbç déf", "€12"]
    assert [im.shape for im in lines.images] == [(32, 100), (32, 80)]
    (folder / LABELS).write_bytes("tall.png\tÄ\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_line_folder(folder)


def test_written_folders_read_back(tmp_path):
    images = [line_image(40 + 8 * i) for i in range(5)]
    texts = ["1", "22", "333", "4444", "55555"]
    lines = read_line_folder(write_line_folder(tmp_path / "w", images, texts))
    assert lines.texts == texts and all(np.array_equal(a, b) for a, b in zip(lines.images, images))


# -- the page splitter ------------------------------------------------------------------------


def test_page_splitter_finds_each_line_top_to_bottom():
    from convnet.ocr.pages import page_lines, split_lines

    page = np.full((200, 300), 230, np.uint8)
    page[:, 150:] = 170                                   # uneven lighting: no line of its own
    tops = [20, 80, 140]
    for t in tops:
        for x in range(20, 260, 12):
            page[t:t + 22, x:x + 6] = 30                     # "letters": 22 rows of ink
    boxes = split_lines(page)
    assert len(boxes) == 3
    for (top, bottom, left, right), t in zip(boxes, tops):
        assert top <= t and bottom >= t + 22 and bottom - top <= 22 + 8
        assert left <= 20 and right >= 260 - 6
    blank = np.full((100, 100), 240, np.uint8)
    assert split_lines(blank) == []
    with pytest.raises(DataError, match="no text lines"):
        page_lines(blank, "blank.png")
    inverted = split_lines(255 - page)                     # light text on a dark ground
    assert len(inverted) == 3


def test_page_splitter_on_a_scanned_page(shared_images):
    from convnet.ocr.pages import split_lines

    gray = np.asarray(Image.open(shared_images / "page.png").convert("L"))
    boxes = split_lines(gray)
    assert 5 <= len(boxes) <= 9                               # a title, five text lines, a code line
    assert all(a[1] <= b[0] + 4 for a, b in zip(boxes, boxes[1:]))   # top to bottom, little overlap


# -- the CRNN -----------------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    """Small convolutions do not share well: on a busy 2-core machine two OpenMP threads made a
    tiny CRNN's step 50x slower than one (spinning threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", ["crnn", "crnn_conv"])
def test_crnn_shapes_and_gradients(name, one_thread):
    from convnet.models import create

    torch.manual_seed(0)
    model = create(name, 10, 1, widths=(4, 8, 8, 8, 8), hidden=8)
    x, widths = torch.rand(3, 1, 32, 61), torch.tensor([61, 40, 17])
    out = model(x, widths)
    assert out.shape == (3, 15, 11)
    assert model.output_lengths(widths).tolist() == [15, 10, 4]
    out.float().log_softmax(2).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_bilstm_reads_a_line_alike_whatever_the_batchs_padding(one_thread):
    from convnet.models import create

    torch.manual_seed(0)
    model = create("crnn", 10, 1, widths=(4, 8, 8, 8, 8), hidden=8).eval()
    line = torch.rand(1, 1, 32, 40)
    batch = torch.cat([torch.cat([line, torch.zeros(1, 1, 32, 40)], 3), torch.rand(1, 1, 32, 80)])
    with torch.no_grad():
        alone = model(line, torch.tensor([40]))
        packed = model(batch, torch.tensor([40, 80]))
        unpacked = model(batch)
    # packed, the backward LSTM starts at the line's own end; only the convolutions' view of the
    # padding past its last columns differs. Unpacked, it first runs over 10 padding columns.
    packed_diff = (alone[0] - packed[0, :10]).abs().max()
    assert packed_diff < 1e-2 * alone.abs().max()
    assert packed_diff < 0.1 * (alone[0] - unpacked[0, :10]).abs().max()


def test_the_task_learns_a_few_lines_by_heart(shared_datasets, tmp_path, one_thread):
    """A few steps of CTC on 8 digit lines: the loss falls by more than half."""
    from convnet.ocr.generate import write_digit_lines
    from convnet.tasks.ocr import LineRecognition
    from convnet.training.hardware import resolve

    torch.manual_seed(0)
    lines = read_line_folder(write_digit_lines(tmp_path / "l", shared_datasets / "mnist-10k", "train", 8, 0))
    task = LineRecognition()
    config = {"model": {"name": "crnn_conv", "num_classes": 10, "in_channels": 1,
                        "kwargs": {"widths": [4, 8, 8, 8, 16], "hidden": 16}},
              "ocr": {"alphabet": "0123456789"}}
    model = task.build_model(config)
    hw = resolve("cpu", "off", False)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    cfg = type("Cfg", (), {"batch_size": 8})()
    losses = []
    for step in range(40):
        model.train()
        for batch in task.batches(lines, config, cfg, hw, train=True, seed=step):
            loss, tally = task.loss(model, batch, cfg)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert tally.n == 8
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    ev = task.evaluate(model, lines, config, hw)
    assert ev.n == 8 and ev.metrics["char_accuracy"] == pytest.approx(1 - ev.metrics["cer"])
    assert ev.to_dict()["errors"] == round(ev.metrics["cer"] * ev.chars)


# -- end to end through the CLI --------------------------------------------------------------


def convnet(*args, env=None):
    return subprocess.run([sys.executable, "-m", "convnet.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def ocr_run(tmp_path_factory, shared_datasets):
    import os

    tmp = tmp_path_factory.mktemp("ocr")
    env = {**os.environ, "CONVNET_DATA": str(tmp / "cache")}
    (tmp / "small.yaml").write_text("model_kwargs:\n  widths: [8, 16, 16, 16, 32]\n  hidden: 32\n")
    r = convnet("ocr", "train", "--data", "digit-lines", "--data-dir", shared_datasets / "mnist-10k",
                "--lines", 64, "--test-lines", 20, "--epochs", 1, "--model", "crnn_conv", "--config",
                tmp / "small.yaml", "--out", tmp / "run", "--no-progress", "--threads", 1, env=env)
    assert r.returncode == 0, r.stderr
    return tmp / "run", env, r.stdout


@pytest.mark.slow
def test_ocr_train_eval_read_end_to_end(ocr_run, shared_images):
    run, env, out = ocr_run
    assert "64 train / 20 test lines" in out and "test CER" in out
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "ocr" and config["ocr"]["alphabet"] == "0123456789"
    assert config["data"]["lines"] == 64 and config["train"]["optimizer"] == "adamw"
    r = convnet("ocr", "eval", run, "--json", env=env)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["n"] == 20 and 0 <= report["cer"] and 0 <= report["exact"] <= 1
    assert report["char_accuracy"] == pytest.approx(1 - report["cer"])
    assert report["errors"] == round(report["cer"] * report["chars"])
    # a line of the test set, and a page (split into its lines first)
    folder = next((env_path for env_path in (run.parent / "cache" / "digit-lines").iterdir()
                   if env_path.name.startswith("test-")))
    first = (folder / LABELS).read_text().splitlines()[0].split("\t")[0]
    r = convnet("ocr", "read", run, folder / first, shared_images / "page.png", "--json", env=env)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows[0]["input"].endswith(first) and len(rows) >= 6
    assert [row["input"].endswith(f"line {i}") for i, row in enumerate(rows[1:], 1)] == [True] * (len(rows) - 1)
    for row in rows:
        assert set(row["text"]) <= set("0123456789")
        assert row["top"][0]["class"] == row["text"] and 0 <= row["probability"] <= 1
    # the generic verbs work on the run too
    r = convnet("predict", run, folder / first, "--top", 2, env=env)
    assert r.returncode == 0 and r.stdout.startswith(str(folder / first)), r.stderr


@pytest.mark.slow
def test_ocr_cli_bad_input_is_one_line(ocr_run, tmp_path):
    run, env, _ = ocr_run
    (tmp_path / "empty").mkdir()
    for args, message in ((("ocr", "train", "--data", tmp_path / "empty", "--out", tmp_path / "r"), "empty folder"),
                          (("ocr", "eval", run, "--data", tmp_path / "empty"), "empty folder"),
                          (("ocr", "read", run, tmp_path / "nothing.png"), "no such file")):
        r = convnet(*args, env=env)
        assert r.returncode == 2, r.stderr
        assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((60, 200), 250, np.uint8)).save(blank)
    r = convnet("ocr", "read", run, blank, env=env)
    assert r.returncode == 2 and "no text lines" in r.stderr
    assert not (tmp_path / "r").exists()
