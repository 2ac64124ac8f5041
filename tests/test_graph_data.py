"""Graph data: the Planetoid reader (public split, CiteSeer's holes, and refusing pickles that
would run code), CSV graphs, the karate club, and the GCN's normalised adjacency."""

from __future__ import annotations

import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from convnet.errors import DataError
from convnet.graph import load_graph, symmetric_edges
from convnet.graph.adjacency import dense_normalized_adjacency, normalized_adjacency
from convnet.graph.planetoid import SafeUnpickler, read_planetoid, safe_load
from convnet.graph.sparse import SparseMatrix


@pytest.fixture(scope="module")
def cora_dir(shared_datasets) -> Path:
    return shared_datasets / "planetoid"


@pytest.fixture(scope="module")
def cora(cora_dir):
    return load_graph("cora", str(cora_dir))


# -- Planetoid -------------------------------------------------------------------------------

def test_cora_has_the_public_split_of_kipf_and_welling(cora, cora_dir):
    assert (cora.num_nodes, cora.num_features, len(cora.classes)) == (2708, 1433, 7)
    train = cora.train.nonzero().flatten()
    assert train.tolist() == list(range(140))
    assert torch.bincount(cora.labels[train], minlength=7).tolist() == [20] * 7     # 20 a class
    assert cora.val.nonzero().flatten().tolist() == list(range(140, 640))            # the next 500
    listed = {int(line) for line in (cora_dir / "ind.cora.test.index").read_text().split()}
    assert set(cora.test.nonzero().flatten().tolist()) == listed and len(listed) == 1000
    assert not (cora.train & cora.val).any() and not (cora.val & cora.test).any()
    assert (cora.labels >= 0).all()                                                  # Cora: all labelled
    assert set(cora.features.unique().tolist()) == {0.0, 1.0} and (cora.features.sum(1) > 0).all()


def test_cora_links_match_networkx_reading_the_same_lists(cora, cora_dir):
    """Oracle: networkx's undirected graph of the adjacency lists (self-loops dropped)."""
    import networkx as nx

    lists = safe_load(cora_dir / "ind.cora.graph")
    g = nx.from_dict_of_lists(lists)
    g.remove_edges_from(nx.selfloop_edges(g))
    ours = {tuple(sorted(e)) for e in cora.edges.t().tolist()}
    assert ours == {tuple(sorted(e)) for e in g.edges()} and len(ours) == g.number_of_edges() == 5278
    assert cora.edges.shape[1] == 2 * 5278                          # each link in both directions


def test_test_rows_land_at_the_nodes_test_index_names(cora, cora_dir):
    from convnet.graph.planetoid import _labels, _matrix

    tx = _matrix(safe_load(cora_dir / "ind.cora.tx"), cora_dir / "ind.cora.tx")
    ty = _labels(safe_load(cora_dir / "ind.cora.ty"), cora_dir / "ind.cora.ty")
    index = [int(line) for line in (cora_dir / "ind.cora.test.index").read_text().split()]
    assert torch.equal(cora.features[index], torch.from_numpy(tx))
    assert torch.equal(cora.labels[index], torch.from_numpy(ty))


def _write_planetoid(folder: Path, name: str, protocol: int, *, n_all=6, test_index=(7, 9, 6), nodes=10,
                     f=4, c=3, seed=0):
    """A small Planetoid set written the way the published files are (scipy CSR, numpy one-hot,
    a defaultdict of lists, a text index). Node 8 lies in the test range without a test row:
    CiteSeer's quirk."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    allx = (rng.random((n_all, f)) < 0.5).astype(np.float32)
    ally = np.eye(c, dtype=np.int64)[rng.integers(0, c, n_all)]
    tx = (rng.random((len(test_index), f)) < 0.5).astype(np.float32)
    ty = np.eye(c, dtype=np.int64)[rng.integers(0, c, len(test_index))]
    graph = collections.defaultdict(list)
    for u in range(7):
        graph[u].append(u + 1)
    graph[8] = []                                    # isolated, inside the test range
    graph[9].append(6)
    graph[3].append(3)                               # a self-loop (ignored)
    graph[0] += [1, 1]                               # a repeated link (counted once)
    parts = {"x": sp.csr_matrix(allx[:3]), "y": ally[:3], "tx": sp.csr_matrix(tx), "ty": ty,
             "allx": sp.csr_matrix(allx), "ally": ally, "graph": graph}
    folder.mkdir(parents=True, exist_ok=True)
    for ext, obj in parts.items():
        (folder / f"ind.{name}.{ext}").write_bytes(pickle.dumps(obj, protocol=protocol))
    (folder / f"ind.{name}.test.index").write_text("".join(f"{i}\n" for i in test_index))
    return allx, ally.argmax(1), tx, ty.argmax(1)


@pytest.mark.parametrize("protocol", [2, 5])
def test_a_planetoid_folder_with_citeseer_holes(tmp_path, protocol):
    allx, ally, tx, ty = _write_planetoid(tmp_path / "tiny", "tiny", protocol)
    g = load_graph(str(tmp_path / "tiny"))                       # found by its ind.*.graph file
    assert g.num_nodes == 10 and g.num_features == 4 and g.name == "tiny"
    assert g.train.nonzero().flatten().tolist() == [0, 1, 2]
    assert g.val.nonzero().flatten().tolist() == [3, 4, 5]       # up to 500, within allx
    assert g.test.nonzero().flatten().tolist() == [6, 7, 9]
    assert g.labels[8] == -1 and not g.features[8].any()           # the hole: no row, no label, no split
    assert torch.equal(g.features[[7, 9, 6]], torch.from_numpy(tx))
    assert g.labels[[7, 9, 6]].tolist() == ty.tolist() and g.labels[:6].tolist() == ally.tolist()
    pairs = {tuple(e) for e in g.edges.t().tolist()}
    assert (3, 3) not in pairs and (0, 1) in pairs and (1, 0) in pairs and g.edges.shape[1] == 2 * 8
    assert not any(8 in e for e in pairs)


def test_a_folder_of_several_planetoid_graphs_needs_a_name(tmp_path):
    _write_planetoid(tmp_path / "two", "one", 2)
    _write_planetoid(tmp_path / "two", "other", 2, seed=1)
    with pytest.raises(DataError, match="holds several Planetoid graphs \\(one, other\\): pass --data one"):
        load_graph(str(tmp_path / "two"))
    assert load_graph("other", str(tmp_path / "two")).name == "other"


def test_missing_planetoid_files_are_named(tmp_path, cora_dir):
    folder = tmp_path / "part"
    folder.mkdir()
    for ext in ("x", "y", "graph"):
        (folder / f"ind.cora.{ext}").write_bytes((cora_dir / f"ind.cora.{ext}").read_bytes())
    with pytest.raises(DataError, match=r"missing Planetoid file\(s\) ind\.cora\.tx, ind\.cora\.ty, "
                                        r"ind\.cora\.allx, ind\.cora\.ally, ind\.cora\.test\.index"):
        load_graph("cora", str(folder))


class RunsCode:
    """Pickles as a call of os.system: what a crafted 'Planetoid file' would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class Evaluates:
    def __reduce__(self):
        return eval, ("__import__('os').system('exit 3')",)


@pytest.mark.parametrize("ext", ["x", "y", "graph"])
def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path, ext, capsys):
    allx, *_ = _write_planetoid(tmp_path / "evil", "evil", 2)
    marker = tmp_path / "ran"
    payload = {"x": RunsCode(marker),                                      # the whole file
               "y": [np.zeros((3, 3)), RunsCode(marker)],                  # hidden inside a list
               "graph": collections.defaultdict(list, {0: [1], 1: [RunsCode(marker)]})}[ext]
    (tmp_path / "evil" / f"ind.evil.{ext}").write_bytes(pickle.dumps(payload, protocol=2))
    assert pickle.loads(pickle.dumps(RunsCode(tmp_path / "control"))) == 0   # the payload works...
    assert (tmp_path / "control").exists()
    with pytest.raises(DataError) as e:
        load_graph(str(tmp_path / "evil"))
    assert not marker.exists()                                              # ...but here it never ran
    message = str(e.value)
    assert "\n" not in message and f"ind.evil.{ext}" in message
    assert f"refusing {os.system.__module__}.system" in message          # posix.system on Linux


def test_other_callables_and_lookalikes_are_refused(tmp_path):
    import subprocess

    for i, obj in enumerate([Evaluates(), subprocess.Popen, collections.OrderedDict,
                             np.load, torch.load]):
        path = tmp_path / f"ind.bad{i}.x"
        path.write_bytes(pickle.dumps(obj, protocol=2))
        with pytest.raises(DataError, match="refusing "):
            safe_load(path)


def test_unexpected_contents_are_one_line_errors(tmp_path):
    _write_planetoid(tmp_path / "odd", "odd", 2)
    cases = {"x": ([1, 2, 3], "expected a feature matrix, got list"),
             "y": (np.array([["a", "b"]], dtype=object), "should be a numeric 2-D array, got object"),
             "graph": ([[0, 1]], "expected a dict of adjacency lists")}
    for ext, (obj, fragment) in cases.items():
        good = (tmp_path / "odd" / f"ind.odd.{ext}").read_bytes()
        (tmp_path / "odd" / f"ind.odd.{ext}").write_bytes(pickle.dumps(obj, protocol=2))
        with pytest.raises(DataError, match=fragment):
            read_planetoid(tmp_path / "odd", "odd")
        (tmp_path / "odd" / f"ind.odd.{ext}").write_bytes(good)
    (tmp_path / "odd" / "ind.odd.tx").write_bytes(b"\x80\x02not a pickle")
    with pytest.raises(DataError, match="ind.odd.tx: not a Planetoid file"):
        read_planetoid(tmp_path / "odd", "odd")


def test_the_unpickler_admits_only_the_listed_names():
    u = SafeUnpickler(__import__("io").BytesIO(b""))
    for module, name in [("os", "system"), ("builtins", "eval"), ("numpy", "load"),
                         ("scipy.sparse._csr", "csr_matrix.__init__"), ("copyreg", "_reconstructor")]:
        with pytest.raises(pickle.UnpicklingError):
            u.find_class(module, name)


def test_download_without_network_is_one_line(monkeypatch):
    from convnet.errors import NetworkError

    with pytest.raises(NetworkError, match="pass --data-dir with the ind.citeseer.. files") as e:
        load_graph("citeseer")                      # conftest: an empty cache, a closed port
    assert "\n" not in str(e.value)


# -- CSV -------------------------------------------------------------------------------------

def _write(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.csv").write_text(text)
    return folder


def test_csv_graph_with_identity_features_and_a_split_column(tmp_path):
    folder = _write(tmp_path / "g", edges="source,target\nann,bob\nbob,cid\ncid,ann\ncid,cid\nbob,ann\ndan,cid\n",
                    labels="id,label,split\nann,red,train\nbob,blue,train\ncid,red,test\ndan,blue,val\neve,,\n")
    g = load_graph(str(folder))
    assert g.ids() == ["ann", "bob", "cid", "dan", "eve"] and g.classes == ["blue", "red"]
    assert torch.equal(g.features, torch.eye(5))                      # no features.csv: one-hot identity
    assert g.labels.tolist() == [1, 0, 1, 0, -1]
    assert (g.train.tolist(), g.val.tolist(), g.test.tolist()) == (
        [True, True, False, False, False], [False, False, False, True, False], [False, False, True, False, False])
    assert sorted(map(tuple, g.edges.t().tolist())) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (2, 3), (3, 2)]


def test_csv_edges_naming_unknown_nodes_are_reported_and_skipped(tmp_path, capsys):
    folder = _write(tmp_path / "g", features="id,a,b\n1,0.5,1\n2,1,0\n3,0,0\n",
                    edges="1,2\n2,9\n3,1\n7,8\n", labels="id,label\n1,x\n2,y\n3,x\n4,y\n")
    g = load_graph(str(folder))
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "edges.csv: 2 edge(s) name unknown nodes ('9', '7'); skipped" in err[0]
    assert "labels.csv: 1 label line(s) name unknown nodes ('4')" in err[1]
    assert g.num_nodes == 3 and g.features[0].tolist() == [0.5, 1.0] and g.edges.shape[1] == 4
    assert g.train.sum() + g.val.sum() + g.test.sum() == 3          # every labelled node has a role
    for c in range(2):                                              # each class keeps a training node
        assert (g.labels[g.train] == c).any()


@pytest.mark.parametrize("files,fragment", [
    ({"edges": "a,b\n", "features": "id,f\na,1\na,2\n"}, "features.csv:3: duplicate node id 'a'"),
    ({"edges": "a,b\n", "labels": "id,label\na,x\na,y\n"}, "labels.csv:3: duplicate node id 'a'"),
    ({"edges": "a,b\n"}, "no labelled nodes"),
    ({"edges": "a,b\n", "labels": "a,\nb,\n"}, "no labelled nodes"),
    ({"edges": "a,b,c\n", "labels": "a,x\n"}, "edges.csv:1: expected source,target, got 3 fields"),
    ({"edges": "a,b\n", "features": "id,f\na,1\nb,high\n"}, "features.csv:3: feature 'high' is not a number"),
    ({"edges": "a,b\n", "labels": "a,x,maybe\n"}, "split 'maybe' is not train, val or test"),
    ({"labels": "a,x\n"}, "no edges.csv"),
])
def test_bad_csv_graphs_are_one_line_errors(tmp_path, files, fragment):
    folder = _write(tmp_path / "g", **files)
    with pytest.raises(DataError) as e:
        load_graph(str(folder))
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_unknown_graph_name_is_one_line():
    with pytest.raises(DataError, match="unknown graph data set 'corra'"):
        load_graph("corra")


# -- karate ----------------------------------------------------------------------------------

def test_karate_club_from_networkx():
    import networkx as nx

    g = load_graph("karate")
    nxg = nx.karate_club_graph()
    assert g.num_nodes == 34 and g.edges.shape[1] == 2 * 78
    assert [g.classes[k] for k in g.labels.tolist()] == [nxg.nodes[i]["club"] for i in range(34)]
    assert g.train.nonzero().flatten().tolist() == [0, 33] and g.labels[0] != g.labels[33]
    assert g.test.sum() == 32 and not g.val.any()


# -- the normalised adjacency ----------------------------------------------------------------

def random_edges(n: int, p: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    upper = torch.triu(torch.rand(n, n, generator=g) < p, 1)
    return symmetric_edges(upper.nonzero().t(), n)


@pytest.mark.parametrize("n,p,seed", [(1, 0.0, 0), (7, 0.0, 1), (12, 0.3, 2), (40, 0.1, 3)])
def test_sparse_adjacency_equals_the_dense_formula(n, p, seed):
    edges = random_edges(n, p, seed)
    dense = dense_normalized_adjacency(edges, n)
    for layout in (torch.sparse_csr, torch.sparse_coo):
        assert torch.allclose(normalized_adjacency(edges, n, layout).to_dense(), dense, atol=1e-6)
    # entry by entry, from the degrees: 1/sqrt((d_i+1)(d_j+1)) on links, 1/(d_i+1) on the diagonal
    degree = torch.bincount(edges[0], minlength=n).double()
    for i in range(n):
        assert dense[i, i].item() == pytest.approx(1 / (degree[i] + 1).item(), rel=1e-6)
    for i, j in edges.t().tolist():
        assert dense[i, j].item() == pytest.approx(((degree[i] + 1) * (degree[j] + 1)).rsqrt().item(), rel=1e-6)
    if n > 1:      # the renormalisation trick: eigenvalues in (-1, 1], the largest exactly 1
        eig = torch.linalg.eigvalsh(dense.double())
        assert eig.max().item() == pytest.approx(1.0, abs=1e-6) and eig.min() > -1


def test_cora_adjacency_rows_are_weighted_means(cora):
    """Â 1 is not 1 (Â is symmetric, not row-stochastic), but D^-1/2 Â D^1/2 = D^-1 (A + I) is."""
    n = cora.num_nodes
    a = normalized_adjacency(cora.edges, n, torch.sparse_coo)
    d = (torch.bincount(cora.edges[0], minlength=n) + 1).float()
    rows = torch.sparse.mm(a, d.sqrt()[:, None]).flatten() * d.rsqrt()
    assert torch.allclose(rows, torch.ones(n), atol=1e-5)
    assert a._nnz() == cora.edges.shape[1] + n


def test_symmetric_edges_drop_loops_and_repeats():
    pairs = torch.tensor([[0, 1, 1, 2, 2], [1, 0, 1, 0, 0]])
    assert symmetric_edges(pairs, 3).tolist() == [[0, 0, 1, 2], [1, 2, 0, 0]]


# -- the sparse product ----------------------------------------------------------------------

@pytest.mark.parametrize("shape,density", [((7, 5), 0.4), ((30, 12), 0.1), ((4, 9), 0.0)])
def test_sparse_matrix_products_and_gradients_match_dense(shape, density):
    from convnet.graph.sparse import _Product

    g = torch.Generator().manual_seed(shape[0])
    d = torch.randn(*shape, generator=g) * (torch.rand(*shape, generator=g) < density)
    s = SparseMatrix.from_tensor(d)
    assert torch.equal(s.dense(), d) and s.nnz == int((d != 0).sum())
    rhs = torch.randn(shape[1], 3, generator=g, requires_grad=True)
    (s @ rhs).pow(2).sum().backward()
    rhs2 = rhs.detach().clone().requires_grad_()
    (d @ rhs2).pow(2).sum().backward()
    assert torch.allclose(rhs.grad, rhs2.grad, atol=1e-5)
    if s.nnz:   # float64 finite differences, through the values and the dense operand
        v = s.values.double().requires_grad_()
        x = torch.randn(shape[1], 2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda vv, xx: _Product.apply(vv, xx, s.with_values(vv)), (v, x),
                                        fast_mode=True)
