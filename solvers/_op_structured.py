"""Operators with a product structure: the Kronecker product ``A ⊗ B`` and a block diagonal of equal blocks.

Kronecker (Van Loan, "The ubiquitous Kronecker product", J. Comput. Appl. Math. 123, 2000): with row-major
vectorisation, ``(A ⊗ B) vec(X) = vec(A X B')``, so products never form the (pr x qs) matrix; for symmetric
``A = QA LA QA'`` and ``B = QB LB QB'``, ``A ⊗ B + s I = (QA ⊗ QB)(LA ⊗ LB + s I)(QA ⊗ QB)'``, whose
eigenvalues are ``la_i lb_j + s``.

Block diagonal: ``diag(B_1, ..., B_b)`` from a ``(b, p, q)`` array; shifted solves by one batched Cholesky
factorization of the ``(b, p, p)`` stack and batched triangular solves.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from array_api_compat import array_namespace, is_numpy_namespace

from . import _linalg
from ._op_base import (
    Factorization,
    NotPositiveDefinite,
    Operator,
    as_float_array,
    is_symmetric_dense,
    nbytes_of,
)
from ._op_elementary import DenseOperator, _set, _weights


def _unwrap(M, where, arg, ndim=2):
    return as_float_array(M.A if isinstance(M, DenseOperator) else M, where, arg, ndim)


@dataclass(frozen=True, eq=False, repr=False)
class KroneckerOperator(Operator):
    """``A ⊗ B`` for dense arrays ``A`` (p, q) and ``B`` (r, s) of one namespace (see the module docstring).
    ``symmetric`` None: detected (both factors symmetric). Shifted solves need symmetric A and B."""

    A: object
    B: object
    symmetric: bool | None = None
    _cache: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        xa, A = _unwrap(self.A, "KroneckerOperator", "A")
        xb, B = _unwrap(self.B, "KroneckerOperator", "B")
        if xa is not xb:
            raise TypeError(f"KroneckerOperator: A and B must be arrays of one library; got {xa.__name__} and "
                            f"{xb.__name__}")
        symmetric = self.symmetric
        if symmetric is None:
            symmetric = is_symmetric_dense(xa, A) and is_symmetric_dense(xa, B)
        _set(self, A=A, B=B, symmetric=bool(symmetric))

    shape = property(lambda self: (self.A.shape[0] * self.B.shape[0], self.A.shape[1] * self.B.shape[1]))
    dtype = property(lambda self: np.result_type(self.A.dtype, self.B.dtype))
    xp = property(lambda self: array_namespace(self.A))
    nbytes = property(lambda self: nbytes_of(self.A) + nbytes_of(self.B) + sum(map(nbytes_of, self._cache.values())))

    def _apply(self, left, right, V, rows, columns):
        """``(left ⊗ right) V``: each column of V is a (rows[1], columns[1]) matrix X, mapped to left X right'."""
        xp, k = self.xp, V.shape[1]
        X = xp.permute_dims(xp.reshape(V, (columns[0], columns[1], k)), (2, 0, 1))
        Y = left @ X @ xp.linalg.matrix_transpose(right)
        return xp.reshape(xp.permute_dims(Y, (1, 2, 0)), (rows[0] * rows[1], k))

    def _matmat(self, V):
        return self._apply(self.A, self.B, V, (self.A.shape[0], self.B.shape[0]), (self.A.shape[1], self.B.shape[1]))

    def _rmatmat(self, U):
        t = self.xp.linalg.matrix_transpose
        return self._apply(t(self.A), t(self.B), U, (self.A.shape[1], self.B.shape[1]),
                           (self.A.shape[0], self.B.shape[0]))

    @property
    def T(self):
        t = self.xp.linalg.matrix_transpose
        return self if self.symmetric else KroneckerOperator(t(self.A), t(self.B), False)

    def diagonal(self):
        xp = self.xp
        (p, q), (r, s) = self.A.shape, self.B.shape
        if p == q and r == s:
            return xp.reshape(xp.linalg.diagonal(self.A)[:, None] * xp.linalg.diagonal(self.B)[None, :], (-1,))
        i = xp.arange(min(p * r, q * s))  # entry (i, i) is A[i // r, i // s] * B[i % r, i % s]
        a = xp.take(xp.reshape(self.A, (-1,)), (i // r) * q + i // s)
        b = xp.take(xp.reshape(self.B, (-1,)), (i % r) * s + i % s)
        return a * b

    def to_dense(self):
        (p, q), (r, s) = self.A.shape, self.B.shape
        return self.xp.reshape(self.A[:, None, :, None] * self.B[None, :, None, :], (p * r, q * s))

    def norm_estimate(self) -> float:
        """Exact: ||A ⊗ B||_F = ||A||_F ||B||_F."""
        return float(self.xp.linalg.matrix_norm(self.A)) * float(self.xp.linalg.matrix_norm(self.B))

    def gram(self, weights=None):
        """``(A ⊗ B)'(A ⊗ B) = A'A ⊗ B'B``; with weights, a :class:`GramOperator` over this operator."""
        if weights is not None:
            return super().gram(weights)
        t = self.xp.linalg.matrix_transpose
        return KroneckerOperator(t(self.A) @ self.A, t(self.B) @ self.B, True)

    def _scaled(self, c):
        return KroneckerOperator(c * self.A, self.B, self.symmetric)

    @property
    def cheaply_invertible(self):
        return self.symmetric

    def _eigen(self):
        if "la" not in self._cache:
            (la, qa), (lb, qb) = self.xp.linalg.eigh(self.A), self.xp.linalg.eigh(self.B)
            self._cache.update(la=la, qa=qa, lb=lb, qb=qb)
        return (self._cache["la"], self._cache["qa"]), (self._cache["lb"], self._cache["qb"])

    def _factorize(self, shift):
        xp = self.xp
        (la, qa), (lb, qb) = self._eigen()
        values = la[:, None] * lb[None, :] + shift
        p, r = la.shape[0], lb.shape[0]
        scale = float(xp.max(xp.abs(la))) * float(xp.max(xp.abs(lb))) if p and r else 0.0
        tolerance = 4.0 * max(p, r) * float(xp.finfo(values.dtype).eps) * scale
        smallest = float(xp.min(values)) if p and r else 1.0
        if not smallest > tolerance:
            raise NotPositiveDefinite(f"KroneckerOperator + {shift:g}*I is not positive definite: its smallest "
                                      f"eigenvalue is {smallest:g} (tolerance {tolerance:g})")
        t = xp.linalg.matrix_transpose

        def solve(Bm):
            k = Bm.shape[1]
            X = xp.permute_dims(xp.reshape(Bm, (p, r, k)), (2, 0, 1))
            W = (t(qa) @ X @ qb) / values[None, :, :]
            return xp.reshape(xp.permute_dims(qa @ W @ t(qb), (1, 2, 0)), (p * r, k))

        return Factorization(shift, "kronecker-eigen", p * r, xp, solve)


_BATCHED_TRIANGULAR = []  # memo: does scipy.linalg.solve_triangular accept stacks (SciPy >= 1.15)?


#: Blocks up to this size are solved by numpy.linalg.solve on the two triangular factors (one C loop over the
#: batch) rather than scipy's batched solve_triangular (a Python-level loop per block): 100 blocks of 5 x 5,
#: 0.18 ms against 2.9 ms; 600 of 8 x 8, 2.5 against 20 ms; 10 of 200 x 200, 18 against 1.0 ms (one core).
SMALL_BLOCKS = 32


def _batched_cho_solve(xp, L, X):
    """Solve ``L_j L_j' Y_j = X_j`` for stacks ``L`` (b, p, p) and ``X`` (b, p, k)."""
    t = xp.linalg.matrix_transpose
    if is_numpy_namespace(xp) and L.shape[-1] > SMALL_BLOCKS:
        from scipy.linalg import solve_triangular

        if not _BATCHED_TRIANGULAR:
            try:
                solve_triangular(np.eye(1)[None], np.ones((1, 1, 1)), lower=True)
                _BATCHED_TRIANGULAR.append(True)
            except ValueError:
                _BATCHED_TRIANGULAR.append(False)
        if _BATCHED_TRIANGULAR[0]:
            Y = solve_triangular(L, X, lower=True, check_finite=False)
            return solve_triangular(L, Y, lower=True, trans=1, check_finite=False)
    return xp.linalg.solve(t(L), xp.linalg.solve(L, X))  # general batched solves on the triangular factors


@dataclass(frozen=True, eq=False, repr=False)
class BlockDiagonalOperator(Operator):
    """``diag(B_1, ..., B_b)`` from an array ``blocks`` of shape (b, p, q): an operator of shape (b p, b q).
    ``symmetric`` None: detected (square blocks, each symmetric)."""

    blocks: object
    symmetric: bool | None = None

    def __post_init__(self):
        xp, blocks = _unwrap(self.blocks, "BlockDiagonalOperator", "blocks", ndim=3)
        symmetric = self.symmetric
        if symmetric is None:
            symmetric = is_symmetric_dense(xp, blocks)
        elif symmetric and blocks.shape[1] != blocks.shape[2]:
            raise ValueError(f"BlockDiagonalOperator: symmetric=True needs square blocks; got blocks of shape "
                             f"{tuple(blocks.shape[1:])}")
        _set(self, blocks=blocks, symmetric=bool(symmetric))

    shape = property(lambda self: (self.blocks.shape[0] * self.blocks.shape[1],
                                   self.blocks.shape[0] * self.blocks.shape[2]))
    dtype = property(lambda self: self.blocks.dtype)
    xp = property(lambda self: array_namespace(self.blocks))
    nbytes = property(lambda self: nbytes_of(self.blocks))

    def _product(self, blocks, V):
        b, p, q = blocks.shape
        return self.xp.reshape(blocks @ self.xp.reshape(V, (b, q, V.shape[1])), (b * p, V.shape[1]))

    def _matmat(self, V):
        return self._product(self.blocks, V)

    def _rmatmat(self, U):
        return self._product(self.xp.linalg.matrix_transpose(self.blocks), U)

    @property
    def T(self):
        return self if self.symmetric else BlockDiagonalOperator(self.xp.linalg.matrix_transpose(self.blocks))

    def diagonal(self):
        xp = self.xp
        b, p, q = self.blocks.shape
        if p == q:
            return xp.reshape(xp.linalg.diagonal(self.blocks), (-1,))
        i = xp.arange(min(b * p, b * q))  # entry (i, i) lies in block i // p if that is also block i // q
        inside = (i // p) == (i // q)
        values = xp.take(xp.reshape(self.blocks, (-1,)), xp.where(inside, (i // p) * p * q + (i % p) * q + i % q, 0))
        return xp.where(inside, values, xp.zeros_like(values))

    def to_dense(self):
        xp = self.xp
        b, p, q = self.blocks.shape
        eye = _linalg.identity(xp, b, self.blocks)
        return xp.reshape(self.blocks[:, :, None, :] * eye[:, None, :, None], (b * p, b * q))

    def norm_estimate(self) -> float:
        """Exact: the 2-norm of all block entries."""
        return float(self.xp.linalg.vector_norm(self.blocks))

    def gram(self, weights=None):
        """``diag(B_j' W_j B_j)``: block diagonal again."""
        xp = self.xp
        b, p, _ = self.blocks.shape
        t = xp.linalg.matrix_transpose(self.blocks)
        if weights is None:
            return BlockDiagonalOperator(t @ self.blocks, True)
        w = xp.reshape(_weights(xp, weights, b * p, "BlockDiagonalOperator.gram"), (b, p, 1))
        return BlockDiagonalOperator(t @ (w * self.blocks), True)

    def _scaled(self, c):
        return BlockDiagonalOperator(c * self.blocks, self.symmetric)

    @property
    def cheaply_invertible(self):
        return self.symmetric

    def plus_diagonal(self, d):
        """This operator plus ``diag(d)`` (d of shape (b p,)), again block diagonal."""
        b, p, _ = self.blocks.shape
        eye = _linalg.identity(self.xp, p, self.blocks)
        return BlockDiagonalOperator(self.blocks + self.xp.reshape(d, (b, p, 1)) * eye[None], True)

    def _factorize(self, shift):
        xp = self.xp
        b, p, _ = self.blocks.shape
        M = self.blocks + shift * _linalg.identity(xp, p, self.blocks)[None] if shift else self.blocks
        L = _linalg.cholesky(xp, M) if b and p else M
        if L is None:
            failing = next((j for j in range(b) if _linalg.cholesky(xp, M[j]) is None), None)
            where = f"block {failing}" if failing is not None else "a block"
            raise NotPositiveDefinite(f"BlockDiagonalOperator + {shift:g}*I is not positive definite: the "
                                      f"Cholesky factorization of {where} (of {b}) failed")

        def solve(B):
            k = B.shape[1]
            return xp.reshape(_batched_cho_solve(xp, L, xp.reshape(B, (b, p, k))), (b * p, k))

        return Factorization(shift, "batched-cholesky", b * p, xp, solve)
