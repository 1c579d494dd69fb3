"""The user's derivative values as operators: what ``hess``, ``hess_operator``, ``jac`` and ``jac_operator`` may
return, and the checks the solvers apply to them.

A derivative may come as a dense array (of x's namespace), a scipy.sparse matrix (with NumPy x), an
:class:`~._operators.Operator` of the family, or a scipy.sparse.linalg.LinearOperator (products only); each is
turned into an Operator by :func:`derivative_operator`. Dense arrays of array-API libraries other than NumPy
and CuPy (array-api-strict, ...) are kept as a :class:`NamespaceDense`, a dense operator that computes in
that namespace: the operator family validates NumPy and CuPy arrays, while the solvers run on any array-API
library (DESIGN.md, "solvers/").
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from array_api_compat import (
    is_array_api_obj,
    is_cupy_array,
    is_numpy_array,
)

from ._arrays import NonFiniteValue, all_finite, as_array
from ._op_base import Factorization, cholesky_solver, is_symmetric_dense, shifted
from ._op_compose import ScaledOperator, SumOperator
from ._operators import (
    BlockOperator,
    DenseOperator,
    MatvecOperator,
    Operator,
    SparseOperator,
    as_operator,
)


@dataclass(frozen=True, eq=False)
class _NamespaceFactorization(Factorization):
    """A :class:`Factorization` whose right-hand sides are arrays of any array-API namespace."""

    def solve(self, b):
        return self._solve_matrix(b[:, None])[:, 0] if b.ndim == 1 else self._solve_matrix(b)


@dataclass(frozen=True, eq=False, repr=False)
class NamespaceDense(DenseOperator):
    """The dense operator of an array of an array-API library other than NumPy and CuPy.

    The same mathematics as :class:`DenseOperator` (products with ``A``, Cholesky of ``A + shift I`` for solves,
    Golub & Van Loan, "Matrix Computations", 4th ed., 2013, Algorithm 4.2.1), with products and solves taking
    arrays of ``A``'s namespace as they come (the family's argument checks read NumPy/CuPy dtypes)."""

    def __post_init__(self):
        symmetric = (is_symmetric_dense(self.xp, self.A) if self.symmetric is None else bool(self.symmetric))
        object.__setattr__(self, "symmetric", symmetric)

    nbytes = property(lambda self: math.prod(self.A.shape) * self.xp.finfo(self.A.dtype).bits // 8)

    def matvec(self, v):
        return self.A @ v

    def rmatvec(self, u):
        return self.xp.linalg.matrix_transpose(self.A) @ u

    @property
    def T(self):
        return self if self.symmetric else NamespaceDense(self.xp.linalg.matrix_transpose(self.A), False)

    def gram(self, weights=None):
        """``A' diag(weights) A``, formed (a dense matrix has no cheaper structure)."""
        xp = self.xp
        At = xp.linalg.matrix_transpose(self.A)
        return NamespaceDense(At @ (self.A if weights is None else weights[:, None] * self.A), True)

    def _scaled(self, c):
        return NamespaceDense(c * self.A, self.symmetric)

    def _factorize(self, shift):
        solve = cholesky_solver(self.xp, shifted(self.xp, self.A, shift), f"the Hessian + {shift:g}*I")
        return _NamespaceFactorization(shift, "cholesky", self.shape[0], self.xp, solve)


def dense_operator(A, *, symmetric: bool | None):
    """The dense operator of an array of any array-API namespace."""
    if is_numpy_array(A) or is_cupy_array(A):
        return DenseOperator(A, symmetric)
    return NamespaceDense(A, symmetric)


def dense_form(op: Operator):
    """The array of a dense operator (free), the cached dense form of a small block operator (assembled once:
    ``_op_block.DENSE_BYTES``), or None for any other operator."""
    if isinstance(op, DenseOperator):
        return op.A
    if isinstance(op, BlockOperator) and op.small:
        return op.dense_array()
    return None


def derivative_operator(value, xp, like, shape: tuple, what: str, *, symmetric: bool):
    """``(operator, user_form)`` for a derivative the user's function ``what`` returned: a dense array (checked
    and converted by :func:`._arrays.as_array`, which also refuses complex and text values), a scipy.sparse
    matrix, an Operator or a scipy LinearOperator, of the given ``shape``. ``user_form`` is what the result
    reports: the converted array for dense input, the operator otherwise. ``symmetric`` is what a dense or
    sparse value is taken to be (a Hessian is symmetric by definition; a Jacobian is not), so that no
    symmetry test runs on every evaluation."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import LinearOperator

    if isinstance(value, (Operator, LinearOperator)):
        op = as_operator(value)
    elif sp.issparse(value):
        if not is_numpy_array(like):
            raise TypeError(f"{what} returned a scipy.sparse matrix, which computes on NumPy arrays, but x0 is a "
                            f"{type(like).__module__}.{type(like).__name__}; return an array of x0's library")
        op = SparseOperator(value, symmetric if symmetric else None)
    elif is_array_api_obj(value) and not isinstance(value, np.generic) or isinstance(value, (list, tuple)):
        arr = as_array(xp, value, like, shape, what)
        return dense_operator(arr, symmetric=symmetric), arr
    else:
        raise TypeError(f"{what} must return an array of shape {shape}, a scipy.sparse matrix, a "
                        "ricci.solvers Operator or a scipy.sparse.linalg.LinearOperator; got "
                        f"{type(value).__module__}.{type(value).__name__}")
    if tuple(op.shape) != tuple(shape):
        raise ValueError(f"{what} must return an operator of shape {shape}; got {op.name} of shape {op.shape}")
    if op.xp is not xp:
        raise TypeError(f"{what} returned {op.name}, which computes on {op.xp.__name__} arrays, but x0 is a "
                        f"{type(like).__module__}.{type(like).__name__}; the operator must compute on x0's library")
    return op, op


def check_finite(op: Operator, what: str) -> None:
    """NonFiniteValue when the operator holds NaN or inf where that is cheap to see: every entry of a dense or
    sparse matrix, otherwise the diagonal (an operator known only through products: nothing)."""
    if isinstance(op, DenseOperator):
        finite = all_finite(op.xp, op.A)
    elif isinstance(op, SparseOperator):
        finite = bool(np.all(np.isfinite(op.A.data)))
    elif products_only(op):
        return
    else:
        finite = all_finite(op.xp, op.diagonal())
    if not finite:
        raise NonFiniteValue(f"The {what} has NaN or inf entries.")


def products_only(op: Operator) -> bool:
    """True when the operator is known only through products (a MatvecOperator, or a sum or multiple with one):
    it has no diagonal and no factorization."""
    if isinstance(op, MatvecOperator):
        return True
    if isinstance(op, ScaledOperator):
        return products_only(op.operator)
    if isinstance(op, SumOperator):
        return any(products_only(t) for t in op.terms)
    return False


def diagonal_or_none(op: Operator):
    """The operator's diagonal, or None when it has none (known only through products)."""
    return None if products_only(op) else op.diagonal()
