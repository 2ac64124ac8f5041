"""Pictures of graph runs: the breadth-first sample around chosen nodes, the 2-D projection of
the hidden layer (an isometry for data that lie on a plane), and both figures drawn."""

from __future__ import annotations

import pytest
import torch

from convnet.graph import load_graph, symmetric_edges
from convnet.visualize.graph import plot_embedding, plot_graph, project_2d, sample_nodes


def path_edges(n: int) -> torch.Tensor:
    return symmetric_edges(torch.stack([torch.arange(n - 1), torch.arange(1, n)]), n)


def test_sample_grows_breadth_first_from_the_chosen_nodes():
    edges = path_edges(10)
    assert sample_nodes(edges, 10, [0], 3) == [0, 1, 2]
    assert sample_nodes(edges, 10, [5], 5) == [5, 4, 6, 3, 7]
    assert sorted(sample_nodes(edges, 10, [0, 9], 100)) == list(range(10))


def test_projection_keeps_distances_of_points_on_a_plane():
    g = torch.Generator().manual_seed(0)
    plane = torch.randn(30, 2, generator=g) * torch.tensor([5.0, 1.0])
    basis, _ = torch.linalg.qr(torch.randn(16, 2, generator=g))         # an orthonormal 2-D subspace
    hidden = plane @ basis.t() + 3.0                                     # [30, 16], shifted
    xy = project_2d(hidden)
    assert torch.allclose(torch.cdist(xy, xy), torch.cdist(plane, plane), atol=1e-3)


def test_graph_and_embedding_figures_mark_the_misclassified():
    g = load_graph("karate")
    probs = torch.zeros(34, 2)
    probs[torch.arange(34), g.labels] = 1.0
    probs[[5, 6]] = probs[[5, 6]].flip(1)                               # two members wrong
    fig = plot_graph(g, probs)
    assert "34 nodes; 2 shown misclassified" in fig.axes[0].get_title()
    fig = plot_graph(g, probs, around=[0], max_nodes=10)
    assert "10 of 34 nodes around 0" in fig.axes[0].get_title()
    fig = plot_embedding(g, torch.randn(34, 16), probs)
    assert "16 units" in fig.axes[0].get_title()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["Mr. Hi", "Officer", "misclassified"]
    from convnet.errors import DataError

    with pytest.raises(DataError, match="node index 40 is not in the graph"):
        plot_graph(g, probs, around=[40], max_nodes=10)
