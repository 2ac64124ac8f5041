"""Graph convolutional network (Kipf & Welling 2017): classify the nodes of one graph.

One graph convolution is H' = relu(Â H W): H W mixes each node's features (what a 1x1
convolution does to a pixel's channels) and Â = D^-1/2 (A + I) D^-1/2 (graph/adjacency.py)
then averages every node with its neighbours, weighted by 1/sqrt(d_i d_j): the neighbourhood a
filter combines, where the neighbours are a node's links instead of a pixel's surroundings.
Two layers let each node see two hops:

    X [N, F] -> dropout -> Â X W1 [N, 16] -> relu -> dropout -> Â H W2 [N, C] (logits)

The paper's settings are the defaults: 16 hidden units, dropout 0.5 (on the input features
too), Glorot-uniform weights, Adam at lr 0.01, L2 weight decay 5e-4 on the first layer only
(`param_groups`), 200 full-batch epochs. 23,063 parameters on Cora (1,433 features, 7 classes).

forward(x, adj): X [N, F] dense or a graph.sparse.SparseMatrix, Â a SparseMatrix (or a torch
sparse tensor outside bf16 autocast); adj=None means a graph without links (Â = I, each
node on its own: the same two layers as a per-node MLP). A [N, F, 1, 1] input (one 1x1 'image'
a node, what the zoo's summary tools feed a model) is read as [N, F]."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from convnet.graph.sparse import SparseMatrix
from convnet.models.registry import register


class GraphConv(nn.Module):
    """H [N, in] -> Â H W + b [N, out]. W is applied first: Â (H W) equals (Â H) W, and the
    sparse product then runs on `out` columns instead of `in` (16 instead of 1,433 on Cora).
    Â and a sparse H are graph.sparse.SparseMatrix objects (`@` with a fast backward)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))   # [in, out]
        self.bias = nn.Parameter(torch.zeros(out_features))
        bound = math.sqrt(6.0 / (in_features + out_features))                 # Glorot & Bengio 2010
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, h, adj=None) -> torch.Tensor:
        support = h @ self.weight                  # H W: [N, out] (h dense, or sparse features)
        if adj is not None:
            support = adj @ support                # Â (H W): each row the degree-weighted mean of
                                                   # the node's and its neighbours' rows
        return support + self.bias


class GCN(nn.Module):
    def __init__(self, in_features: int, num_classes: int, hidden: int = 16, dropout: float = 0.5):
        super().__init__()
        self.drop_in = nn.Dropout(dropout)
        self.conv1 = GraphConv(in_features, hidden)
        self.act = nn.ReLU()
        self.drop_hidden = nn.Dropout(dropout)
        self.conv2 = GraphConv(hidden, num_classes)

    def embed(self, x, adj=None) -> torch.Tensor:
        """The hidden layer relu(Â X W1): [N, hidden] (what `show embedding` maps in 2-D)."""
        if isinstance(x, torch.Tensor) and x.dim() == 4:          # [N, F, 1, 1] -> [N, F]
            x = x.flatten(1)
        return self.act(self.conv1(self.dropout_input(x), adj))

    def dropout_input(self, x):
        """Dropout on the input features. Sparse features (bag-of-words rows, 1.3% filled on
        Cora) keep their zeros, so only the stored values are dropped and rescaled: the same
        as dense dropout, without drawing 3.9M random numbers a step for Cora's 49K non-zeros."""
        if isinstance(x, SparseMatrix):
            return x.with_values(self.drop_in(x.values))
        return self.drop_in(x)

    def forward(self, x, adj=None) -> torch.Tensor:
        return self.conv2(self.drop_hidden(self.embed(x, adj)), adj)          # [N, C]

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Optimizer groups with the paper's regularisation: L2 `weight_decay` on the first
        layer's weights only (Kipf & Welling, section 5.2: the second layer is left free)."""
        first = [self.conv1.weight]
        rest = [p for p in self.parameters() if p is not self.conv1.weight]
        return [{"params": first, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


@register("gcn", input_size=(1, 1), in_channels=1433, num_classes=7, year=2017,
          paper="Kipf & Welling, Semi-supervised classification with graph convolutional networks",
          description="2 graph convolutions relu(ÂHW), 16 hidden, dropout 0.5; nodes of one graph",
          # the paper's recipe (section 5.2): Adam, L2 on the first layer (param_groups), constant lr
          training={"optimizer": "adam", "lr": 0.01, "weight_decay": 5e-4, "epochs": 200,
                    "schedule": "constant", "warmup": 0.0, "label_smoothing": 0.0})
def gcn(num_classes: int = 7, in_channels: int = 1433, hidden: int = 16, dropout: float = 0.5) -> nn.Module:
    """in_channels: features per node; num_classes: node classes."""
    return GCN(in_channels, num_classes, hidden, dropout)
