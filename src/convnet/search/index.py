"""An exact similarity index over a gallery of embeddings, and retrieval figures.

INDEX_DIR holds two files, written in this order (index.json last, so a half-written index
has no index.json and is refused):
    gallery.npz   the gallery's Embeddings (see search/embed.py)
    index.json    {"format": 1, "kind": "exact", "metric": "cosine", "n", "dim", "run",
                   "weights_sha256", "source", "mirror"}: the run whose weights made the vectors (queries
                   must be embedded by a run with the same weights hash) and how to load the
                   gallery's images again (a data set split, or the files' paths); queries
                   are embedded as the gallery was (mirror-averaged or not)

Search is one matrix product, chunked: a block of queries against a block of gallery rows at
a time, keeping a running top-K, so memory is O(q_block * g_block) whatever the gallery size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from convnet.errors import DataError
from convnet.search.embed import Embeddings

FORMAT = 1
Q_BLOCK = 1024
G_BLOCK = 16384                 # 1024 x 16384 float32 scores: 64 MB at a time


def top_k(queries, gallery, k: int, metric: str = "cosine", q_block: int = Q_BLOCK, g_block: int = G_BLOCK):
    """The k best gallery rows for each query: (scores float32 [Q, k], indices int64 [Q, k]),
    best first. queries [Q, D], gallery [N, D] (NumPy or torch). cosine: the dot product (rows
    are unit vectors); l2: the negated squared Euclidean distance, so larger is nearer too."""
    q = torch.as_tensor(np.ascontiguousarray(queries), dtype=torch.float32)
    g = torch.as_tensor(np.ascontiguousarray(gallery), dtype=torch.float32)
    if len(g) == 0:
        raise DataError("the gallery is empty")
    if not 1 <= k <= len(g):
        raise DataError(f"--top {k}: the gallery has {len(g)} item{'s' if len(g) != 1 else ''}")
    if q.shape[1] != g.shape[1]:
        raise DataError(f"queries have {q.shape[1]} features but the gallery {g.shape[1]}")
    g_sq = (g * g).sum(1) if metric == "l2" else None
    out_s = torch.empty((len(q), k), dtype=torch.float32)
    out_i = torch.empty((len(q), k), dtype=torch.int64)
    for qs in range(0, len(q), q_block):
        qb = q[qs:qs + q_block]
        best_s = torch.full((len(qb), 0), float("-inf"))
        best_i = torch.zeros((len(qb), 0), dtype=torch.int64)
        for gs in range(0, len(g), g_block):
            s = qb @ g[gs:gs + g_block].T                              # [q, g]
            if metric == "l2":                                         # -|q-g|^2 up to |q|^2
                s = 2 * s - g_sq[gs:gs + g_block]
            kk = min(k, s.shape[1])
            v, i = s.topk(kk, dim=1)
            best_s = torch.cat([best_s, v], 1)
            best_i = torch.cat([best_i, i + gs], 1)
            if best_s.shape[1] > k:
                best_s, pick = best_s.topk(k, dim=1)
                best_i = best_i.gather(1, pick)
        if metric == "l2":
            best_s = best_s - (qb * qb).sum(1, keepdim=True)
        out_s[qs:qs + len(qb)], out_i[qs:qs + len(qb)] = best_s, best_i
    return out_s.numpy(), out_i.numpy()


class Index:
    """The gallery's embeddings and what they came from."""

    def __init__(self, gallery: Embeddings, info: dict, path: Path | None = None):
        self.gallery, self.info, self.path = gallery, info, path

    @classmethod
    def build(cls, gallery: Embeddings) -> "Index":
        if len(gallery) == 0:
            raise DataError("the gallery is empty: no images to index")
        meta = gallery.meta
        info = {"format": FORMAT, "kind": "exact", "metric": "cosine", "n": len(gallery),
                "dim": int(gallery.vectors.shape[1]), "run": meta.get("run"),
                "weights_sha256": meta.get("weights_sha256"), "source": meta.get("source"),
                "mirror": bool(meta.get("mirror", False))}
        return cls(gallery, info)

    def save(self, out: str | Path) -> None:
        from convnet.fileio import atomic_write_json

        out = Path(out)
        if (out / "index.json").exists() or out.exists() and not out.is_dir():
            raise DataError(f"{out} already holds an index or is a file; give a new folder")
        out.mkdir(parents=True, exist_ok=True)
        self.gallery.save(out / "gallery.npz")
        atomic_write_json(out / "index.json", self.info)
        self.path = out

    @classmethod
    def load(cls, path: str | Path) -> "Index":
        path = Path(path)
        if not (path / "index.json").is_file():
            raise DataError(f"{path}: not an index (no index.json); make one with `convnet index`")
        try:
            info = json.loads((path / "index.json").read_text())
        except (OSError, ValueError) as e:
            raise DataError(f"{path}/index.json: unreadable ({e})") from None
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            raise DataError(f"{path}/index.json: not an index of format {FORMAT}")
        gallery = Embeddings.load(path / "gallery.npz")
        if len(gallery) != info.get("n") or gallery.meta.get("weights_sha256") != info.get("weights_sha256"):
            raise DataError(f"{path}: gallery.npz does not match index.json (rebuild the index)")
        return cls(gallery, info, path)

    def check_run(self, weights_sha256: str, run: str) -> None:
        if weights_sha256 != self.info["weights_sha256"]:
            raise DataError(f"{self.path}: the index was made by another run ({self.info.get('run')}, weights "
                            f"{self.info['weights_sha256'][:12]}), not {run} (weights {weights_sha256[:12]}); "
                            "queries must be embedded by the same weights")

    def search(self, vectors: np.ndarray, k: int = 5):
        """(scores [Q, k], gallery indices [Q, k]), most similar first."""
        return top_k(vectors, self.gallery.vectors, k)

    def label_names(self, rows) -> list[str | None]:
        g = self.gallery
        return [g.classes[g.labels[r]] if g.labels[r] >= 0 and g.classes else None for r in rows]

    def item_name(self, row: int) -> str:
        g = self.gallery
        return g.paths[row] or f"{(g.meta.get('source') or {}).get('split', 'item')}[{int(g.indices[row])}]"


def retrieval_figures(neighbour_labels: np.ndarray, query_labels: np.ndarray, relevant_counts: np.ndarray) -> dict:
    """precision@1, precision@10 and mAP@10 from the labels [Q, >=10] of each query's ranked
    neighbours, the queries' labels [Q] and the number of gallery items sharing each query's
    label [Q]. AP@10 = sum over ranks r <= 10 of precision@r at each hit, / min(10, relevant)
    (a query with no relevant item scores 0)."""
    k = min(10, neighbour_labels.shape[1])
    hit = neighbour_labels[:, :k] == query_labels[:, None]                    # [Q, k]
    precision_at_r = np.cumsum(hit, 1) / np.arange(1, k + 1)[None, :]
    denom = np.minimum(k, relevant_counts).astype(np.float64)
    ap = np.where(denom > 0, (precision_at_r * hit).sum(1) / np.maximum(denom, 1), 0.0)
    return {"precision_at_1": float(hit[:, 0].mean()), "precision_at_10": float(hit.mean()),
            "map_at_10": float(ap.mean())}
