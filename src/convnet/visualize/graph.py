"""Pictures of a trained graph run: the graph coloured by predicted class, and the hidden layer
mapped to 2-D.

- `plot_graph`: a spring layout (networkx) of the graph, or of a sample around chosen nodes for
  big graphs (breadth-first from them until `max_nodes`); fill = predicted class, a red ring =
  a labelled node the model gets wrong, a black edge = a training node.
- `plot_embedding`: the GCN's hidden layer relu(Â X W1) [N, 16] projected on its first two
  principal components (an SVD of the centred matrix: deterministic, no extra package);
  colour = the known class (grey: unlabelled), a red ring = misclassified.
`outputs(model, ds, hw)` gives both pictures what they draw: probabilities and hidden layer."""

from __future__ import annotations

import torch

from convnet.errors import DataError


def outputs(model, ds, hw) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities float [N, C], hidden layer float [N, H]) of every node, in eval mode."""
    x, adj, _ = ds.on(hw.device)
    model.eval()
    with torch.no_grad():
        hidden = model.embed(x, adj)
        logits = model.conv2(hidden, adj)
    return torch.softmax(logits.float(), 1).cpu(), hidden.float().cpu()


def sample_nodes(edges: torch.Tensor, n: int, around: list[int], max_nodes: int) -> list[int]:
    """Nodes reached breadth-first from `around` (in order), at most `max_nodes` of them."""
    neighbours = [[] for _ in range(n)]
    for u, v in edges.t().tolist():
        neighbours[u].append(v)
    seen, order, frontier = set(around), list(around), list(around)
    while frontier and len(order) < max_nodes:
        nxt = []
        for u in frontier:
            for v in neighbours[u]:
                if v not in seen and len(order) < max_nodes:
                    seen.add(v)
                    order.append(v)
                    nxt.append(v)
        frontier = nxt
    return order


def plot_graph(graph, probabilities: torch.Tensor, around: list[int] | None = None, max_nodes: int = 400,
               seed: int = 0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    n = graph.num_nodes
    if around is None:                  # the best-connected node: the densest part of the graph
        around = [int(torch.bincount(graph.edges[0], minlength=n).argmax())] if n > max_nodes else list(range(n))
    bad = [i for i in around if not 0 <= i < n]
    if bad:
        raise DataError(f"node index {bad[0]} is not in the graph ({n:,} nodes)")
    nodes = sample_nodes(graph.edges, n, around, max_nodes) if n > max_nodes else list(range(n))
    keep = set(nodes)
    g = nx.Graph()
    g.add_nodes_from(nodes)
    g.add_edges_from((u, v) for u, v in graph.edges.t().tolist() if u < v and u in keep and v in keep)
    pos = nx.spring_layout(g, seed=seed)
    pred = probabilities.argmax(1)
    k = len(graph.classes)
    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(9, 8))
    nx.draw_networkx_edges(g, pos, ax=ax, width=0.5, alpha=0.3)
    colours = [cmap(int(pred[i]) % cmap.N) for i in nodes]
    wrong = [i for i in nodes if graph.labels[i] >= 0 and graph.labels[i] != pred[i]]
    train = [i for i in nodes if graph.train[i]]
    size = 300 if len(nodes) <= 50 else 40
    nx.draw_networkx_nodes(g, pos, nodelist=nodes, node_color=colours, node_size=size, ax=ax)
    nx.draw_networkx_nodes(g, pos, nodelist=train, node_color="none", edgecolors="black", linewidths=2,
                           node_size=size, ax=ax)
    nx.draw_networkx_nodes(g, pos, nodelist=wrong, node_color="none", edgecolors="red", linewidths=2,
                           node_size=size * 2, ax=ax)
    if len(nodes) <= 50:
        nx.draw_networkx_labels(g, pos, {i: graph.ids()[i] for i in nodes}, font_size=7, ax=ax)
    handles = [plt.Line2D([], [], marker="o", ls="", color=cmap(c % cmap.N), label=graph.classes[c]) for c in range(k)]
    handles += [plt.Line2D([], [], marker="o", ls="", mfc="none", mec="red", mew=2, label="misclassified"),
                plt.Line2D([], [], marker="o", ls="", mfc="none", mec="black", mew=2, label="training node")]
    ax.legend(handles=handles, fontsize=7, loc="best")
    shown = f"{len(nodes):,} of {n:,} nodes around {', '.join(graph.ids()[i] for i in around[:5])}" \
        if len(nodes) < n else f"{n:,} nodes"
    ax.set_title(f"{graph.name}: predicted class ({shown}; {len(wrong)} shown misclassified)")
    ax.axis("off")
    return fig


def project_2d(hidden: torch.Tensor) -> torch.Tensor:
    """[N, H] -> [N, 2]: coordinates on the first two principal components."""
    centred = hidden.double() - hidden.double().mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    out = centred @ v[:2].t()
    if out.shape[1] < 2:                                    # a 1-unit hidden layer
        out = torch.cat([out, torch.zeros(len(out), 2 - out.shape[1], dtype=out.dtype)], 1)
    return out.float()


def plot_embedding(graph, hidden: torch.Tensor, probabilities: torch.Tensor):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xy = project_2d(hidden).numpy()
    labels, pred = graph.labels, probabilities.argmax(1)
    k = len(graph.classes)
    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(8, 7))
    unknown = (labels < 0).numpy()
    if unknown.any():
        ax.scatter(xy[unknown, 0], xy[unknown, 1], s=6, c="lightgrey", label="unlabelled")
    for c in range(k):
        m = (labels == c).numpy()
        ax.scatter(xy[m, 0], xy[m, 1], s=8, color=cmap(c % cmap.N), label=graph.classes[c])
    wrong = ((labels >= 0) & (labels != pred)).numpy()
    ax.scatter(xy[wrong, 0], xy[wrong, 1], s=30, facecolors="none", edgecolors="red", linewidths=0.8,
               label="misclassified")
    ax.legend(fontsize=7, markerscale=2)
    ax.set_title(f"{graph.name}: the hidden layer ({hidden.shape[1]} units) on its 2 principal components")
    return fig


def draw_run(run_dir, what: str, nodes: list[str] | None = None, max_nodes: int = 400, device: str = "cpu"):
    """`convnet show graph|embedding RUN_DIR`: (figure, default file name, one line to print)."""
    from convnet.errors import ConfigError
    from convnet.tasks import get_task
    from convnet.training.hardware import resolve
    from convnet.training.runs import RunDir

    run = RunDir.open(run_dir)
    if run.task != "graph":
        raise ConfigError(f"show {what} draws runs of the graph task; {run_dir} is a {run.task} run")
    task, hw = get_task("graph"), resolve(device, "off", False)
    ds = run.dataset(task)
    probabilities, hidden = outputs(run.build_model(task).to(hw.device), ds, hw)
    g = ds.graph
    if what == "embedding":
        return plot_embedding(g, hidden, probabilities), "embedding.png", \
            f"{g.num_nodes:,} nodes, hidden layer of {hidden.shape[1]} units"
    where = {name: i for i, name in enumerate(g.ids())}
    missing = [s for s in nodes or [] if s not in where]
    if missing:
        raise DataError(f"node {missing[0]!r} is not in the graph {g.name} ({g.num_nodes:,} nodes)")
    around = [where[s] for s in nodes] if nodes else None
    fig = plot_graph(g, probabilities, around, max_nodes)
    return fig, "graph.png", fig.axes[0].get_title()
