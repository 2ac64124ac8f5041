"""The GCN's propagation matrix: Â = D^-1/2 (A + I) D^-1/2 as a sparse tensor.

A is the 0/1 adjacency of the undirected graph, I adds a self-loop to every node (so a node
keeps its own features), and D is the diagonal of the row sums of A + I (the degree plus one).
Entry (i, j) is 1 / sqrt(d_i d_j): a link between two hubs counts less than one between two
leaves, and Â's eigenvalues lie in (-1, 1], so repeated products neither blow up nor vanish
(Kipf & Welling 2017, eq. 2 and section 2.2)."""

from __future__ import annotations

import torch


def normalized_adjacency(edges: torch.Tensor, n: int, layout: torch.layout = torch.sparse_csr) -> torch.Tensor:
    """edges int64 [2, E] (symmetric, no self-loops, no repeats: Graph.edges) -> Â float32 [n, n],
    sparse with E + n stored entries (CSR by default: rows contiguous for the row-wise product)."""
    loops = torch.arange(n, dtype=torch.int64).expand(2, n)
    index = torch.cat([edges.to(torch.int64), loops], 1)                  # [2, E + n]
    degree = torch.bincount(index[0], minlength=n).to(torch.float32)      # row sums of A + I
    inv_sqrt = degree.rsqrt()                                             # d >= 1: never 1/0
    values = inv_sqrt[index[0]] * inv_sqrt[index[1]]
    adj = torch.sparse_coo_tensor(index, values, (n, n), check_invariants=False).coalesce()
    return adj if layout == torch.sparse_coo else adj.to_sparse_csr()


def dense_normalized_adjacency(edges: torch.Tensor, n: int) -> torch.Tensor:
    """The same matrix built densely, step by step as the formula reads ([n, n]; small graphs
    and tests only)."""
    a = torch.zeros(n, n)
    a[edges[0], edges[1]] = 1.0
    a_hat = a + torch.eye(n)
    d = a_hat.sum(1)
    d_inv_sqrt = torch.diag(d.pow(-0.5))
    return d_inv_sqrt @ a_hat @ d_inv_sqrt
