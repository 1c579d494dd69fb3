"""The elementary operators: a dense array, a scaled identity, a diagonal, a scipy.sparse matrix, and an
operator known only through its products.

Their shifted solves: Cholesky for a dense matrix (Golub & Van Loan 2013, Algorithm 4.2.1), division entry by
entry for the identity and the diagonal, the SuperLU symmetric-pivoting test of
:func:`._op_base.sparse_spd_solver` for a sparse matrix; an operator known only through products has none.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

from . import _linalg
from ._op_base import (
    NUMPY,
    Factorization,
    NotPositiveDefinite,
    Operator,
    as_float_array,
    check_scalar,
    cholesky_solver,
    is_symmetric_dense,
    nbytes_of,
    shifted,
    sparse_spd_solver,
    symmetry_tolerance,
)


def _set(obj, **values):
    """Assign fields of a frozen dataclass inside ``__post_init__`` (normalised inputs, derived fields)."""
    for key, value in values.items():
        object.__setattr__(obj, key, value)


@dataclass(frozen=True, eq=False, repr=False)
class DenseOperator(Operator):
    """The operator of a dense ``(m, n)`` NumPy or CuPy array ``A``.

    ``symmetric`` None means: detected (max |A - A'| <= sqrt(eps) max |A|). Shifted solves use the Cholesky
    factorization of ``A + shift I`` (O(n^3))."""

    A: object
    symmetric: bool | None = None

    def __post_init__(self):
        xp, A = as_float_array(self.A, "DenseOperator", "A", 2)
        symmetric = is_symmetric_dense(xp, A) if self.symmetric is None else bool(self.symmetric)
        if symmetric and A.shape[0] != A.shape[1]:
            raise ValueError(f"DenseOperator: symmetric=True needs a square A; got shape {tuple(A.shape)}")
        _set(self, A=A, symmetric=symmetric)

    shape = property(lambda self: tuple(self.A.shape))
    dtype = property(lambda self: self.A.dtype)
    xp = property(lambda self: array_namespace(self.A))
    nbytes = property(lambda self: nbytes_of(self.A))

    def _matmat(self, V):
        return self.A @ V

    def _rmatmat(self, U):
        return self.xp.linalg.matrix_transpose(self.A) @ U

    @property
    def T(self):
        return self if self.symmetric else DenseOperator(self.xp.linalg.matrix_transpose(self.A), False)

    def diagonal(self):
        return self.xp.linalg.diagonal(self.A)

    def to_dense(self):
        return self.A

    def norm_estimate(self) -> float:
        """Exact: ||A||_F."""
        return float(self.xp.linalg.matrix_norm(self.A))

    def gram(self, weights=None):
        from ._op_gram import GramOperator

        return GramOperator(self.A, weights)

    def _scaled(self, c):
        return DenseOperator(c * self.A, self.symmetric)

    def _factorize(self, shift):
        solve = cholesky_solver(self.xp, shifted(self.xp, self.A, shift), f"DenseOperator + {shift:g}*I")
        return Factorization(shift, "cholesky", self.shape[0], self.xp, solve)


def _elementwise_factorization(name: str, xp, values, shift: float, size: int) -> Factorization:
    """``diag(values) + shift I`` (values a scalar or a vector): solved by division; NotPositiveDefinite when
    some ``values_i + shift <= 0``."""
    total = values + shift
    smallest = float(total) if isinstance(total, float) else (float(xp.min(total)) if size else 1.0)
    if not smallest > 0.0:  # also catches NaN
        where = "" if isinstance(total, float) else f" (entry {int(xp.argmin(total))})"
        raise NotPositiveDefinite(f"{name} + {shift:g}*I is not positive definite: its smallest diagonal entry "
                                  f"is {smallest:g}{where}")
    if isinstance(total, float):
        return Factorization(shift, "elementwise", size, xp, lambda B: B / total)
    return Factorization(shift, "elementwise", size, xp, lambda B: B / total[:, None])


@dataclass(frozen=True, eq=False, repr=False)
class ScaledIdentity(Operator):
    """``c I`` of size ``n``; ``like`` (an array) gives the namespace, dtype and device (default NumPy float64)."""

    n: int
    c: float = 1.0
    like: object = field(default=None)
    symmetric: bool = field(default=True, init=False)

    def __post_init__(self):
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 0:
            raise ValueError(f"ScaledIdentity: n must be a non-negative integer; got {self.n!r}")
        like = self.like
        if like is None:
            like = np.zeros((1,), dtype=np.float64)
        elif not is_array_api_obj(like) or np.dtype(like.dtype).kind != "f":
            raise TypeError(f"ScaledIdentity: like must be a floating-point array (it gives the namespace, dtype "
                            f"and device); got {type(like).__name__}")
        xp = array_namespace(like)
        _set(self, n=int(self.n), c=check_scalar(self.c, "ScaledIdentity"), like=xp.zeros((1,), dtype=like.dtype))

    shape = property(lambda self: (self.n, self.n))
    dtype = property(lambda self: self.like.dtype)
    xp = property(lambda self: array_namespace(self.like))
    nbytes = property(lambda self: 0)

    def _matmat(self, V):
        return self.c * V

    def diagonal(self):
        return self.xp.full((self.n,), self.c, dtype=self.dtype)

    def to_dense(self):
        return self.c * _linalg.identity(self.xp, self.n, self.like)

    def norm_estimate(self) -> float:
        """Exact: |c| sqrt(n)."""
        return abs(self.c) * math.sqrt(self.n)

    def gram(self, weights=None):
        if weights is None:
            return ScaledIdentity(self.n, self.c * self.c, self.like)
        return DiagonalOperator(self.c * self.c * _weights(self.xp, weights, self.n, "ScaledIdentity.gram"))

    def _scaled(self, c):
        return ScaledIdentity(self.n, c * self.c, self.like)

    def _factorize(self, shift):
        return _elementwise_factorization("ScaledIdentity", self.xp, self.c, shift, self.n)

    @property
    def cheaply_invertible(self):
        return True

    def _like(self):
        return self.like

    def __repr__(self):
        return f"ScaledIdentity(n={self.n}, c={self.c!r}, dtype={self.dtype})"


def _weights(xp, weights, m: int, where: str):
    """Validated Gram weights: a real vector of shape (m,) of namespace ``xp``."""
    wxp, w = as_float_array(weights, where, "weights", 1)
    if wxp is not xp:
        raise TypeError(f"{where}: weights must be an array of the operator's library ({xp.__name__}); got "
                        f"{type(weights).__module__}.{type(weights).__name__}")
    if w.shape[0] != m:
        raise ValueError(f"{where}: weights must have shape ({m},) matching the operator's {m} rows; got "
                         f"{tuple(w.shape)}")
    return w


@dataclass(frozen=True, eq=False, repr=False)
class DiagonalOperator(Operator):
    """``diag(d)`` for a vector ``d`` (NumPy or CuPy)."""

    d: object
    symmetric: bool = field(default=True, init=False)

    def __post_init__(self):
        _set(self, d=as_float_array(self.d, "DiagonalOperator", "d", 1)[1])

    shape = property(lambda self: (self.d.shape[0], self.d.shape[0]))
    dtype = property(lambda self: self.d.dtype)
    xp = property(lambda self: array_namespace(self.d))
    nbytes = property(lambda self: nbytes_of(self.d))

    def _matmat(self, V):
        return self.d[:, None] * V

    def diagonal(self):
        return self.d

    def to_dense(self):
        return _linalg.identity(self.xp, self.shape[0], self.d) * self.d[None, :]

    def norm_estimate(self) -> float:
        """Exact: ||d||_2."""
        return float(self.xp.linalg.vector_norm(self.d))

    def gram(self, weights=None):
        squares = self.d * self.d
        if weights is None:
            return DiagonalOperator(squares)
        return DiagonalOperator(squares * _weights(self.xp, weights, self.shape[0], "DiagonalOperator.gram"))

    def _scaled(self, c):
        return DiagonalOperator(c * self.d)

    def _factorize(self, shift):
        return _elementwise_factorization("DiagonalOperator", self.xp, self.d, shift, self.shape[0])

    @property
    def cheaply_invertible(self):
        return True


def as_csr(A, where: str, arg: str = "A"):
    """A scipy.sparse matrix/array as a canonical ``csr_array`` of float32/float64 (integers become float64)."""
    import scipy.sparse as sp

    if not sp.issparse(A):
        raise TypeError(f"{where}: {arg} must be a scipy.sparse matrix or array; got {type(A).__name__}")
    if A.ndim != 2:
        raise ValueError(f"{where}: {arg} must be 2-D; got shape {A.shape}")
    kind = np.dtype(A.dtype).kind
    if kind not in "fiu" or kind == "f" and A.dtype not in (np.float32, np.float64):
        raise TypeError(f"{where}: {arg} must hold real numbers (float32 or float64); got dtype {A.dtype}")
    dtype = np.float64 if kind != "f" else A.dtype
    if isinstance(A, sp.csr_array) and A.dtype == dtype and A.has_canonical_format:
        return A  # already canonical (the check is cached on A): no copy per operator, ricci never writes into it
    csr = sp.csr_array(A, dtype=dtype, copy=True)
    csr.sum_duplicates()
    return csr


def is_symmetric_sparse(A) -> bool:
    """max |A - A'| <= sqrt(eps) max |A| for a square scipy.sparse matrix."""
    if A.shape[0] != A.shape[1]:
        return False
    if A.nnz == 0:
        return True
    diff = abs(A - A.T)
    largest = float(abs(A).max())
    return (float(diff.max()) if diff.nnz else 0.0) <= symmetry_tolerance(np, A.dtype) * largest


@dataclass(frozen=True, eq=False, repr=False)
class SparseOperator(Operator):
    """A scipy.sparse matrix (kept as a CSR array on the host, or the CSC array of a transposed view -- see
    :meth:`T` and :meth:`adopt`; products with NumPy arrays).

    Shifted solves: the sparse symmetric factorization of :func:`._op_base.sparse_spd_solver` (SuperLU with
    diagonal pivoting and a minimum-degree ordering of A + A'), which also decides positive definiteness."""

    A: object
    symmetric: bool | None = None

    def __post_init__(self):
        A = as_csr(self.A, "SparseOperator")
        symmetric = is_symmetric_sparse(A) if self.symmetric is None else bool(self.symmetric)
        _set(self, A=A, symmetric=symmetric)

    shape = property(lambda self: tuple(self.A.shape))
    dtype = property(lambda self: self.A.dtype)
    xp = property(lambda self: NUMPY)
    nbytes = property(lambda self: nbytes_of(self.A))

    def _matmat(self, V):
        return np.asarray(self.A @ V)

    def _rmatmat(self, U):
        return np.asarray(self.A.T @ U)

    @classmethod
    def adopt(cls, A, symmetric: bool | None = None) -> SparseOperator:
        """The operator of a scipy.sparse matrix its caller made for it and hands over: a ``csr_array`` (or
        the ``csc_array`` of a transposed view) in canonical format (sorted, summed indices) and a float dtype
        is kept as it is, sharing its arrays (the caller does not write to them later); anything else is
        converted as by the constructor. Saves the copy of data and indices the constructor makes."""
        import scipy.sparse as sp

        if (isinstance(A, (sp.csr_array, sp.csc_array)) and A.dtype in (np.float32, np.float64)
                and A.has_canonical_format):
            op = object.__new__(cls)
            _set(op, A=A, symmetric=is_symmetric_sparse(A) if symmetric is None else bool(symmetric))
            return op
        return cls(A, symmetric)

    @property
    def T(self):
        """The transpose as a view: the same arrays read as CSC (CSR) for a CSR (CSC) matrix, no copy."""
        return self if self.symmetric else SparseOperator.adopt(self.A.T, False)

    def transposed_csr(self):
        """A' as a CSR array: a copy, made on first use and kept with the operator (the two coupling blocks
        L' W R and R' W L of a Jacobian's Gram matrix take their products through the transposes of the same
        two blocks)."""
        held = self.__dict__.get("_transposed_csr")
        if held is None:
            held = self.A.T.tocsr()
            object.__setattr__(self, "_transposed_csr", held)
        return held

    def diagonal(self):
        return self.A.diagonal()

    def to_dense(self):
        return self.A.toarray()

    def norm_estimate(self) -> float:
        """Exact: the 2-norm of the stored (summed) nonzeros."""
        return float(np.linalg.norm(self.A.data))

    def gram(self, weights=None):
        from ._op_gram import GramOperator

        return GramOperator(self.A, weights)

    def _scaled(self, c):
        return SparseOperator(c * self.A, self.symmetric)

    def _factorize(self, shift):
        import scipy.sparse as sp

        M = self.A + shift * sp.identity(self.shape[0], dtype=self.dtype, format="csr") if shift else self.A
        solve = sparse_spd_solver(M, f"SparseOperator + {shift:g}*I")
        return Factorization(shift, "sparse-ldl", self.shape[0], NUMPY, solve)


def _check_shape(shape, where: str):
    if (not isinstance(shape, (tuple, list)) or len(shape) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise ValueError(f"{where}: shape must be a pair of non-negative integers (m, n); got {shape!r}")
    return (int(shape[0]), int(shape[1]))


_PROBES = 32


@dataclass(frozen=True, eq=False, repr=False, init=False)
class MatvecOperator(Operator):
    """An operator known only through its products: ``matvec(v)`` (and, optionally, ``rmatvec(u)``,
    ``matmat(V)``, ``rmatmat(U)``) — for example a scipy.sparse.linalg.LinearOperator.

    It has no diagonal and no factorization (both raise TypeError: use an iterative method such as CG);
    ``to_dense()`` builds the matrix from n products with the columns of the identity. Without ``matmat`` a
    product with an ``(n, k)`` matrix is k calls of ``matvec``. ``like`` (an array) gives the namespace and
    device of its vectors (default NumPy)."""

    shape: tuple
    matvec_fn: Callable
    rmatvec_fn: Callable | None
    dtype: object
    matmat_fn: Callable | None
    rmatmat_fn: Callable | None
    symmetric: bool
    like: object

    def __init__(self, shape, matvec, rmatvec=None, dtype=np.float64, *, matmat=None, rmatmat=None,
                 symmetric=False, like=None):
        shape = _check_shape(shape, "MatvecOperator")
        functions = {"matvec": matvec, "rmatvec": rmatvec, "matmat": matmat, "rmatmat": rmatmat}
        for arg, value in functions.items():
            if value is not None and not callable(value):
                raise TypeError(f"MatvecOperator: {arg} must be callable; got {type(value).__name__}")
        if matvec is None:
            raise TypeError("MatvecOperator: matvec must be a callable v -> A v; got None")
        if symmetric and shape[0] != shape[1]:
            raise ValueError(f"MatvecOperator: symmetric=True needs a square shape; got {shape}")
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"MatvecOperator: dtype must be float32 or float64; got {dtype!r}") from None
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"MatvecOperator: dtype must be float32 or float64; got {dtype}")
        if like is None:
            like = np.zeros((1,), dtype=dtype)
        elif not is_array_api_obj(like):
            raise TypeError(f"MatvecOperator: like must be an array (its namespace and device are used); got "
                            f"{type(like).__name__}")
        _set(self, shape=shape, matvec_fn=matvec, rmatvec_fn=rmatvec, dtype=dtype, matmat_fn=matmat,
             rmatmat_fn=rmatmat, symmetric=bool(symmetric), like=like)

    xp = property(lambda self: array_namespace(self.like))
    nbytes = property(lambda self: 0)

    def _apply(self, vector_fn, matrix_fn, V, rows: int, what: str):
        if matrix_fn is not None:
            out = matrix_fn(V)
        elif V.shape[1] == 1:
            out = self.xp.reshape(vector_fn(V[:, 0]), (-1, 1))
        else:
            columns = [self.xp.reshape(vector_fn(V[:, j]), (-1,)) for j in range(V.shape[1])]
            out = self.xp.stack(columns, axis=1) if columns else self.xp.zeros((rows, 0), dtype=self.dtype)
        out = self.xp.asarray(out)
        if out.shape != (rows, V.shape[1]):
            raise ValueError(f"MatvecOperator: {what} returned shape {tuple(out.shape)}; expected "
                             f"{(rows, V.shape[1]) if V.shape[1] != 1 else (rows,)}")
        return out

    def _matmat(self, V):
        return self._apply(self.matvec_fn, self.matmat_fn, V, self.shape[0], "matvec")

    def _rmatmat(self, U):
        if self.symmetric and self.rmatvec_fn is None:
            return self._matmat(U)
        if self.rmatvec_fn is None:
            raise TypeError("MatvecOperator: no rmatvec was given, so A' u is unavailable; pass rmatvec=")
        return self._apply(self.rmatvec_fn, self.rmatmat_fn, U, self.shape[1], "rmatvec")

    @property
    def T(self):
        if self.symmetric:
            return self
        if self.rmatvec_fn is None:
            raise TypeError("MatvecOperator: no rmatvec was given, so the transpose is unavailable")
        return MatvecOperator(self.shape[::-1], self.rmatvec_fn, self.matvec_fn, self.dtype,
                              matmat=self.rmatmat_fn, rmatmat=self.matmat_fn, like=self.like)

    def diagonal(self):
        raise TypeError("MatvecOperator knows only products: it has no diagonal (to_dense() builds the matrix "
                        "from n products if it is small)")

    def factorize(self, shift: float = 0.0):
        raise TypeError("MatvecOperator knows only products and cannot be factorized; solve with an iterative "
                        "method (conjugate gradients) instead")

    def norm_estimate(self) -> float:
        """Exact (from the dense form) when n <= 32; otherwise Hutchinson's estimate sqrt(mean ||A z||^2) over
        32 fixed Rademacher vectors z (E ||A z||^2 = ||A||_F^2; Hutchinson, Commun. Stat. Simul. Comput. 19,
        1990) — an estimate, not a bound."""
        n = self.shape[1]
        if n <= _PROBES:
            return super().norm_estimate()
        signs = np.random.default_rng(0).integers(0, 2, size=(n, _PROBES)) * 2.0 - 1.0
        Z = self.xp.asarray(signs.astype(self.dtype))
        return float(self.xp.linalg.matrix_norm(self._matmat(Z))) / math.sqrt(_PROBES)

    def _scaled(self, c):
        def scale(fn):
            return None if fn is None else (lambda v: c * fn(v))

        return MatvecOperator(self.shape, scale(self.matvec_fn), scale(self.rmatvec_fn), self.dtype,
                              matmat=scale(self.matmat_fn), rmatmat=scale(self.rmatmat_fn),
                              symmetric=self.symmetric, like=self.like)

    def _like(self):
        return self.xp.zeros((1,), dtype=self.dtype)
