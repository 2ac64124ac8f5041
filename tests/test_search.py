"""Photo search: exact top-K against NumPy brute force, retrieval figures by hand, and the
embed/index/search verbs on a real (tiny) run, with their one-line errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from convnet.cli.main import main
from convnet.search.index import retrieval_figures, top_k


def _unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_exact_search_equals_numpy_brute_force(metric):
    rng = np.random.default_rng(1)
    g, q = _unit(rng, 1003, 24), _unit(rng, 77, 24)
    if metric == "l2":                  # not unit rows: the squared norms matter
        g, q = g * rng.uniform(0.5, 2, (len(g), 1)).astype(np.float32), q * 3
    # small blocks: the running top-K merges across many gallery and query blocks
    scores, rows = top_k(q, g, 7, metric=metric, q_block=10, g_block=100)
    q64, g64 = q.astype(np.float64), g.astype(np.float64)
    full = q64 @ g64.T if metric == "cosine" else -((q64[:, None, :] - g64[None]) ** 2).sum(-1)
    want = np.argsort(-full, axis=1, kind="stable")[:, :7]
    assert (rows == want).all()
    np.testing.assert_allclose(scores, np.take_along_axis(full, want, 1), rtol=1e-4, atol=1e-4)


def test_top_k_bad_sizes():
    from convnet.errors import DataError

    g = np.eye(3, dtype=np.float32)
    with pytest.raises(DataError, match="--top 4: the gallery has 3 items"):
        top_k(g, g, 4)
    with pytest.raises(DataError, match="empty"):
        top_k(g, g[:0], 1)


def test_retrieval_figures_by_hand():
    # query 0 (label 1): ranks hit at 1 and 3 of 10, 2 relevant in the gallery -> AP (1 + 2/3) / 2
    # query 1 (label 0): no hit at rank 1, hits at 2 -> AP (1/2) / min(10, 5)
    neighbours = np.array([[1, 0, 1, 0, 0, 0, 0, 0, 0, 0],
                           [1, 0, 1, 1, 1, 1, 1, 1, 1, 1]])
    f = retrieval_figures(neighbours, np.array([1, 0]), np.array([2, 5]))
    assert f["precision_at_1"] == 0.5
    assert f["precision_at_10"] == pytest.approx((2 / 10 + 1 / 10) / 2)
    assert f["map_at_10"] == pytest.approx(((1 + 2 / 3) / 2 + (1 / 2) / 5) / 2)


@pytest.fixture(scope="module")
def digit_index(digits_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("search") / "index"
    assert main(["index", str(digits_run), "--split", "test", "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def query_files(tmp_path_factory):
    from PIL import Image

    from convnet.data.sources import load_dataset

    root = tmp_path_factory.mktemp("queries")
    test = load_dataset("digits").test
    paths = []
    for i in range(6):
        p = root / f"q{i}.png"
        Image.fromarray(test.images[i, 0].numpy()).save(p)
        paths.append(p)
    (root / "bad.png").write_bytes(b"not a png at all")
    return root, paths, test.labels[:6].tolist()


def test_embed_writes_unit_rows_with_labels(digits_run, tmp_path):
    from convnet.search.embed import Embeddings

    out = tmp_path / "e.npz"
    assert main(["embed", str(digits_run), "--split", "test", "--out", str(out), "--no-progress"]) == 0
    e = Embeddings.load(out)
    assert e.vectors.dtype == np.float32 and len(e) == 1000
    np.testing.assert_allclose(np.linalg.norm(e.vectors, axis=1), 1, atol=1e-5)
    assert e.classes == [str(d) for d in range(10)] and set(e.labels.tolist()) == set(range(10))
    assert e.indices.tolist() == list(range(1000))


def test_search_matches_brute_force_and_survives_reload(digit_index, query_files, digits_run, capsys):
    from convnet.search import Embedder, Index

    _, paths, labels = query_files
    capsys.readouterr()
    assert main(["search", str(digit_index), *map(str, paths), "--top", "5", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    index = Index.load(digit_index)
    embedder = Embedder(digits_run)
    q = np.stack([embedder.features(embedder.classifier.to_uint8(p)[None])[0].numpy() for p in paths])
    full = q.astype(np.float64) @ index.gallery.vectors.astype(np.float64).T
    for row, res in zip(full, got):
        want = np.argsort(-row, kind="stable")[:5]
        assert [n["index"] for n in res["neighbours"]] == want.tolist()
        np.testing.assert_allclose([n["similarity"] for n in res["neighbours"]], row[want], atol=1e-4)
    # the queries are items 0..5 of the test split, which is the gallery: each finds itself first
    assert [r["neighbours"][0]["index"] for r in got] == list(range(6))
    assert [r["neighbours"][0]["label"] for r in got] == [str(x) for x in labels]


def test_sheet_is_drawn(digit_index, query_files, tmp_path):
    _, paths, _ = query_files
    sheet = tmp_path / "sheet.png"
    assert main(["search", str(digit_index), str(paths[0]), str(paths[1]), "--top", "3", "--sheet", str(sheet)]) == 0
    from PIL import Image

    assert Image.open(sheet).size[0] > 200


def test_eval_reports_ours_and_pixels(digit_index, capsys):
    capsys.readouterr()
    assert main(["search", str(digit_index), "--eval", "--data", "digits", "--split", "train", "--json",
                 "--no-progress"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["n"] == 3000 and r["gallery"] == 1000
    for key in ("precision_at_1", "precision_at_10", "map_at_10", "pixel_precision_at_1", "pixel_map_at_10"):
        assert 0 <= r[key] <= 1
    assert r["precision_at_1"] > 0.5 and r["pixel_precision_at_1"] > 0.5      # 10 classes: chance is 0.1


def _error(capsys, argv, warnings: int = 0) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 + warnings, err
    return err


def test_bad_inputs_are_one_line(digit_index, query_files, digits_run, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    root, paths, _ = query_files
    assert "not an image" in _error(capsys, ["search", str(digit_index), str(root / "bad.png")])
    assert "--top 5000: the gallery has 1000" in _error(capsys, ["search", str(digit_index), str(paths[0]),
                                                                "--top", "5000"])
    assert "not an index" in _error(capsys, ["search", str(tmp_path), str(paths[0])])
    other = tmp_path / "other-run"
    shutil.copytree(digits_run, other)
    for name in ("model.safetensors", "best.safetensors"):
        if (other / name).exists():
            w = load_file(other / name)
            w = {k: v + 0.01 if v.is_floating_point() else v for k, v in w.items()}
            save_file(w, other / name, metadata={"format": "pt"})
    assert "made by another run" in _error(capsys, ["search", str(digit_index), str(paths[0]), "--run", str(other)])
    empty = tmp_path / "empty"
    empty.mkdir()
    err = _error(capsys, ["index", str(digits_run), str(empty), "--out", str(tmp_path / "i2"), "--no-progress"])
    assert "0 images" in err and not (tmp_path / "i2").exists()
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(paths[0], one / "a.png")
    shutil.copy(root / "bad.png", one / "b.png")        # corrupt: reported and skipped
    err = _error(capsys, ["index", str(digits_run), str(one), "--out", str(tmp_path / "i3"), "--no-progress"], 1)
    assert "warning: skipped: " in err and "b.png" in err and "1 image;" in err
    assert "already holds an index" in _error(capsys, ["index", str(digits_run), "--out", str(digit_index)])


def test_mirror_index_embeds_queries_the_same_way(digits_run, query_files, tmp_path, capsys):
    from convnet.search import Embedder

    e = Embedder(digits_run, mirror=True)
    x = Embedder(digits_run).classifier.to_uint8(query_files[1][0])[None]
    np.testing.assert_allclose(e.features(x).numpy(), e.features(x.flip(-1)).numpy(), atol=1e-5)
    out = tmp_path / "mirror-index"
    assert main(["index", str(digits_run), "--split", "test", "--mirror", "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "index.json").read_text())["mirror"] is True
    capsys.readouterr()
    assert main(["search", str(out), str(query_files[1][0]), "--top", "1", "--json"]) == 0
    best = json.loads(capsys.readouterr().out)[0]["neighbours"][0]
    # the query is test item 0: embedded as the gallery was, it is its own neighbour at 1.0
    assert best["index"] == 0 and best["similarity"] == pytest.approx(1.0, abs=1e-4)
