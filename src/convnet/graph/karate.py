"""Zachary's karate club (1977): 34 members, 78 friendships, and the two clubs the members
joined when the club split (networkx's `karate_club_graph`, node attribute "club": "Mr. Hi" or
"Officer"). The classic semi-supervised test: label only the instructor (node 0) and the
administrator (node 33) and classify the other 32 members from the links alone. No features:
each member gets a one-hot identity feature."""

from __future__ import annotations

import torch

from convnet.errors import DataError
from convnet.graph import Graph, symmetric_edges

CLASSES = ["Mr. Hi", "Officer"]
LABELLED = (0, 33)            # the two leaders: one labelled node per club


def karate_club() -> Graph:
    try:
        import networkx as nx
    except ImportError:
        raise DataError("the karate club comes from networkx: pip install networkx") from None
    g = nx.karate_club_graph()
    n = g.number_of_nodes()
    labels = torch.tensor([CLASSES.index(g.nodes[i]["club"]) for i in range(n)])
    edges = torch.tensor(list(g.edges()), dtype=torch.int64).t()
    train = torch.zeros(n, dtype=torch.bool)
    train[list(LABELLED)] = True
    return Graph(name="karate", features=torch.eye(n), edges=symmetric_edges(edges, n), labels=labels,
                 classes=CLASSES, train=train, val=torch.zeros(n, dtype=torch.bool), test=~train,
                 source={"kind": "karate", "name": "karate"})
