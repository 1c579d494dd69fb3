"""The Jacobian J of the residuals as an operator, and the linear algebra the least-squares steps do with it.

The Gauss-Newton model m(p) = 1/2 ||r + J p||^2 has gradient g = J'r and Hessian J'J. Both least-squares
methods solve with ``J_s'J_s + mu I`` for the column-scaled Jacobian ``J_s = J S`` (S = D^-1 for
Levenberg-Marquardt's scaling, x_scale for Gauss-Newton's), and the structure of J decides how (issue 10,
item 6; Nocedal & Wright (2006), Section 10.3 for the normal equations and for LSQR):

* a dense J: the normal matrix J_s'J_s is formed (a dense J has no cheaper structure) and factorized densely,
  exactly as before operators;
* a structured J (sparse, block, block diagonal, diagonal, ...): the normal equations are kept in the
  structure, ``J_s.gram()`` (a sparse J'J stays sparse, a block J gives a block Gram solved through a Schur
  complement), with J_s formed by scaling J's columns in its own structure (:func:`scale_columns`, a table of
  rules per operator type); where no rule applies, the Gram of J is scaled instead (:class:`ScaledGram`).
  For a factorization's J = [[J_U, J_V], [c I, 0], [0, c I]] the corner J_U'J_U + D is recognised block
  diagonal (r x r per row of U) and eliminated as bundle adjusters do (issue 11): the Schur complement onto V,
  solved by conjugate gradients with products through J_U and J_V (``_op_schur``), so neither J'J nor the
  coupling J_U'J_V is formed densely;
* a J known only through products (a scipy LinearOperator): J'J would cost n products to form, so the damped
  problem ``min ||J_s q + r||^2 + mu ||q||^2``, i.e. the least-squares problem of ``[J_s; sqrt(mu) I]``, is
  solved by LSQR (Paige & Saunders, ACM TOMS 8, 1982) with ``damp = sqrt(mu)``: :func:`damped_solve`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import singledispatch

import numpy as np
from array_api_compat import array_namespace, is_cupy_namespace, is_numpy_namespace

from ._arrays import all_finite, max_abs
from ._operators import (
    BlockDiagonalOperator,
    BlockOperator,
    DenseOperator,
    DiagonalOperator,
    Factorization,
    Operator,
    ScaledIdentity,
    ScaledOperator,
    SparseOperator,
    SumOperator,
)
from ._user_operators import dense_form, dense_operator, products_only


# ---- facts about J ------------------------------------------------------------------------------------------
def magnitude(J: Operator) -> float:
    """A bound on the largest entry of J, for the power-of-two scaling: the exact max |J_ij| of a dense or
    sparse J, otherwise the norm estimate (>= max |J_ij| where it is the Frobenius norm or a bound on it)."""
    A = dense_form(J)
    if A is not None:
        return max_abs(J.xp, A)
    if isinstance(J, SparseOperator):
        return float(np.max(np.abs(J.A.data))) if J.A.nnz else 0.0
    return J.norm_estimate()


def is_finite(J: Operator) -> bool:
    """Whether J visibly holds only finite values: every entry of a dense or sparse J, else the norm estimate
    (NaN or inf entries make it NaN or inf)."""
    A = dense_form(J)
    if A is not None:
        return all_finite(J.xp, A)
    if isinstance(J, SparseOperator):
        return bool(np.all(np.isfinite(J.A.data)))
    return math.isfinite(J.norm_estimate())


def column_norms(J: Operator):
    """||J e_j|| for every column j: from the dense array, or the diagonal of J's Gram in its structure; None
    for a J known only through products (n products would be needed)."""
    A = dense_form(J)
    if A is not None:
        return J.xp.linalg.vector_norm(A, axis=0)
    if products_only(J):
        return None
    xp = J.xp
    return xp.sqrt(xp.maximum(J.gram().diagonal(), xp.zeros((J.shape[1],), dtype=J.dtype)))


# ---- column scaling J S, a table of rules per operator type ---------------------------------------------------
@singledispatch
def scale_columns(J, s):
    """``J diag(s)`` in J's own structure, or None where no rule keeps it (the caller scales the Gram)."""
    return


@scale_columns.register
def _(J: DenseOperator, s):  # dense: scale the array (NamespaceDense too, the subclass of other namespaces)
    return dense_operator(J.A * s[None, :], symmetric=False)


@scale_columns.register
def _(J: SparseOperator, s):  # sparse: scale the stored entries of each column
    import scipy.sparse as sp

    return SparseOperator(J.A @ sp.diags_array(np.asarray(s)), False)


@scale_columns.register
def _(J: DiagonalOperator, s):
    return DiagonalOperator(J.d * s) if J.shape[0] == J.shape[1] else None


@scale_columns.register
def _(J: ScaledIdentity, s):
    return DiagonalOperator(J.c * s)


@scale_columns.register
def _(J: BlockDiagonalOperator, s):  # block j's columns by their slice of s
    b, _, q = J.blocks.shape
    return BlockDiagonalOperator(J.blocks * J.xp.reshape(s, (b, 1, q)))


@scale_columns.register
def _(J: BlockOperator, s):  # each block by the slice of s of its block column
    offsets = np.cumsum((0,) + J.col_sizes)
    grid = []
    for row in J.blocks:
        scaled_row = []
        for j, block in enumerate(row):
            if block is None:
                scaled_row.append(None)
                continue
            scaled = scale_columns(block, s[int(offsets[j]):int(offsets[j + 1])])
            if scaled is None:
                return None
            scaled_row.append(scaled)
        grid.append(scaled_row)
    return BlockOperator(grid, False)


@scale_columns.register
def _(J: ScaledOperator, s):
    inner = scale_columns(J.operator, s)
    return None if inner is None else J.c * inner


@scale_columns.register
def _(J: SumOperator, s):
    terms = [scale_columns(t, s) for t in J.terms]
    return None if any(t is None for t in terms) else SumOperator(terms)


@dataclass(frozen=True, eq=False, repr=False)
class ScaledGram(Operator):
    """``S G S`` for a symmetric operator G (a Gram J'J) and S = diag(s), s > 0: the Gram of J S where J's
    structure has no column-scaling rule. Shifted solves use
    ``S G S + mu I = S (G + mu S^-2) S``: one factorization of G plus a diagonal, in G's structure."""

    G: Operator
    s: object
    symmetric = True

    shape = property(lambda self: self.G.shape)
    dtype = property(lambda self: self.G.dtype)
    xp = property(lambda self: self.G.xp)
    nbytes = property(lambda self: self.G.nbytes)

    def _matmat(self, V):
        return self.s[:, None] * self.G._matmat(self.s[:, None] * V)

    def diagonal(self):
        return self.s * self.s * self.G.diagonal()

    def to_dense(self):
        return self.s[:, None] * self.G.to_dense() * self.s[None, :]

    def norm_estimate(self) -> float:
        """A bound: ||S G S||_F <= max(s)^2 ||G||_F."""
        return max_abs(self.xp, self.s) ** 2 * self.G.norm_estimate()

    def _factorize(self, shift):
        inner = self.G.factorize(0.0) if shift == 0.0 else (self.G + DiagonalOperator(shift / (self.s * self.s))
                                                            ).factorize(0.0)
        s = self.s
        return Factorization(shift, f"scaled-{inner.method}", inner.size, inner.xp,
                             lambda B: inner._solve_matrix(B / s[:, None]) / s[:, None])


def scaled_gram(J: Operator, s=None) -> Operator:
    """The Gauss-Newton matrix ``(J S)'(J S)`` (S = diag(s); s None: the identity) as an operator with shifted
    solves: formed densely for a dense J (or a small block J, densified once: ``_op_block.DENSE_BYTES``), in
    J's structure otherwise (see the module docstring)."""
    A = dense_form(J)
    if A is not None:
        xp = J.xp
        if s is not None:
            A = A * s[None, :]
        return dense_operator(xp.linalg.matrix_transpose(A) @ A, symmetric=True)
    if s is not None:
        scaled = scale_columns(J, s)
        if scaled is None:
            return ScaledGram(J.gram(), s)
        J = scaled
    return J.gram()


# ---- LSQR for a J known only through products -------------------------------------------------------------
def _linear_operator(xp, J: Operator, s):
    """J diag(s) as the LinearOperator of scipy (NumPy) or cupyx (CuPy)."""
    if is_numpy_namespace(xp):
        from scipy.sparse.linalg import LinearOperator
    elif is_cupy_namespace(xp):
        from cupyx.scipy.sparse.linalg import LinearOperator
    else:
        raise TypeError(f"a Jacobian known only through products needs NumPy or CuPy arrays (LSQR); got "
                        f"{xp.__name__}")
    if s is None:
        return LinearOperator(J.shape, matvec=J.matvec, rmatvec=J.rmatvec, dtype=J.dtype)
    return LinearOperator(J.shape, matvec=lambda v: J.matvec(s * v.reshape(-1)),
                          rmatvec=lambda u: s * J.rmatvec(u.reshape(-1)), dtype=J.dtype)


def damped_solve(J: Operator, r, damp: float, s=None, *, tol: float = 1e-10):
    """``q`` minimizing ``||J S q + r||^2 + damp^2 ||q||^2`` (S = diag(s), s None: the identity), by LSQR on
    NumPy (scipy) or LSMR on CuPy (cupyx, which has no damped LSQR); with damp = 0 the minimum-norm
    least-squares solution. Both are Golub-Kahan bidiagonalizations of J S (Paige & Saunders 1982; Fong &
    Saunders, SIAM J. Sci. Comput. 33, 2011) and need only products with J and J'."""
    xp = array_namespace(r)
    A = _linear_operator(xp, J, s)
    limit = 10 * min(J.shape)
    if is_numpy_namespace(xp):
        from scipy.sparse.linalg import lsqr

        q = lsqr(A, -np.asarray(r), damp=damp, atol=tol, btol=tol, conlim=1e12, iter_lim=limit)[0]
    else:
        from cupyx.scipy.sparse.linalg import lsmr

        q = lsmr(A, -r, damp=damp, atol=tol, btol=tol, conlim=1e12, maxiter=limit)[0]
    q = xp.asarray(q, dtype=r.dtype)
    return q


def lsqr_trust_region(xp, J: Operator, r, s, radius: float, *, k_easy: float = 0.1, maxiter: int = 30):
    """The Levenberg-Marquardt subproblem ``min 1/2 ||J S q + r||^2 subject to ||q|| <= radius`` for a J known
    only through products: q(mu) = :func:`damped_solve` with damp = sqrt(mu), and mu >= 0 from the secular
    equation phi(mu) = 1/||q(mu)|| - 1/radius = 0 (More 1978, Section 3; phi is increasing and nearly
    linear) by regula falsi with the Illinois modification inside the bracket [0, ||(J S)'r|| / radius]
    (||q(mu)|| <= ||(J S)'r|| / mu), to | ||q|| - radius | <= k_easy radius. Returns a SubproblemSolution."""
    from ._arrays import norm
    from ._more_sorensen import SubproblemSolution

    q = damped_solve(J, r, 0.0, s)
    q_norm = norm(xp, q)
    if q_norm <= radius:
        return SubproblemSolution(q, 0.0, False, 1)
    g = J.rmatvec(r) if s is None else s * J.rmatvec(r)
    lo, phi_lo = 0.0, 1.0 / q_norm - 1.0 / radius
    hi = norm(xp, g) / radius
    q_hi = damped_solve(J, r, math.sqrt(hi), s)
    phi_hi = 1.0 / max(norm(xp, q_hi), 1e-300) - 1.0 / radius
    solves, side = 2, 0
    for _ in range(maxiter):
        mu = hi if phi_hi == phi_lo else lo - phi_lo * (hi - lo) / (phi_hi - phi_lo)
        if not lo < mu < hi:
            mu = 0.5 * (lo + hi)
        q = damped_solve(J, r, math.sqrt(mu), s)
        solves += 1
        q_norm = norm(xp, q)
        if abs(q_norm - radius) <= k_easy * radius:
            return SubproblemSolution(q, mu, True, solves)
        phi = 1.0 / q_norm - 1.0 / radius
        if phi < 0:
            lo, phi_lo = mu, phi
            phi_hi = 0.5 * phi_hi if side == -1 else phi_hi  # Illinois: halve the end that stayed twice
            side = -1
        else:
            hi, phi_hi, q_hi = mu, phi, q
            phi_lo = 0.5 * phi_lo if side == 1 else phi_lo
            side = 1
    return SubproblemSolution(q_hi, hi, True, solves)  # the feasible end of the bracket
