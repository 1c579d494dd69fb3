"""The Gram operator ``shift I + A' diag(d) A`` of a Dask array A of sparse row blocks (``_dask_sparse``).

``ricci.solvers.GramOperator`` takes NumPy, CuPy, scipy.sparse and plain Dask arrays; a Dask array whose
blocks are sparse is read through the products of :class:`~._dask_sparse.SparseRows` instead, so its Gram
operator is this small :class:`~ricci.solvers.Operator`, with one ``dask.compute`` for each of:

    G V = A' (d .* (A V)) + shift V                    a product (CG's Hessian-vector products)
    diag(G) = (A .^ 2)' d + shift                      the Jacobi preconditioner (kept)
    G = A' diag(d) A + shift I                         the dense n x n matrix, for a factorization (kept)

each a reduction over A's blocks of rows (sum_b A_b' ..., per block), so the data is never gathered. As for
plain Dask data in ``GramOperator``, Woodbury's identity is not used (it would need two passes per solve).
"""
from __future__ import annotations

import math

import numpy as np
from array_api_compat import array_namespace
from ricci.solvers import Operator

from ._binding import materialize
from ._dask_sparse import SparseRows


def _squares(x):
    return x.power(2)


class SparseRowsGram(Operator):
    """``shift I + A' diag(d) A`` for A a :class:`SparseRows` (m, n) and d a NumPy vector of length m (None:
    the identity); see the module docstring."""

    symmetric = True

    def __init__(self, A: SparseRows, d=None, shift: float = 0.0):
        if not isinstance(A, SparseRows):
            raise TypeError(f"SparseRowsGram: A must be a Dask array of sparse row blocks, got {type(A).__name__}")
        if d is not None:
            d = np.asarray(d, dtype=np.float64)
            if d.shape != (A.shape[0],):
                raise ValueError(f"SparseRowsGram: d must have shape ({A.shape[0]},), got {d.shape}")
        self.A, self.d, self.shift = A, d, float(shift)
        self._cache: dict = {}

    shape = property(lambda self: (self.A.shape[1], self.A.shape[1]))
    dtype = property(lambda self: np.dtype(np.float64))
    xp = property(lambda self: array_namespace(np.zeros(0)))
    nbytes = property(lambda self: sum(v.nbytes for v in self._cache.values()))

    def _compute(self, lazy):
        return np.asarray(materialize([lazy], dense=True)[0])

    def _weights(self):
        return np.ones(self.A.shape[0]) if self.d is None else self.d

    def _matmat(self, V):
        V = np.asarray(V)
        AV = self.A @ V
        out = self._compute(self.A.T @ (AV if self.d is None else self.d[:, None] * AV))
        return out + self.shift * V if self.shift else out

    def diagonal(self):
        if "diagonal" not in self._cache:
            A = self.A
            squares = SparseRows(A.blocks.map_blocks(_squares, dtype=A.dtype), A.transposed)
            self._cache["diagonal"] = self._compute(squares.T @ self._weights())
        return self._cache["diagonal"] + self.shift

    def to_dense(self):
        if "gram" not in self._cache:
            if self.A.transposed:  # the Gram of X' (m x m): from products with the identity
                self._cache["gram"] = self._compute(self.A.T @ (self._weights()[:, None] * (self.A @ np.eye(self.shape[1]))))
            else:
                self._cache["gram"] = self._compute(self.A.T @ (self.A * self._weights()[:, None]))
        G = self._cache["gram"]
        return G + self.shift * np.eye(G.shape[0]) if self.shift else G.copy()

    def norm_estimate(self) -> float:
        """|shift| sqrt(n) + sum_i |d_i| ||a_i||^2 (the triangle inequality over the rank-one terms): the
        trace of |d|-weighted squares, from the diagonal's pass when d >= 0."""
        d = self._weights()
        if bool(np.all(d >= 0)):
            total = float(np.sum(self.diagonal() - self.shift))
        else:
            A = self.A
            squares = SparseRows(A.blocks.map_blocks(_squares, dtype=A.dtype), A.transposed)
            total = float(np.sum(self._compute(squares.T @ np.abs(d))))
        return abs(self.shift) * math.sqrt(self.shape[0]) + total

    def _scaled(self, c: float):
        return SparseRowsGram(self.A, c * self._weights(), c * self.shift)

    def __repr__(self):
        return f"SparseRowsGram(shape={self.shape}, row blocks {self.A.row_chunks}, shift={self.shift})"
