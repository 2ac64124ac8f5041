"""Graphs for node classification: one in-memory form, and the readers that produce it.

    Graph.features  float32 [N, F]   node features (one-hot identity where a graph has none)
    Graph.edges     int64 [2, E]     each undirected link twice (u->v and v->u), no self-loops,
                                     no duplicates; the normalised adjacency adds the self-loops
    Graph.labels    int64 [N]        class index, -1 where a node's class is unknown
    Graph.train / .val / .test       bool [N] masks (disjoint; only labelled nodes)

Readers: `planetoid.read_planetoid` (the pickled Planetoid files, read by an allow-list
unpickler), `csvgraph.read_csv_graph` (a user's edges/features/labels CSV files) and
`karate.karate_club` (Zachary's club, from networkx). `load_graph(data, data_dir)` picks one
from `--data` / `--data-dir`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from convnet.errors import DataError

# torch warns on every process's first CSR tensor; the products used here are stable ones
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")

PLANETOID = ("cora", "citeseer", "pubmed")
NAMED = (*PLANETOID, "karate")


@dataclass
class Graph:
    name: str
    features: torch.Tensor            # float32 [N, F]
    edges: torch.Tensor               # int64 [2, E], symmetric, no self-loops
    labels: torch.Tensor              # int64 [N], -1 = unlabelled
    classes: list[str]
    train: torch.Tensor               # bool [N]
    val: torch.Tensor                 # bool [N]
    test: torch.Tensor                # bool [N]
    node_ids: list[str] | None = None  # the user's names of the nodes (None: "0".."N-1")
    source: dict = field(default_factory=dict)   # how to load it again (config.json "data")

    @property
    def num_nodes(self) -> int:
        return self.features.shape[0]

    @property
    def num_features(self) -> int:
        return self.features.shape[1]

    def ids(self) -> list[str]:
        return self.node_ids if self.node_ids is not None else [str(i) for i in range(self.num_nodes)]

    def check(self) -> "Graph":
        """Raise DataError unless the parts agree (reader bugs and odd files end here, not in
        a shape error deep in training)."""
        n = self.num_nodes
        if self.edges.dim() != 2 or self.edges.shape[0] != 2:
            raise DataError(f"{self.name}: edges must be [2, E], got {tuple(self.edges.shape)}")
        if self.edges.numel() and (self.edges.min() < 0 or self.edges.max() >= n):
            raise DataError(f"{self.name}: an edge names node {int(self.edges.max())}, but there are {n} nodes")
        if self.labels.shape != (n,):
            raise DataError(f"{self.name}: {len(self.labels)} labels for {n} nodes")
        if (self.labels >= len(self.classes)).any():
            raise DataError(f"{self.name}: label {int(self.labels.max())} is out of range for "
                            f"{len(self.classes)} classes")
        for split in ("train", "val", "test"):
            mask = getattr(self, split)
            if mask.shape != (n,) or mask.dtype != torch.bool:
                raise DataError(f"{self.name}: the {split} mask must be bool [{n}]")
            if (self.labels[mask] < 0).any():
                raise DataError(f"{self.name}: the {split} split holds unlabelled nodes")
        if (self.train & self.val).any() or (self.train & self.test).any() or (self.val & self.test).any():
            raise DataError(f"{self.name}: the train, val and test nodes overlap")
        if not self.train.any():
            raise DataError(f"{self.name}: no labelled training nodes (a GCN needs at least one)")
        return self


def symmetric_edges(pairs: torch.Tensor, n: int) -> torch.Tensor:
    """int64 [2, E] pairs in any direction, with repeats and self-loops -> each undirected link
    once per direction, sorted, without self-loops: [2, E']."""
    pairs = pairs[:, pairs[0] != pairs[1]]
    both = torch.cat([pairs, pairs.flip(0)], 1)
    key = torch.unique(both[0] * n + both[1])          # sorted: row-major order of the adjacency
    return torch.stack([key // n, key % n])


def load_graph(data: str, data_dir: str | None = None, *, seed: int = 0, val_fraction: float = 0.0) -> Graph:
    """`--data cora|citeseer|pubmed|karate` (or NAME with --data-dir holding ind.NAME.*), or a
    folder of Planetoid or CSV files -> Graph."""
    name = data.lower()
    if name in PLANETOID or (data_dir and (Path(data_dir) / f"ind.{data}.graph").is_file()):
        name = name if name in PLANETOID else data
        from convnet.graph.planetoid import planetoid_folder, read_planetoid

        return read_planetoid(planetoid_folder(name, data_dir), name).check()
    if name == "karate":
        from convnet.graph.karate import karate_club

        return karate_club().check()
    folder = Path(data_dir) if data_dir and not Path(data).exists() else Path(data)
    if not folder.is_dir():
        raise DataError(f"unknown graph data set {data!r}: not one of {', '.join(NAMED)} and no such folder")
    found = planetoid_name(folder)
    if found:
        from convnet.graph.planetoid import read_planetoid

        return read_planetoid(folder, found).check()
    from convnet.graph.csvgraph import read_csv_graph

    return read_csv_graph(folder, seed=seed, val_fraction=val_fraction).check()


def planetoid_name(folder: Path) -> str | None:
    """'cora' for a folder holding ind.cora.graph (any Planetoid name), else None."""
    names = sorted(p.name[len("ind."):-len(".graph")] for p in folder.glob("ind.*.graph")) if folder.is_dir() else []
    if len(names) > 1:
        raise DataError(f"{folder} holds several Planetoid graphs ({', '.join(names)}): "
                        f"pass --data {names[0]} --data-dir {folder}")
    return names[0] if names else None
