"""The Gram operator ``shift I + A' diag(d) A`` with ``A`` (m, n) dense, sparse, a Dask array or an operator.

Shifted solves, ``(shift I + Δ + A' D A) x = b`` with Δ the requested shift (a scalar, or a diagonal when a
:class:`SumOperator` folds a diagonal term in):

- Woodbury, when ``m < n``, every ``d_i >= 0`` and ``Δ > 0``: with ``Z = diag(sqrt(d)) A``,
  ``(Δ + Z'Z)^-1 = Δ^-1 - Δ^-1 Z' (I_m + Z Δ^-1 Z')^-1 Z Δ^-1`` (the Sherman-Morrison-Woodbury formula,
  Golub & Van Loan, "Matrix Computations", 4th ed., 2013, Sec. 2.1.4): one m x m Cholesky factorization
  (sparse LDL' for sparse A). For scalar Δ the m x m matrix ``Z Z'`` is formed once and cached.
- otherwise the n x n Gram ``A' D A`` (``Z'Z`` by one product when d >= 0, ``A' (d A)`` otherwise) is formed
  once, cached, and factorized with the shift: dense Cholesky, or for sparse A the sparse LDL' of
  :func:`._op_base.sparse_spd_solver` (the Gram stays a scipy.sparse matrix).

Dask arrays: products are built lazily and computed once per product; the Gram is reduced with one compute
and cached on the host; Woodbury is not used (it would need two computes per solve).
"""
from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from array_api_compat import array_namespace

from ._op_base import (
    NUMPY,
    Factorization,
    Operator,
    as_float_array,
    check_scalar,
    cholesky_solver,
    nbytes_of,
    shifted,
    sparse_spd_solver,
)
from ._op_elementary import DenseOperator, SparseOperator, as_csr


def _is_dask(A) -> bool:
    return type(A).__module__.split(".")[0] == "dask"


def _sparse_diag(v):
    import scipy.sparse as sp

    return sp.dia_array((np.asarray(v)[None, :], [0]), shape=(v.shape[0], v.shape[0]))


def _scale(v, M):
    """diag(v) M for a vector v (None: identity) and an (m, k) dense array M."""
    return M if v is None else v[:, None] * M


@dataclass(frozen=True)
class _Backend:
    """How one kind of A computes: ``weighted(A, d, V) = A' diag(d) A V``, ``matmat(A, V) = A V``,
    ``rmatmat(A, U) = A' U``, ``gram(A, d) = A' diag(d) A`` (d None: identity), ``outer(A, c) = A diag(c) A'``,
    ``column_sums(A, d) = diag(A' diag(d) A)``, ``row_sums(A) = (||a_i||^2)_i``, ``nbytes(A)``."""

    weighted: Callable
    matmat: Callable
    rmatmat: Callable
    gram: Callable
    outer: Callable
    column_sums: Callable
    row_sums: Callable
    nbytes: Callable


def _dense_transpose(A):
    return array_namespace(A).linalg.matrix_transpose(A)


def _dense_gram(A, d):
    xp = array_namespace(A)
    if d is None:
        return _dense_transpose(A) @ A
    if bool(xp.all(d >= 0)):
        Z = xp.sqrt(d)[:, None] * A
        return _dense_transpose(Z) @ Z
    return _dense_transpose(A) @ (d[:, None] * A)


def _dense_column_sums(A, d):
    xp = array_namespace(A)
    squares = A * A
    return xp.sum(squares, axis=0) if d is None else _dense_transpose(squares) @ d


_DENSE = _Backend(
    weighted=lambda A, d, V: _dense_transpose(A) @ _scale(d, A @ V),
    matmat=lambda A, V: A @ V,
    rmatmat=lambda A, U: _dense_transpose(A) @ U,
    gram=_dense_gram,
    outer=lambda A, c: A @ _dense_transpose(A if c is None else c[None, :] * A),
    column_sums=_dense_column_sums,
    row_sums=lambda A: array_namespace(A).sum(A * A, axis=1),
    nbytes=nbytes_of,
)


def _sparse_gram(A, d):
    if d is None:
        return (A.T @ A).tocsr()
    if bool(np.all(d >= 0)):
        Z = _sparse_diag(np.sqrt(d)) @ A
        return (Z.T @ Z).tocsr()
    return (A.T @ (_sparse_diag(d) @ A)).tocsr()


def _sparse_squares(A):
    """A with each entry squared: the stored values squared where no entry is stored twice (no sort, no
    elementwise product of two sparse matrices: A.multiply(A) costs about 12 products with A at 5M nonzeros),
    else A.multiply(A), which sums duplicates first. Kept for the life of A (the Jacobi diagonal at every
    iterate reads the same squares)."""
    key = id(A)
    held = _SQUARES.get(key)
    if held is not None and held[0]() is A:
        return held[1]
    squares = A.power(2) if getattr(A, "has_canonical_format", False) else A.multiply(A)
    try:
        ref = weakref.ref(A, lambda _, key=key: _SQUARES.pop(key, None))
    except TypeError:  # a matrix type without weak references: not kept
        return squares
    _SQUARES[key] = (ref, squares)  # kept while A lives: operators built at each iterate share one A
    return squares


_SQUARES: dict = {}


_SPARSE = _Backend(
    weighted=lambda A, d, V: np.asarray(A.T @ _scale(d, np.asarray(A @ V))),
    matmat=lambda A, V: np.asarray(A @ V),
    rmatmat=lambda A, U: np.asarray(A.T @ U),
    gram=_sparse_gram,
    outer=lambda A, c: (A @ (A.T if c is None else _sparse_diag(c) @ A.T)).tocsr(),
    column_sums=lambda A, d: np.asarray(_sparse_squares(A).sum(axis=0)).ravel() if d is None
    else np.asarray(_sparse_squares(A).T @ d),
    row_sums=lambda A: np.asarray(_sparse_squares(A).sum(axis=1)).ravel(),
    nbytes=nbytes_of,
)


def _dask_compute(x):
    return np.asarray(x.compute())


_DASK = _Backend(
    weighted=lambda A, d, V: _dask_compute(A.T @ _scale(d, A @ V)),
    matmat=lambda A, V: _dask_compute(A @ V),
    rmatmat=lambda A, U: _dask_compute(A.T @ U),
    gram=lambda A, d: _dask_compute(A.T @ A if d is None else A.T @ (d[:, None] * A)),
    outer=lambda A, c: _dask_compute(A @ (A.T if c is None else c[:, None] * A.T)),
    column_sums=lambda A, d: _dask_compute((A * A).sum(axis=0) if d is None else (A * A).T @ d),
    row_sums=lambda A: _dask_compute((A * A).sum(axis=1)),
    nbytes=lambda A: 0,  # the data stay with Dask (on disk or on the workers), not in the operator
)


def _op_dense(A):
    return A.to_dense()


_OPERATOR = _Backend(  # any other operator: products through it, formed matrices from its dense form
    weighted=lambda A, d, V: A._rmatmat(_scale(d, A._matmat(V))),
    matmat=lambda A, V: A._matmat(V),
    rmatmat=lambda A, U: A._rmatmat(U),
    gram=lambda A, d: _dense_gram(_op_dense(A), d),
    outer=lambda A, c: _DENSE.outer(_op_dense(A), c),
    column_sums=lambda A, d: _dense_column_sums(_op_dense(A), d),
    row_sums=lambda A: _DENSE.row_sums(_op_dense(A)),
    nbytes=lambda A: A.nbytes,
)

_BACKENDS = {"dense": _DENSE, "sparse": _SPARSE, "dask": _DASK, "operator": _OPERATOR}


def _classify(A):
    """``(kind, A, xp)`` for the accepted forms of A."""
    import scipy.sparse as sp

    if isinstance(A, (DenseOperator, SparseOperator)):
        A = A.A
    if isinstance(A, Operator):
        return "operator", A, A.xp
    if sp.issparse(A):
        return "sparse", as_csr(A, "GramOperator"), NUMPY
    if _is_dask(A):
        if A.ndim != 2:
            raise ValueError(f"GramOperator: A must be 2-D; got shape {A.shape}")
        kind = np.dtype(A.dtype).kind
        if kind not in "fiu":
            raise TypeError(f"GramOperator: A must hold real numbers; got dtype {A.dtype}")
        return "dask", A if kind == "f" else A.astype(np.float64), NUMPY
    xp, A = as_float_array(A, "GramOperator", "A", 2)
    return "dense", A, xp


@dataclass(frozen=True, eq=False, repr=False)
class GramOperator(Operator):
    """``shift I + A' diag(d) A`` (n x n) for ``A`` of shape (m, n): a NumPy/CuPy array, a scipy.sparse
    matrix, a Dask array, or another :class:`Operator`; ``d`` of shape (m,) (None: the identity).

    Solves: see the module docstring (Woodbury with fewer rows than columns, otherwise the cached Gram).
    ``norm_estimate`` is the bound |shift| sqrt(n) + sum_i |d_i| ||a_i||^2 (triangle inequality over the rank-one
    terms); for d >= 0 and shift >= 0 it is at most sqrt(2 min(m, n)) times the Frobenius norm, since
    tr(G) <= sqrt(rank G) ||G||_F for G positive semidefinite."""

    A: object
    d: object = None
    shift: float = 0.0
    kind: str = field(default="", init=False)
    symmetric: bool = field(default=True, init=False)
    _cache: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        kind, A, xp = _classify(self.A)
        m = A.shape[0]
        d = self.d
        if d is not None:
            if _is_dask(d):
                d = np.asarray(d.compute())
            dxp, d = as_float_array(d, "GramOperator", "d", 1)
            if dxp is not xp:
                raise TypeError(f"GramOperator: d must be an array of A's library ({xp.__name__}); got "
                                f"{type(d).__module__}.{type(d).__name__}")
            if d.shape[0] != m:
                raise ValueError(f"GramOperator: d must have shape ({m},) matching A's {m} rows, got "
                                 f"{tuple(d.shape)}")
        for name, value in (("A", A), ("d", d), ("kind", kind), ("shift", check_scalar(self.shift, "GramOperator"))):
            object.__setattr__(self, name, value)

    shape = property(lambda self: (self.A.shape[1], self.A.shape[1]))
    xp = property(lambda self: self.A.xp if self.kind == "operator" else
                  (NUMPY if self.kind in ("sparse", "dask") else array_namespace(self.A)))

    @property
    def dtype(self):
        return np.result_type(self.A.dtype, *(() if self.d is None else (self.d.dtype,)))

    @property
    def nbytes(self):
        cached = sum(nbytes_of(v) for v in self._cache.values() if not isinstance(v, bool))
        return _BACKENDS[self.kind].nbytes(self.A) + nbytes_of(self.d) + cached

    @property
    def backend(self) -> _Backend:
        return _BACKENDS[self.kind]

    def _matmat(self, V):
        out = self.backend.weighted(self.A, self.d, V)
        return out + self.shift * V if self.shift else out

    def diagonal(self):
        return self.backend.column_sums(self.A, self.d) + self.shift

    def gram_matrix(self):
        """``A' diag(d) A`` without the shift, formed once and cached: a scipy.sparse CSR array for sparse A,
        otherwise a dense array of the operator's namespace (for Dask A, one compute)."""
        if "gram" not in self._cache:
            self._cache["gram"] = self.backend.gram(self.A, self.d)
        return self._cache["gram"]

    def to_dense(self):
        G = self.gram_matrix()
        return shifted(self.xp, G.toarray() if self.kind == "sparse" else G, self.shift)

    def norm_estimate(self) -> float:
        """An upper bound of the Frobenius norm (see the class docstring)."""
        rows = self.backend.row_sums(self.A)
        xp = array_namespace(rows)
        weighted = float(xp.sum(rows if self.d is None else xp.abs(self.d) * rows))
        return abs(self.shift) * math.sqrt(self.shape[0]) + weighted

    def _scaled(self, c):
        d = c * (self.xp.ones((self.A.shape[0],), dtype=self.dtype) if self.d is None else self.d)
        return GramOperator(self.A, d, c * self.shift)

    def _nonnegative_weights(self) -> bool:
        if "nonnegative" not in self._cache:
            xp = self.xp
            self._cache["nonnegative"] = self.d is None or bool(xp.all(self.d >= 0))
        return self._cache["nonnegative"]

    def _factorize(self, shift):
        return self.factorize_with_diagonal(self.shift + shift, shift)

    def factorize_with_diagonal(self, delta, shift: float) -> Factorization:
        """A factorization of ``A' D A + diag(delta)`` (delta a float or a vector of shape (n,), which
        includes this operator's own shift); ``shift`` is what the factorization reports as its shift."""
        m, n = self.A.shape
        xp = self.xp
        scalar = isinstance(delta, float)
        positive = delta > 0.0 if scalar else (n == 0 or float(xp.min(delta)) > 0.0)
        if m < n and positive and self.kind != "dask" and self._nonnegative_weights():
            return Factorization(shift, "woodbury", n, xp, self._woodbury(delta))
        G = self.gram_matrix()
        what = f"GramOperator + {shift:g}*I"
        if self.kind == "sparse":
            solve = sparse_spd_solver(G + _sparse_diag(np.full(n, delta) if scalar else delta), what)
            return Factorization(shift, "gram-sparse-ldl", n, xp, solve)
        return Factorization(shift, "gram-cholesky", n, xp, cholesky_solver(xp, shifted(xp, G, delta), what))

    def _woodbury(self, delta):
        """The Sherman-Morrison-Woodbury solve (module docstring) for Δ = delta > 0, d >= 0."""
        backend, A, xp = self.backend, self.A, self.xp
        s = None if self.d is None else xp.sqrt(self.d)
        inv_delta = 1.0 / delta
        if isinstance(delta, float):
            if "outer" not in self._cache:
                self._cache["outer"] = backend.outer(A, None)
            outer = inv_delta * self._cache["outer"]
        else:
            outer = backend.outer(A, inv_delta)
        m = A.shape[0]
        what = "the Woodbury matrix I + Z Δ^-1 Z'"
        if self.kind == "sparse":
            if s is not None:
                outer = _sparse_diag(s) @ outer @ _sparse_diag(s)
            inner = sparse_spd_solver(outer + _sparse_diag(np.ones(m)), what)
        else:
            if s is not None:
                outer = s[:, None] * outer * s[None, :]
            inner = cholesky_solver(xp, shifted(xp, outer, 1.0), what)
        scale = (lambda B: inv_delta * B) if isinstance(delta, float) else (lambda B: inv_delta[:, None] * B)

        def solve(B):
            Y = scale(B)
            return Y - scale(backend.rmatmat(A, _scale(s, inner(_scale(s, backend.matmat(A, Y))))))

        return solve
