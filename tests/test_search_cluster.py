"""k-means, purity and NMI (against scikit-learn where installed, and a hand example), and
`convnet cluster` on a real run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from convnet.cli.main import main
from convnet.search.cluster import kmeans, nmi, purity


def test_nmi_and_purity_by_hand():
    labels = np.array([0, 0, 1, 1])
    clusters = np.array([0, 0, 0, 1])
    # p(l, c): (0,0) 1/2, (1,0) 1/4, (1,1) 1/4; H(L) = ln 2, H(C) = H(3/4, 1/4)
    h_c = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    mi = 0.5 * math.log(0.5 / (0.5 * 0.75)) + 0.25 * math.log(0.25 / (0.5 * 0.75)) + 0.25 * math.log(0.25 / (0.5 * 0.25))
    assert nmi(labels, clusters) == pytest.approx(mi / ((math.log(2) + h_c) / 2))
    assert purity(labels, clusters) == 0.75
    assert nmi(labels, np.array([5, 5, 7, 7])) == pytest.approx(1.0)      # same partition, other names


def test_nmi_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 7, 500), rng.integers(0, 4, 500)
    b[:250] = a[:250] % 4                                                 # some agreement
    assert nmi(a, b) == pytest.approx(metrics.normalized_mutual_info_score(a, b), abs=1e-12)


def test_kmeans_finds_separated_blobs_and_is_seeded():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 5)) * 10
    truth = rng.integers(0, 4, 400)
    x = centres[truth] + rng.standard_normal((400, 5)) * 0.1
    assign, _, inertia = kmeans(x, 4, seed=3)
    assert purity(truth, assign) == 1.0 and nmi(truth, assign) == pytest.approx(1.0)
    again, _, inertia2 = kmeans(x, 4, seed=3)
    assert (again == assign).all() and inertia2 == inertia
    # the inertia is the sum of squared distances to the assigned centre (recomputed in NumPy)
    means = np.stack([x[assign == c].mean(0) for c in range(4)])
    assert inertia == pytest.approx(((x - means[assign]) ** 2).sum(), rel=1e-4)


def test_cluster_verb(digits_run, tmp_path, capsys):
    out = tmp_path / "c"
    capsys.readouterr()
    assert main(["cluster", str(digits_run), "--split", "test", "--k", "10", "--out", str(out), "--json",
                 "--no-progress"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["n"] == 1000 and sum(r["sizes"]) == 1000
    assert r["purity"] > 0.3 and 0 < r["nmi"] <= 1                        # chance purity is ~0.11
    saved = json.loads((out / "clusters.json").read_text())
    assert sorted(m for ms in saved["members"] for m in ms) == sorted(f"test[{i}]" for i in range(1000))
    assert (out / "map.png").is_file() and len(list(out.glob("cluster-*.png"))) == sum(s > 0 for s in r["sizes"])
    assert main(["cluster", str(digits_run), "--k", "5000", "--out", str(tmp_path / "d"), "--no-progress"]) == 2
    assert "--k 5000: there are 1000 items" in capsys.readouterr().err
