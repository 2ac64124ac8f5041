"""The Planetoid citation graphs (Yang, Cohen, Salakhutdinov 2016) with Kipf & Welling's split.

Eight files `ind.NAME.EXT` in one folder (NAME: cora, citeseer, pubmed, or any other):
    x, y        features (scipy CSR [n_train, F]) and one-hot labels (numpy [n_train, C]) of the
                training nodes, which are graph nodes 0 .. n_train-1
    allx, ally  the same for every node with a known position that is not a test node
                (0 .. len(allx)-1; x's nodes first)
    tx, ty      the same for the test nodes, in the order of test.index
    graph       {node: [neighbour, ...]} (a collections.defaultdict of lists)
    test.index  text, one graph index a line: where each row of tx/ty sits in the graph
The public split: train = the len(y) first nodes (20 a class), val = the next 500, test = the
nodes of test.index. CiteSeer's quirk: the graph has isolated nodes inside the test.index
range that have no test row; they get zero features, no label, and belong to no split.

All but test.index are Python 2 pickles, and a pickle is a program: `pickle.load` calls any
function the file names (os.system included). SafeUnpickler admits only numpy's array and dtype
rebuilders, codecs.encode (bytes in protocol 2) and defaultdict/list for the graph, and maps
scipy's csr_matrix onto a plain record of its arrays (scipy itself is never imported or run);
any other name stops the load with one line before anything is called. What loads is then
checked field by field (numeric arrays only, indices inside the shape)."""

from __future__ import annotations

import codecs
import collections
import io
import pickle
from pathlib import Path

import numpy as np
import torch

from convnet.errors import DataError, NetworkError
from convnet.graph import Graph, symmetric_edges

EXTS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
VAL_NODES = 500                       # Kipf & Welling's validation set: the 500 nodes after train

# The classes as the Planetoid papers name them (the files only hold one-hot columns).
CLASSES = {
    "cora": ["Case_Based", "Genetic_Algorithms", "Neural_Networks", "Probabilistic_Methods",
             "Reinforcement_Learning", "Rule_Learning", "Theory"],
    "citeseer": ["Agents", "AI", "DB", "IR", "ML", "HCI"],
    "pubmed": ["Diabetes_Experimental", "Diabetes_Type_1", "Diabetes_Type_2"],
}

# kimiyoung/planetoid's files and their SHA-256 (Cora's agree with ../shared/datasets/planetoid;
# all 24 agree between two independent published lists)
SOURCE = ["https://raw.githubusercontent.com/kimiyoung/planetoid/master/data/",
          "https://github.com/kimiyoung/planetoid/raw/master/data/"]
SHA256 = {
    "cora": ["23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
             "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
             "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
             "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
             "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
             "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
             "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
             "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875"],
    "citeseer": ["d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6",
                 "8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924",
                 "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21",
                 "55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce",
                 "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668",
                 "f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95",
                 "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7",
                 "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4"],
    "pubmed": ["fbe9cb5c47200d1b7769a26e579be3b7130b556831f9d850e77c4c74f2599b33",
               "e6c807633307a07ed659249006536a147c7999c797f11a2560752990181b41b3",
               "4eb5f5d0f30f26497eb0ac6ac9719d09c67e284f1ed0385c93f3ef27a671da3d",
               "ee2e0d4819d9fbcc403689c3bf2e49face401b605932f093bc58ab6461130fdd",
               "508e538e2abdccdd54c4d3e9f49d638b4af7107d85845f66ddea5a5152658b7e",
               "0c37bbe3b5014ec365e9d393cf4791925e5ed94fb194305d74f064a8d7b50f0e",
               "5b89f0036ca22909471f1e6558eb42fa06e0c730a577bde5b058b40638f81dc9",
               "b101d421688bbaecbd82e8a18f1e282378d6830f3a37666f28ebc47f844341b5"],
}


# -- the allow-list unpickler ----------------------------------------------------------------

class CSRRecord:
    """Stands in for scipy.sparse.csr_matrix: pickle creates an empty one and hands it the
    matrix's attribute dict (data, indices, indptr, _shape), which `_matrix` checks."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("a csr_matrix whose state is not a dict")
        self.state = state


# numpy's own array rebuilders, however this numpy version names them: protocols 0-4 and 5
_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]

ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,     # how protocol 2 writes bytes under Python 3
    ("scipy.sparse.csr", "csr_matrix"): CSRRecord,
    ("scipy.sparse._csr", "csr_matrix"): CSRRecord,
    ("scipy.sparse._csr", "csr_array"): CSRRecord,
    ("collections", "defaultdict"): collections.defaultdict,
    ("__builtin__", "list"): list,             # Python 2 name of the graph's default factory
    ("builtins", "list"): list,
}


class SafeUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only the names in ALLOWED (every GLOBAL, STACK_GLOBAL and
    extension-code opcode goes through find_class, so nothing else can be called)."""

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing {module}.{name}") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing a persistent id")


def safe_load(path: Path):
    """The object pickled in `path`, rebuilt from the allow-list only; DataError otherwise."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        # Python 2 str objects hold numpy's raw bytes: latin1 maps them 1:1
        return SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as e:
        raise DataError(f"{path}: not a Planetoid file: {e} (only numpy arrays, scipy CSR "
                        "matrices and adjacency lists are read)") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError,
            UnicodeDecodeError, OverflowError) as e:
        raise DataError(f"{path}: not a Planetoid file ({type(e).__name__}: {e})") from None


# -- checking what loaded --------------------------------------------------------------------

def _numeric(a, what: str, path: Path, ndim: int) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf" or a.ndim != ndim:
        got = f"{a.dtype} array of {a.ndim} dimensions" if isinstance(a, np.ndarray) else type(a).__name__
        raise DataError(f"{path}: {what} should be a numeric {ndim}-D array, got {got}")
    return a


def _matrix(obj, path: Path) -> np.ndarray:
    """A CSR record (or a dense 2-D array) -> float32 [rows, cols], each part checked."""
    if isinstance(obj, np.ndarray):
        return _numeric(obj, "the feature matrix", path, 2).astype(np.float32)
    if not isinstance(obj, CSRRecord):
        raise DataError(f"{path}: expected a feature matrix, got {type(obj).__name__}")
    s = obj.state
    shape = s.get("_shape", s.get("shape"))
    if not (isinstance(shape, tuple) and len(shape) == 2 and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise DataError(f"{path}: the sparse matrix has no valid shape ({shape!r})")
    rows, cols = shape
    data = _numeric(s.get("data"), "the matrix values", path, 1)
    indices = _numeric(s.get("indices"), "the column indices", path, 1).astype(np.int64)
    indptr = _numeric(s.get("indptr"), "the row pointers", path, 1).astype(np.int64)
    counts = np.diff(indptr)
    if (len(indptr) != rows + 1 or indptr[0] != 0 or (counts < 0).any() or indptr[-1] != len(indices)
            or len(indices) != len(data) or (len(indices) and (indices.min() < 0 or indices.max() >= cols))):
        raise DataError(f"{path}: the sparse matrix's indices do not fit its {rows}x{cols} shape")
    dense = np.zeros((rows, cols), dtype=np.float32)
    dense[np.repeat(np.arange(rows), counts), indices] = data      # duplicates: the last one wins
    return dense


def _labels(obj, path: Path, classes: int | None = None) -> np.ndarray:
    """One-hot [n, C] -> int64 [n] class indices, -1 for all-zero rows."""
    a = _numeric(obj, "the labels", path, 2)
    if classes is not None and a.shape[1] != classes:
        raise DataError(f"{path}: {a.shape[1]} label columns, the other files have {classes}")
    if not np.isin(a, (0, 1)).all() or (a.sum(1) > 1).any():
        raise DataError(f"{path}: labels must be one-hot rows of 0 and 1")
    return np.where(a.sum(1) > 0, a.argmax(1), -1).astype(np.int64)


def _adjacency_lists(obj, path: Path) -> torch.Tensor:
    """{node: [neighbour, ...]} -> int64 [2, E] (as listed: directions, repeats, loops kept)."""
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict of adjacency lists, got {type(obj).__name__}")
    src, dst = [], []
    for node, neighbours in obj.items():
        if not isinstance(node, (int, np.integer)) or not isinstance(neighbours, list) \
                or not all(isinstance(v, (int, np.integer)) for v in neighbours):
            raise DataError(f"{path}: node {node!r}: adjacency lists must map whole numbers to lists of them")
        src += [int(node)] * len(neighbours)
        dst += [int(v) for v in neighbours]
        if not neighbours:                 # an isolated node still fixes the node count
            src.append(int(node)), dst.append(int(node))
    pairs = torch.tensor([src, dst], dtype=torch.int64).view(2, -1)
    if pairs.numel() and pairs.min() < 0:
        raise DataError(f"{path}: negative node index {int(pairs.min())}")
    return pairs


def _test_index(path: Path) -> np.ndarray:
    try:
        lines = [line.strip() for line in path.read_text(encoding="ascii").splitlines()]
        index = np.array([int(line) for line in lines if line], dtype=np.int64)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"{path}: expected one node number a line ({e})") from None
    if len(index) == 0 or index.min() < 0 or len(np.unique(index)) != len(index):
        raise DataError(f"{path}: test indices must be distinct whole numbers >= 0 (got {len(index)} lines)")
    return index


# -- reading the split -----------------------------------------------------------------------

def files(folder: Path, name: str) -> dict[str, Path]:
    paths = {ext: folder / f"ind.{name}.{ext}" for ext in EXTS}
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        raise DataError(f"{folder}: missing Planetoid file(s) {', '.join(missing)}")
    return paths


def read_planetoid(folder: Path, name: str) -> Graph:
    """The eight `ind.NAME.*` files of `folder` -> Graph with the public split."""
    folder = Path(folder)
    p = files(folder, name)
    x, tx, allx = (_matrix(safe_load(p[k]), p[k]) for k in ("x", "tx", "allx"))
    y = _labels(safe_load(p["y"]), p["y"])
    k = safe_load(p["ally"])
    classes = k.shape[1] if isinstance(k, np.ndarray) and k.ndim == 2 else None
    ally = _labels(k, p["ally"])
    ty = _labels(safe_load(p["ty"]), p["ty"], classes)
    pairs = _adjacency_lists(safe_load(p["graph"]), p["graph"])
    test_index = _test_index(p["test.index"])

    f = allx.shape[1]
    if x.shape[1] != f or tx.shape[1] != f:
        raise DataError(f"{folder}: feature widths differ (x {x.shape[1]}, tx {tx.shape[1]}, allx {f})")
    if len(x) != len(y) or len(tx) != len(ty) or len(allx) != len(ally) or len(tx) != len(test_index):
        raise DataError(f"{folder}: row counts differ (x {len(x)}/y {len(y)}, tx {len(tx)}/ty {len(ty)}/"
                        f"test.index {len(test_index)}, allx {len(allx)}/ally {len(ally)})")
    if len(y) > len(allx) or not (allx[:len(x)] == x).all():
        raise DataError(f"{folder}: x is not the first rows of allx")
    if test_index.min() < len(allx):
        raise DataError(f"{folder}: test node {int(test_index.min())} lies among the {len(allx)} allx nodes")

    # Nodes: allx's, then the test range; CiteSeer's range has holes (nodes with no test row)
    n = max(int(test_index.max()) + 1, int(pairs.max()) + 1 if pairs.numel() else 0)
    features = np.zeros((n, f), dtype=np.float32)
    labels = np.full(n, -1, dtype=np.int64)
    features[:len(allx)], labels[:len(allx)] = allx, ally
    features[test_index], labels[test_index] = tx, ty       # row i of tx is node test_index[i]

    train = torch.zeros(n, dtype=torch.bool)
    train[:len(y)] = True
    val = torch.zeros(n, dtype=torch.bool)
    val[len(y):min(len(y) + VAL_NODES, len(allx))] = True
    test = torch.zeros(n, dtype=torch.bool)
    test[torch.from_numpy(test_index)] = True
    labels_t = torch.from_numpy(labels)
    test &= labels_t >= 0            # a test row with an all-zero label (none in the published files)
    val &= labels_t >= 0
    if (labels_t[train] < 0).any():
        raise DataError(f"{p['y']}: a training node has no label")
    names = CLASSES.get(name.lower())
    width = classes or int(labels.max()) + 1
    if names is None or len(names) != width:
        names = [str(c) for c in range(width)]
    return Graph(name=name, features=torch.from_numpy(features), edges=symmetric_edges(pairs, n),
                 labels=labels_t, classes=names, train=train, val=val, test=test,
                 source={"kind": "planetoid", "name": name, "path": str(folder.resolve())})


# -- finding or fetching the files -----------------------------------------------------------

def planetoid_folder(name: str, data_dir: str | None) -> Path:
    """--data-dir (checked), else the cache, downloading from kimiyoung/planetoid what is missing."""
    if data_dir:
        folder = Path(data_dir)
        if not folder.is_dir():
            raise DataError(f"--data-dir {folder}: no such folder")
        files(folder, name)
        return folder
    from convnet.data.download import cache_dir, fetch, sha256_file

    folder = cache_dir() / "planetoid"
    for ext, sha in zip(EXTS, SHA256[name]):
        filename = f"ind.{name}.{ext}"
        if (folder / filename).is_file() and sha256_file(folder / filename) == sha:
            continue
        try:
            fetch(filename, folder, SOURCE, sha, timeout=30.0)
        except NetworkError as e:
            raise NetworkError(f"cannot download {filename} ({str(e).split('(', 1)[-1].rstrip(')')}); "
                               f"pass --data-dir with the ind.{name}.* files instead") from None
    return folder
