"""A user's graph as CSV files in one folder (comma-separated, UTF-8, optional header row):

    edges.csv      source,target            one undirected link a line (direction, repeats and
                                            self-loops are ignored)
    features.csv   id,f1,f2,...             optional; without it every node gets a one-hot
                                            identity feature (the node is its own feature)
    labels.csv     id,label[,split]         optional label per node; a node without a line or
                                            with an empty label is unlabelled. split (train,
                                            val or test) fixes the node's role; without the
                                            column the labelled nodes are split per class by seed

A first row is a header when it reads exactly as above (`source,target`, `id,...`,
`id,label[,split]`). Node ids are any strings. With features.csv the nodes are its rows; an
edge or label naming another node is reported (one line, first few ids) and skipped. Without
it the nodes are those named by the edges and labels, in order of first appearance."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import torch

from convnet.errors import DataError
from convnet.graph import Graph, symmetric_edges

EDGE_FILES = ("edges.csv",)
TEST_FRACTION = 0.2           # labelled nodes held out for the test split when no split column


def _rows(path: Path, header: tuple[str, ...]) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each non-empty row; a first row matching `header` is skipped."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [(i, [c.strip() for c in row]) for i, row in enumerate(csv.reader(f), 1) if row]
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except (OSError, csv.Error) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if rows and [c.lower() for c in rows[0][1][:len(header)]] == list(header):
        rows = rows[1:]
    return rows


def _report(what: str, path: Path, ids: list[str]) -> None:
    if ids:
        shown = ", ".join(repr(i) for i in ids[:5]) + (", ..." if len(ids) > 5 else "")
        print(f"warning: {path}: {len(ids)} {what} name unknown nodes ({shown}); skipped", file=sys.stderr)


def read_csv_graph(folder: Path, *, seed: int = 0, val_fraction: float = 0.0) -> Graph:
    folder = Path(folder)
    edges_path, features_path, labels_path = folder / "edges.csv", folder / "features.csv", folder / "labels.csv"
    if not edges_path.is_file():
        raise DataError(f"{folder}: no edges.csv (source,target a line) and no ind.NAME.* Planetoid files")
    index: dict[str, int] = {}
    features = None
    if features_path.is_file():
        features = _read_features(features_path, index)

    def node(name: str, path: Path, line: int) -> int | None:
        if not name:
            raise DataError(f"{path}:{line}: empty node id")
        if name not in index:
            if features is not None:
                return None                   # the nodes are fixed by features.csv
            index[name] = len(index)
        return index[name]

    pairs, unknown = [], []
    for line, row in _rows(edges_path, ("source", "target")):
        if len(row) != 2:
            raise DataError(f"{edges_path}:{line}: expected source,target, got {len(row)} fields")
        u, v = node(row[0], edges_path, line), node(row[1], edges_path, line)
        if u is None or v is None:
            unknown.append(row[0] if u is None else row[1])
            continue
        pairs.append((u, v))
    _report("edge(s)", edges_path, unknown)
    label_of, split_of = (_read_labels(labels_path, node) if labels_path.is_file() else ({}, {}))
    n = len(index)
    if n == 0:
        raise DataError(f"{folder}: the graph has no nodes")
    if features is None:
        features = torch.eye(n)               # [N, N]: each node its own feature
    classes = sorted(set(label_of.values()), key=_natural)
    if not classes:
        raise DataError(f"{folder}: no labelled nodes (labels.csv with id,label lines is needed to train)")
    labels = torch.full((n,), -1, dtype=torch.int64)
    for i, name in label_of.items():
        labels[i] = classes.index(name)
    masks = _split(labels, split_of, n, seed, val_fraction, folder)
    e = torch.tensor(pairs, dtype=torch.int64).view(-1, 2).t()
    ids = [None] * n
    for name, i in index.items():
        ids[i] = name
    return Graph(name=folder.name, features=features, edges=symmetric_edges(e, n), labels=labels,
                 classes=classes, train=masks[0], val=masks[1], test=masks[2], node_ids=ids,
                 source={"kind": "csv", "name": folder.name, "path": str(folder.resolve()), "seed": seed,
                         "val_fraction": val_fraction})


def _read_features(path: Path, index: dict[str, int]) -> torch.Tensor:
    rows = _rows(path, ("id",))
    if not rows:
        raise DataError(f"{path}: no rows (id,f1,f2,... a line)")
    width = len(rows[0][1])
    values = []
    for line, row in rows:
        if len(row) != width or width < 2:
            raise DataError(f"{path}:{line}: {len(row)} fields, the first row has {width} (id and >= 1 feature)")
        if row[0] in index:
            raise DataError(f"{path}:{line}: duplicate node id {row[0]!r}")
        if not row[0]:
            raise DataError(f"{path}:{line}: empty node id")
        try:
            values.append([float(c) for c in row[1:]])
        except ValueError:
            bad = next(c for c in row[1:] if not _is_float(c))
            raise DataError(f"{path}:{line}: feature {bad!r} is not a number") from None
        index[row[0]] = len(index)
    x = torch.tensor(values, dtype=torch.float32)
    if not torch.isfinite(x).all():
        raise DataError(f"{path}: features must be finite numbers (found inf or nan)")
    return x


def _read_labels(path: Path, node) -> tuple[dict[int, str], dict[int, str]]:
    label_of, split_of, seen, unknown = {}, {}, set(), []
    for line, row in _rows(path, ("id", "label")):
        if len(row) not in (2, 3):
            raise DataError(f"{path}:{line}: expected id,label[,split], got {len(row)} fields")
        if row[0] in seen:
            raise DataError(f"{path}:{line}: duplicate node id {row[0]!r}")
        seen.add(row[0])
        i = node(row[0], path, line)
        if i is None:
            unknown.append(row[0])
            continue
        if row[1]:
            label_of[i] = row[1]
        if len(row) == 3 and row[2]:
            if row[2] not in ("train", "val", "test"):
                raise DataError(f"{path}:{line}: split {row[2]!r} is not train, val or test")
            if not row[1]:
                raise DataError(f"{path}:{line}: node {row[0]!r} is in the {row[2]} split but has no label")
            split_of[i] = row[2]
    _report("label line(s)", path, unknown)
    return label_of, split_of


def _split(labels: torch.Tensor, split_of: dict[int, str], n: int, seed: int, val_fraction: float,
           folder: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """bool [N] train/val/test masks: the split column where given, else per class by seed
    (TEST_FRACTION to test, val_fraction to val, at least one node of each class to train)."""
    masks = {s: torch.zeros(n, dtype=torch.bool) for s in ("train", "val", "test")}
    if split_of:
        for i, s in split_of.items():
            masks[s][i] = True
        if not masks["train"].any():
            raise DataError(f"{folder}: the split column names no train nodes")
        return masks["train"], masks["val"], masks["test"]
    g = torch.Generator().manual_seed(seed)
    for c in range(int(labels.max()) + 1):
        nodes = (labels == c).nonzero().flatten()
        nodes = nodes[torch.randperm(len(nodes), generator=g)]
        n_test = min(round(TEST_FRACTION * len(nodes)), len(nodes) - 1)
        n_val = min(round(val_fraction * len(nodes)), len(nodes) - 1 - n_test)
        masks["test"][nodes[:n_test]] = True
        masks["val"][nodes[n_test:n_test + n_val]] = True
        masks["train"][nodes[n_test + n_val:]] = True
    return masks["train"], masks["val"], masks["test"]


def _natural(name: str):
    """Sort numbers as numbers ('2' before '10'), names alphabetically after them."""
    return (0, float(name), "") if _is_float(name) else (1, 0.0, name)


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
