"""Node classification on one graph with a GCN (Kipf & Welling 2017): the graph task.

The whole graph is one batch: every step propagates over all nodes and the loss counts the
labelled training nodes only (the train mask), so an epoch is one optimiser step and
`batches(train)` yields a single batch. val/test are masks over the same graph; evaluate runs
the full graph once and scores the masked nodes.

    batch = ((X, Â), (labels, mask))
    X       float32 [N, F], features row-normalised as in the paper (or standardised where a
            user's features are negative), a graph.sparse.SparseMatrix where mostly zeros
    Â       SparseMatrix [N, N], D^-1/2 (A + I) D^-1/2 (graph/adjacency.py)
    labels  int64 [N] (-1 unknown), mask bool [N]

Data: --data cora|citeseer|pubmed (Planetoid files in --data-dir, else downloaded), karate
(networkx), or a folder with ind.NAME.graph or edges.csv (graph/csvgraph.py). Heavy imports
stay inside the methods: the registry imports this module to call `claims`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from convnet.tasks.base import Tally, Task

NAMED = ("cora", "citeseer", "pubmed", "karate")
SPARSE_BELOW = 0.25           # features stored sparse when fewer than this share are non-zero


@dataclass
class NodeSplit:
    """One split of a graph: the nodes of `mask` (len() = how many)."""

    data: "GraphData"
    mask: object              # bool tensor [N]
    n: int

    def __len__(self) -> int:
        return self.n


class GraphData:
    """The Dataset of the graph task: the graph, its model inputs, and train/val/test splits
    (None where a split has no nodes, e.g. the karate club's val)."""

    def __init__(self, graph, normalize: str):
        import torch

        from convnet.graph.adjacency import normalized_adjacency
        from convnet.graph.sparse import SparseMatrix

        self.graph, self.normalize = graph, normalize
        self.name, self.classes, self.source = graph.name, graph.classes, graph.source
        x = prepare_features(graph.features, normalize)
        density = (x != 0).float().mean().item()
        self.features = SparseMatrix.from_tensor(x) if density < SPARSE_BELOW else x
        self.adjacency = SparseMatrix.from_tensor(normalized_adjacency(graph.edges, graph.num_nodes, torch.sparse_coo))
        for split in ("train", "val", "test"):
            mask = getattr(graph, split)
            n = int(mask.sum())
            setattr(self, split, NodeSplit(self, mask, n) if n else None)
        self._on = {}

    def split(self, name: str) -> NodeSplit:
        from convnet.errors import DataError

        part = getattr(self, name, None) if name in ("train", "val", "test") else None
        if part is None:
            raise DataError(f"graph {self.name!r} has no {name} nodes")
        return part

    def on(self, device):
        """(X, Â, labels) on `device`, moved once."""
        key = str(device)
        if key not in self._on:
            self._on[key] = (self.features.to(device), self.adjacency.to(device), self.graph.labels.to(device))
        return self._on[key]

    def describe(self) -> dict:
        g = self.graph
        return {"nodes": g.num_nodes, "features": g.num_features, "links": g.edges.shape[1] // 2,
                "normalize": self.normalize}


def prepare_features(x, normalize: str):
    """rows: each row divided by its sum (the paper's preprocessing of 0/1 word vectors; an
    all-zero row stays zero); standardize: each column to mean 0, std 1 (features with signs)."""
    import torch

    if normalize == "rows":
        return x / x.sum(1, keepdim=True).clamp(min=torch.finfo(x.dtype).tiny)
    return (x - x.mean(0)) / x.std(0, unbiased=False).clamp(min=1e-12)


class GraphNodeClassification(Task):
    name = "graph"
    help = "classify the nodes of a graph (GCN): cora, citeseer, pubmed, karate, Planetoid or CSV folders"
    metric = "accuracy"
    item = "nodes"
    default_model = "gcn"

    @classmethod
    def claims(cls, data: str, data_dir: str | None) -> bool:
        if data.lower() in NAMED:
            return True
        path = Path(data_dir) if data_dir and not Path(data).exists() else Path(data)
        return path.is_dir() and ((path / "edges.csv").is_file() or any(path.glob("ind.*.graph")))

    # -- data -------------------------------------------------------------------------------
    def load_data(self, cfg, saved: dict | None = None) -> GraphData:
        from convnet.errors import DataError
        from convnet.graph import load_graph

        if saved is None or (cfg is not None and cfg.data != saved["train"]["data"]):
            # a new run, or `eval --data OTHER`: the graph named on the command line
            graph = load_graph(cfg.data, cfg.data_dir, seed=cfg.seed, val_fraction=cfg.val_fraction)
            normalize = "rows" if bool((graph.features >= 0).all()) else "standardize"
            if saved is not None and graph.num_features != saved["model"]["in_channels"]:
                raise DataError(f"graph {graph.name!r} has {graph.num_features:,} features a node; the run "
                                f"was trained on {saved['model']['in_channels']:,}")
            return GraphData(graph, saved.get("graph", {}).get("normalize", normalize) if saved else normalize)
        src, then = saved["data"], saved.get("graph", {})
        graph = load_graph(src["name"] if src["kind"] != "csv" else src["path"],
                           src.get("path") if src["kind"] == "planetoid" else None,
                           seed=src.get("seed", 0), val_fraction=src.get("val_fraction", 0.0))
        ds = GraphData(graph, then.get("normalize", "rows"))
        now = ds.describe()
        changed = [f"{k} {now[k]:,} now, {then[k]:,} then" for k in ("nodes", "features", "links")
                   if k in then and now[k] != then[k]]
        if changed:
            raise DataError(f"the graph {src.get('path') or src['name']} changed since training: {'; '.join(changed)}")
        return ds

    def describe_run(self, cfg, ds: GraphData) -> dict:
        return {"model": {"name": cfg.model, "num_classes": len(ds.classes), "in_channels": ds.graph.num_features,
                          **({"kwargs": cfg.model_kwargs} if cfg.model_kwargs else {})},
                "classes": ds.classes, "data": ds.source, "graph": ds.describe()}

    def build_model(self, config: dict):
        from convnet.errors import ConfigError

        model = super().build_model(config)
        if not hasattr(model, "param_groups") or not hasattr(model, "embed"):
            raise ConfigError(f"model {config['model']['name']!r} does not take a graph; the graph task "
                              f"trains {self.default_model} (--model {self.default_model})")
        return model

    def summary_line(self, cfg, ds: GraphData, config: dict) -> str:
        d = ds.describe()
        return (f"{d['nodes']:,} nodes, {d['links']:,} links, {d['features']:,} features; "
                + super().summary_line(cfg, ds, config))

    # -- steps ------------------------------------------------------------------------------
    def batches(self, split: NodeSplit, config: dict, cfg, hw, *, train: bool, seed: int) -> list:
        """One batch: the whole graph and the mask of `split` (full-batch training)."""
        x, adj, labels = split.data.on(hw.device)
        return [((x, adj), (labels, split.mask.to(hw.device)))]

    def loss(self, model, batch, cfg):
        import torch.nn.functional as F

        (x, adj), (labels, mask) = batch
        logits = model(x, adj)[mask].float()                  # [n, C]: the split's nodes only
        y = labels[mask]
        loss = F.cross_entropy(logits, y, label_smoothing=getattr(cfg, "label_smoothing", 0.0))
        return loss, Tally(n=len(y), correct=(logits.argmax(1) == y).sum())

    # -- measuring --------------------------------------------------------------------------
    def evaluate(self, model, split: NodeSplit, config: dict, hw, *, final: bool = False):
        """The full graph once, scored on the nodes of `split` (tasks/metrics.py Evaluation;
        final=True keeps the split's probabilities, in node order, for the plots)."""
        import torch

        from convnet.tasks.metrics import Tally as Scores

        x, adj, labels = split.data.on(hw.device)
        mask = split.mask.to(hw.device)
        model.eval()
        with torch.no_grad(), hw.autocast():
            logits = model(x, adj)[mask]
        scores = Scores(len(config["classes"]), keep_probabilities=final)
        scores.add(logits, labels[mask])
        return scores.result(len(split))

    # -- using a trained run ----------------------------------------------------------------
    def predict(self, model, config: dict, hw, inputs: list[str], top: int = 3) -> list[dict]:
        """`predict RUN_DIR --nodes ID...`: class probabilities of each named node (every node
        when none is named), with its known label and split where it has them."""
        import torch

        from convnet.errors import DataError

        ds = self.load_data(None, saved=config)
        g = ds.graph
        ids = g.ids()
        where = {name: i for i, name in enumerate(ids)}
        missing = [s for s in inputs if s not in where]
        if missing:
            raise DataError(f"node {missing[0]!r} is not in the graph {g.name} "
                            f"({g.num_nodes:,} nodes: {ids[0]!r} .. {ids[-1]!r})")
        nodes = [where[s] for s in inputs] if inputs else list(range(g.num_nodes))
        x, adj, _ = ds.on(hw.device)
        model.eval()
        with torch.no_grad(), hw.autocast():
            p = torch.softmax(model(x, adj).float(), 1).cpu()
        classes, top = config["classes"], max(1, min(top, len(config["classes"])))
        out = []
        for i in nodes:
            values, idx = p[i].topk(top)
            label = int(g.labels[i])
            split = next((s for s in ("train", "val", "test") if bool(getattr(g, s)[i])), None)
            out.append({"input": ids[i], "top": [{"class": classes[j], "probability": float(v)}
                                                 for v, j in zip(values, idx.tolist())],
                        "label": classes[label] if label >= 0 else None, "split": split})
        return out
