"""A sparse matrix for products whose gradient needs the transpose: S @ D with dS^T @ dG fast.

torch's CSR product is fast (a pass over the rows), but its autograd transposes S on every
backward pass (a sort: 3-5 ms on Cora's features, 10x the product itself). SparseMatrix keeps
the transpose's row structure too, computed once, plus the permutation that carries S's values
into it, so the backward pass is one more row-wise product and `with_values` (dropout on the
stored entries) costs nothing structural:

    crow, col, values        S [R, C] in CSR (values in row-major order)
    t_crow, t_col, t_perm    S^T [C, R] in CSR, whose values are values[t_perm]

Gradients flow to the dense operand and to `values` (not to the structure)."""

from __future__ import annotations

import torch


class SparseMatrix:
    def __init__(self, index: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]):
        """index int64 [2, nnz] (row, col) without repeats, values float [nnz]."""
        rows, cols = shape
        order = torch.argsort(index[0] * cols + index[1])           # row-major
        r, c = index[0][order], index[1][order]
        self.shape = (int(rows), int(cols))
        self.values = values[order].to(torch.float32)
        self.crow = _crow(r, rows)
        self.col = c
        self.t_perm = torch.argsort(c * rows + r)                    # column-major = rows of S^T
        self.t_crow = _crow(c[self.t_perm], cols)
        self.t_col = r[self.t_perm]

    @classmethod
    def from_tensor(cls, t: torch.Tensor) -> "SparseMatrix":
        """A dense or sparse (COO/CSR) 2-D tensor -> SparseMatrix of its non-zeros."""
        coo = (t.to_sparse() if t.layout == torch.strided else t.to_sparse_coo()).coalesce()
        return cls(coo.indices(), coo.values(), tuple(coo.shape))

    def with_values(self, values: torch.Tensor) -> "SparseMatrix":
        """The same structure holding `values` (float [nnz], row-major: e.g. dropout(self.values))."""
        out = object.__new__(SparseMatrix)
        out.__dict__.update(self.__dict__, values=values)
        return out

    def to(self, device) -> "SparseMatrix":
        out = object.__new__(SparseMatrix)
        out.__dict__.update({k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.__dict__.items()})
        return out

    @property
    def nnz(self) -> int:
        return len(self.values)

    @property
    def device(self) -> torch.device:
        return self.values.device

    def csr(self) -> torch.Tensor:
        return torch.sparse_csr_tensor(self.crow, self.col, self.values, self.shape, check_invariants=False)

    def dense(self) -> torch.Tensor:
        return self.csr().to_dense()

    def __matmul__(self, dense: torch.Tensor) -> torch.Tensor:
        """S @ D: [R, C] x [C, K] -> [R, K], float32 (outside autocast: the sparse kernels have no
        bf16 form and the product is memory-bound)."""
        with torch.autocast(dense.device.type, enabled=False):
            return _Product.apply(self.values, dense.float(), self)


def _crow(rows: torch.Tensor, n: int) -> torch.Tensor:
    """Sorted row indices -> CSR row pointers [n + 1]."""
    return torch.cat([rows.new_zeros(1), torch.bincount(rows, minlength=n).cumsum(0)])


class _Product(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values, dense, s):
        ctx.s = s
        ctx.save_for_backward(values, dense)
        return torch.sparse.mm(torch.sparse_csr_tensor(s.crow, s.col, values, s.shape, check_invariants=False), dense)

    @staticmethod
    def backward(ctx, grad):
        values, dense = ctx.saved_tensors
        s = ctx.s
        grad_values = grad_dense = None
        if ctx.needs_input_grad[1]:                        # dL/dD = S^T dL/dY
            st = torch.sparse_csr_tensor(s.t_crow, s.t_col, values[s.t_perm], s.shape[::-1],
                                         check_invariants=False)
            grad_dense = torch.sparse.mm(st, grad)
        if ctx.needs_input_grad[0]:                        # dL/dS_ij = (dL/dY)_i . D_j, stored entries only
            rows = torch.repeat_interleave(torch.arange(s.shape[0], device=grad.device), s.crow.diff())
            grad_values = (grad[rows] * dense[s.col]).sum(1)
        return grad_values, grad_dense, None
