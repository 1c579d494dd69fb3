"""The congruence ``J' H J`` of a symmetric operator H by an operator J: the generalized Gauss-Newton matrix.

For f(x) = L(z(x)) + P(x) with model output z (Jacobian J = dz/dx) and loss L (Hessian H = d2L/dz2), the
generalized Gauss-Newton matrix is ``J' H J + d2P/dx2`` (Schraudolph, "Fast curvature matrix-vector products for
second-order gradient descent", Neural Computation 14(7), 2002, Sec. 3). ``ricci.symbolic`` builds it from the
expression (``symbolic/_ggn_operator.congruence``: a diagonal H gives J's own Gram operator, any other H this
operator); this module knows nothing of expressions.

Shifted solves of ``J' H J + tau I`` (n x n, J of shape (m, n)):

- Woodbury, when ``m < n``, ``tau > 0`` and H is positive definite: with the Cholesky factor ``H = L L'`` and
  ``K = L' J`` (m x n), ``J' H J = K'K`` and
  ``(tau I + K'K)^-1 = tau^-1 (I - K' (tau I_m + K K')^-1 K)`` (the Sherman-Morrison-Woodbury formula, Golub &
  Van Loan, "Matrix Computations", 4th ed., 2013, Sec. 2.1.4): one m x m Cholesky factorization of
  ``tau I + L' (J J') L``, with ``J J'`` formed once from m products with J' (never J's n x n Gram), cached with
  L for every later shift;
- otherwise the Cholesky factorization of the dense ``J' H J + tau I`` (the operator default), which raises
  NotPositiveDefinite where H is indefinite.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _linalg
from ._op_base import Factorization, Operator, cholesky_solver, dense_factorization, shifted


@dataclass(frozen=True, eq=False, repr=False)
class CongruenceOperator(Operator):
    """``J' H J`` (n x n) for an operator J (m x n) and a symmetric operator H (m x m): the generalized
    Gauss-Newton matrix of a loss with Hessian H at the model output whose Jacobian is J (module docstring).

    Products cost one product with J, one with H and one with J'. ``to_dense()`` is ``J'(H J_dense)``,
    symmetrized (it is symmetric in exact arithmetic); ``diagonal()`` the column sums of ``J_dense .* (H
    J_dense)``; shifted solves by Woodbury where J is wide and H positive definite, else by the dense Cholesky
    factorization, raising ``NotPositiveDefinite`` when ``J' H J + shift I`` is not positive definite."""

    outer: Operator
    inner: Operator
    _cache: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        for name, op in (("J", self.outer), ("H", self.inner)):
            if not isinstance(op, Operator):
                raise TypeError(f"CongruenceOperator: {name} must be a ricci.solvers Operator; got "
                                f"{type(op).__name__}")
        m = self.outer.shape[0]
        if self.inner.shape != (m, m):
            raise ValueError(f"CongruenceOperator: H must be square with J's {m} rows; got H of shape "
                             f"{self.inner.shape} and J of shape {self.outer.shape}")
        if not self.inner.symmetric:
            raise ValueError("CongruenceOperator: H must be symmetric (a Hessian), so that J' H J is")
        if self.inner.xp is not self.outer.xp:
            raise TypeError(f"CongruenceOperator: J and H compute on different libraries ({self.outer.xp.__name__}, "
                            f"{self.inner.xp.__name__})")

    symmetric = True
    shape = property(lambda self: (self.outer.shape[1], self.outer.shape[1]))
    dtype = property(lambda self: np.result_type(self.outer.dtype, self.inner.dtype))
    xp = property(lambda self: self.outer.xp)
    nbytes = property(lambda self: self.outer.nbytes + self.inner.nbytes + sum(
        int(a.nbytes) for a in (self._cache.get("woodbury") or ())))

    def _matmat(self, V):
        return self.outer._rmatmat(self.inner._matmat(self.outer._matmat(V)))

    def _weighted_dense(self):
        """(J_dense, H J_dense)."""
        Jd = self.xp.asarray(self.outer.to_dense())
        return Jd, self.inner._matmat(Jd)

    def to_dense(self):
        xp = self.xp
        Jd, HJ = self._weighted_dense()
        G = xp.linalg.matrix_transpose(Jd) @ HJ
        return (G + xp.linalg.matrix_transpose(G)) / 2

    def diagonal(self):
        Jd, HJ = self._weighted_dense()
        return self.xp.sum(Jd * HJ, axis=0)

    def _factorize(self, shift):
        m, n = self.outer.shape
        if m < n and shift > 0.0:
            factors = self._woodbury_factors()
            if factors is not None:
                return Factorization(shift, "woodbury", n, self.xp, self._woodbury(shift, *factors))
        return dense_factorization(self, shift)

    def _woodbury_factors(self):
        """``(L, L' J J' L)`` with ``H = L L'``, formed once; None when H is not positive definite."""
        if "woodbury" not in self._cache:
            xp = self.xp
            L = _linalg.cholesky(xp, xp.asarray(self.inner.to_dense()))
            if L is None:
                self._cache["woodbury"] = None
            else:
                eye = _linalg.identity(xp, self.outer.shape[0], self._like())
                JJt = self.outer._matmat(self.outer._rmatmat(eye))
                Lt = xp.linalg.matrix_transpose(L)
                inner = Lt @ JJt @ L
                self._cache["woodbury"] = (L, (inner + xp.linalg.matrix_transpose(inner)) / 2)
        return self._cache["woodbury"]

    def _woodbury(self, shift, L, KKt):
        """The solve of the module docstring: x = (b - K'(shift I + K K')^-1 K b) / shift, K = L' J."""
        xp, J = self.xp, self.outer
        inner = cholesky_solver(xp, shifted(xp, KKt, shift), f"the Woodbury matrix of CongruenceOperator + "
                                                             f"{shift:g}*I")
        Lt = xp.linalg.matrix_transpose(L)

        def solve(B):
            K_B = Lt @ J._matmat(B)
            return (B - J._rmatmat(L @ inner(K_B))) / shift

        return solve

    def __repr__(self):
        return f"CongruenceOperator(J={self.outer!r}, H={self.inner!r})"
