"""Operators built from operators: sums and scalar multiples; the ``+`` rules that keep structure; the
host sparse form of an operator; and :func:`as_operator`.

Shifted solves of a sum (``SumOperator._factorize``), in order of preference:

1. scaled identities fold into the shift: ``lam I + G`` is solved as ``G.factorize(shift + lam)``;
2. what remains is diagonal: division; one operator plus diagonal terms: the rule of ``_DIAGONAL_RULES``
   for its type (the Gram operator's Woodbury/Cholesky with a diagonal shift, a block diagonal with the
   diagonal added to its blocks, a dense or sparse matrix with the diagonal added);
3. every term has a scipy.sparse form (``host_sparse``): the sparse symmetric LDL' of the summed matrix;
4. otherwise the dense fallback: Cholesky of ``to_dense() + shift I``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import singledispatch

import numpy as np
from array_api_compat import is_cupy_array, is_numpy_array

from ._op_base import (
    NUMPY,
    Factorization,
    Operator,
    dense_factorization,
    shifted,
    sparse_spd_solver,
)
from ._op_elementary import (
    DenseOperator,
    DiagonalOperator,
    MatvecOperator,
    ScaledIdentity,
    SparseOperator,
    _set,
)
from ._op_gram import GramOperator, _sparse_diag
from ._op_structured import BlockDiagonalOperator


def as_operator(obj) -> Operator:
    """An :class:`Operator` for ``obj``: an Operator is returned as is; a 2-D NumPy or CuPy array becomes a
    :class:`DenseOperator`; a scipy.sparse matrix or array a :class:`SparseOperator`; a
    scipy.sparse.linalg.LinearOperator a :class:`MatvecOperator` (products only). Anything else: TypeError."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import LinearOperator

    if isinstance(obj, Operator):
        return obj
    if sp.issparse(obj):
        return SparseOperator(obj)
    if isinstance(obj, LinearOperator):
        dtype = np.float64 if obj.dtype is None or np.dtype(obj.dtype).kind != "f" else obj.dtype
        return MatvecOperator(obj.shape, obj.matvec, _adjoint(obj, "rmatvec"), dtype, matmat=obj.matmat,
                              rmatmat=_adjoint(obj, "rmatmat"))
    if (is_numpy_array(obj) or is_cupy_array(obj)) and getattr(obj, "ndim", 0) == 2:
        return DenseOperator(obj)
    raise TypeError("as_operator: expected an Operator, a 2-D NumPy or CuPy array, a scipy.sparse matrix or a "
                    f"scipy.sparse.linalg.LinearOperator; got {type(obj).__module__}.{type(obj).__name__}"
                    + (f" of shape {tuple(obj.shape)}" if hasattr(obj, "shape") else ""))


def _adjoint(linear_operator, method: str):
    """The LinearOperator's transposed product, as a callable raising TypeError when it defines none."""
    bound = getattr(linear_operator, method)

    def call(u):
        try:
            return bound(u)
        except NotImplementedError:
            raise TypeError(f"the LinearOperator defines no {method} (A' u); give it one to use the "
                            "transposed operator") from None

    return call


# ---- sums -----------------------------------------------------------------------------------------------
def _check_compatible(a: Operator, b: Operator, where: str):
    if a.shape != b.shape:
        raise ValueError(f"{where}: shapes differ: {a.name} has shape {a.shape}, {b.name} has shape {b.shape}")
    if a.xp is not b.xp:
        raise TypeError(f"{where}: {a.name} computes on {a.xp.__name__} arrays, {b.name} on {b.xp.__name__}")


@dataclass(frozen=True, eq=False, repr=False, init=False)
class SumOperator(Operator):
    """``T_1 + ... + T_k`` of operators of one shape (nested sums are flattened). Solves: module docstring.
    ``norm_estimate`` is the sum of the terms' estimates (an upper bound when theirs are)."""

    terms: tuple
    symmetric: bool = False

    def __init__(self, terms):
        if isinstance(terms, Operator) or not isinstance(terms, (list, tuple)) or not terms:
            raise TypeError(f"SumOperator: terms must be a non-empty list of operators; got {type(terms).__name__}")
        flat = []
        for term in map(as_operator, terms):
            flat.extend(term.terms if isinstance(term, SumOperator) else (term,))
        for term in flat[1:]:
            _check_compatible(flat[0], term, "SumOperator")
        _set(self, terms=tuple(flat), symmetric=all(t.symmetric for t in flat))

    shape = property(lambda self: self.terms[0].shape)
    dtype = property(lambda self: np.result_type(*(t.dtype for t in self.terms)))
    xp = property(lambda self: self.terms[0].xp)
    nbytes = property(lambda self: sum(t.nbytes for t in self.terms))

    def _matmat(self, V):
        return sum(t._matmat(V) for t in self.terms[1:]) + self.terms[0]._matmat(V)

    def _rmatmat(self, U):
        return sum(t._rmatmat(U) for t in self.terms[1:]) + self.terms[0]._rmatmat(U)

    @property
    def T(self):
        return self if self.symmetric else SumOperator([t.T for t in self.terms])

    def diagonal(self):
        return sum(t.diagonal() for t in self.terms[1:]) + self.terms[0].diagonal()

    def to_dense(self):
        return sum(t.to_dense() for t in self.terms[1:]) + self.terms[0].to_dense()

    def norm_estimate(self) -> float:
        return sum(t.norm_estimate() for t in self.terms)

    def _scaled(self, c):
        return SumOperator([t._scaled(c) for t in self.terms])

    def _split(self):
        """(sum of the identity multiples, sum of the diagonal vectors or None, the other terms)."""
        identity = sum(t.c for t in self.terms if isinstance(t, ScaledIdentity))
        diagonals = [t.d for t in self.terms if isinstance(t, DiagonalOperator)]
        others = [t for t in self.terms if not isinstance(t, (ScaledIdentity, DiagonalOperator))]
        return float(identity), (sum(diagonals[1:]) + diagonals[0] if diagonals else None), others

    @property
    def cheaply_invertible(self):
        _, diagonal, others = self._split()
        return not others or (len(others) == 1 and others[0].cheaply_invertible
                              and (diagonal is None or type(others[0]) in _DIAGONAL_RULES))

    def _factorize(self, shift):
        identity, diagonal, others = self._split()
        delta = shift + identity
        if not others:
            rest = DiagonalOperator(diagonal) if diagonal is not None else ScaledIdentity(self.shape[0], 0.0,
                                                                                          self._like())
            return replace(rest._factorize(delta), shift=shift)
        if len(others) == 1 and diagonal is None:
            return replace(others[0]._factorize(delta), shift=shift)
        if len(others) == 1 and type(others[0]) in _DIAGONAL_RULES:
            return replace(_DIAGONAL_RULES[type(others[0])](others[0], diagonal, delta), shift=shift)
        matrix = host_sparse(self)
        if matrix is not None:
            import scipy.sparse as sp

            M = matrix + shift * sp.identity(self.shape[0], format="csr") if shift else matrix
            solve = sparse_spd_solver(M, f"SumOperator + {shift:g}*I")
            return Factorization(shift, "sparse-ldl", self.shape[0], NUMPY, solve)
        return dense_factorization(self, shift, "dense-fallback")


_DIAGONAL_RULES = {  # (operator, diagonal vector d, scalar shift) -> factorization of operator + diag(d) + shift I
    GramOperator: lambda op, d, delta: op.factorize_with_diagonal(d + (op.shift + delta), delta),
    BlockDiagonalOperator: lambda op, d, delta: op.plus_diagonal(d)._factorize(delta),
    DenseOperator: lambda op, d, delta: DenseOperator(shifted(op.xp, op.A, d), True)._factorize(delta),
    SparseOperator: lambda op, d, delta: SparseOperator(op.A + _sparse_diag(d), True)._factorize(delta),
}


@dataclass(frozen=True, eq=False, repr=False)
class ScaledOperator(Operator):
    """``c A`` for an operator without a structured multiple of its own."""

    operator: Operator
    c: float

    symmetric = property(lambda self: self.operator.symmetric)
    shape = property(lambda self: self.operator.shape)
    dtype = property(lambda self: self.operator.dtype)
    xp = property(lambda self: self.operator.xp)
    nbytes = property(lambda self: self.operator.nbytes)

    def _matmat(self, V):
        return self.c * self.operator._matmat(V)

    def _rmatmat(self, U):
        return self.c * self.operator._rmatmat(U)

    @property
    def T(self):
        return self if self.symmetric else ScaledOperator(self.operator.T, self.c)

    def diagonal(self):
        return self.c * self.operator.diagonal()

    def to_dense(self):
        return self.c * self.operator.to_dense()

    def norm_estimate(self) -> float:
        return abs(self.c) * self.operator.norm_estimate()

    def _scaled(self, c):
        return ScaledOperator(self.operator, c * self.c)

    @property
    def cheaply_invertible(self):
        return self.c > 0 and self.operator.cheaply_invertible

    def _factorize(self, shift):
        """``c A + s I = c (A + (s / c) I)`` for c > 0; the dense fallback otherwise."""
        if self.c <= 0:
            return dense_factorization(self, shift, "dense-fallback")
        inner, c = self.operator._factorize(shift / self.c), self.c
        return Factorization(shift, inner.method, inner.size, inner.xp, lambda B: inner._solve_matrix(B) / c)


# ---- + that keeps structure -----------------------------------------------------------------------------
def _both(rule):
    """A rule for an unordered pair of types: (a, b) and (b, a) call ``rule`` with the arguments in order."""
    return rule, (lambda b, a: rule(a, b))


_ADD_RULES = {}
for (_left, _right), _rule in {
    (ScaledIdentity, ScaledIdentity): lambda a, b: ScaledIdentity(a.n, a.c + b.c, a.like),
    (DiagonalOperator, DiagonalOperator): lambda a, b: DiagonalOperator(a.d + b.d),
    (DiagonalOperator, ScaledIdentity): lambda a, b: DiagonalOperator(a.d + b.c),
    (DenseOperator, DenseOperator): lambda a, b: DenseOperator(a.A + b.A, a.symmetric and b.symmetric or None),
    (SparseOperator, SparseOperator): lambda a, b: SparseOperator(a.A + b.A, a.symmetric and b.symmetric or None),
    (GramOperator, ScaledIdentity): lambda a, b: GramOperator(a.A, a.d, a.shift + b.c),
}.items():
    forward, backward = _both(_rule)
    _ADD_RULES[(_left, _right)] = forward
    _ADD_RULES.setdefault((_right, _left), backward)


def add_operators(a, b) -> Operator:
    """``a + b`` with the structured result where one is cheap (``_ADD_RULES``), else a :class:`SumOperator`."""
    a, b = as_operator(a), as_operator(b)
    _check_compatible(a, b, "operator +")
    rule = _ADD_RULES.get((type(a), type(b)))
    return rule(a, b) if rule is not None else SumOperator([a, b])


# ---- host sparse forms -------------------------------------------------------------------------------------
@singledispatch
def host_sparse(op):
    """The operator as a scipy.sparse CSR array, or None where it has no sparse form (dense, Kronecker,
    products only, or arrays on a device)."""
    return


@host_sparse.register
def _(op: SparseOperator):
    return op.A if op.A.format == "csr" else op.A.tocsr()  # a transposed view (CSC) is converted when asked


@host_sparse.register
def _(op: DiagonalOperator):
    return _sparse_diag(op.d).tocsr() if op.xp is NUMPY else None


@host_sparse.register
def _(op: ScaledIdentity):
    import scipy.sparse as sp

    return op.c * sp.identity(op.n, dtype=op.dtype, format="csr") if op.xp is NUMPY else None


@host_sparse.register
def _(op: GramOperator):
    import scipy.sparse as sp

    if op.kind != "sparse":
        return None
    return op.gram_matrix() + op.shift * sp.identity(op.shape[0], format="csr") if op.shift else op.gram_matrix()


@host_sparse.register
def _(op: BlockDiagonalOperator):
    import scipy.sparse as sp

    if op.xp is not NUMPY:
        return None
    b, p, q = op.blocks.shape
    return sp.bsr_array((op.blocks, np.arange(b), np.arange(b + 1)), shape=(b * p, b * q)).tocsr()


@host_sparse.register
def _(op: SumOperator):
    parts = [host_sparse(t) for t in op.terms]
    return None if any(p is None for p in parts) else sum(parts[1:]) + parts[0]


@host_sparse.register
def _(op: ScaledOperator):
    inner = host_sparse(op.operator)
    return None if inner is None else op.c * inner
