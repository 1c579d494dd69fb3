"""The safeguarded Newton step: a factorization of the Hessian with an added multiple of the identity.

Algorithm 3.3 of Nocedal & Wright (2006), "Cholesky with added multiple of the identity": factor
``H + tau I`` for tau = 0, 2 tau_0, 4 tau_0, ... until the factorization succeeds, starting from
``tau_0 = 0`` when the diagonal is positive and ``tau_0 = beta - min_i H_ii`` otherwise. The step solves
``(H + tau I) p = -g``; since ``H + tau I`` is positive definite, ``g'p < 0`` whenever ``g != 0``, so
indefinite and singular Hessians still give descent directions. ``beta`` is taken relative to the Hessian's
scale (``beta * ||H||_F / sqrt(n)``) so that the safeguard does not depend on the units of f.

H is an operator (``_operators.py``): ``H.factorize(tau)`` is the cheapest exact factorization its structure
allows (Cholesky for a dense matrix, Woodbury or the Gram's Cholesky for ``lam I + X' D X``, batched Cholesky
for a block diagonal, sparse LDL' for a sparse matrix, ...) and raises NotPositiveDefinite where Algorithm 3.3's
Cholesky fails; ``H.diagonal()`` gives min_i H_ii and ``H.norm_estimate()`` the Frobenius norm (exact for a
dense, sparse, diagonal or block-diagonal H; an upper bound for a Gram or a sum, which only makes beta larger).

The Newton direction asks for ``H.solver(tau, rtol=NEWTON_RTOL)`` rather than a factorization: where the
structure makes it cheaper (a block operator whose block-diagonal part is eliminated onto a large Schur
complement, as in matrix factorization) that is conjugate gradients on the Schur complement to a relative
residual of 1e-10 (``_op_schur``), which reports an indefinite ``H + tau I`` when its cheap exact tests (the
diagonal blocks) or the iteration (a direction of non-positive curvature) find it; tau is then doubled exactly
as after a failed Cholesky factorization. Each tried tau costs a few products instead of forming and
factorizing the Schur complement (at 600 x 500, rank 8: seven shifts took 30 s through the factorization).

Where tau > 0 the shifted step alone converges to saddle points from starts on their stable manifold (f = x^2 -
y^2 + y^4 from (x, 0)); :func:`negative_curvature_direction` supplies the direction of negative curvature d of
More & Sorensen (1979) for the curvilinear search x + a^2 s + a d (``_line_search_driver.py``) and for dogleg.
"""
from __future__ import annotations

import math

from array_api_compat import is_numpy_namespace

from ._arrays import NonFiniteValue, SolverOverflow, all_finite, dot, norm
from ._operators import NotPositiveDefinite
from ._user_operators import dense_form


def hessian_scale(xp, H, *, positive_semidefinite: bool = False) -> float:
    """||H||_F / sqrt(n) as a host float: the size of a typical eigenvalue, the unit of beta.

    A dense H whose squared entries overflow is measured on H / max|H_ij|; NaN or inf entries (of a dense H,
    or in the norm of any other) are a NonFiniteValue. For a structured H known to be positive semidefinite (a
    Gauss-Newton matrix J'J) the mean eigenvalue tr(H) / n is used instead: it comes from the diagonal, which
    every structure gives cheaply, where a norm estimate may not."""
    n = H.shape[0]
    A = dense_form(H)
    if positive_semidefinite and A is None:
        trace = float(xp.sum(H.diagonal()))
        if not math.isfinite(trace):
            raise NonFiniteValue("The Hessian has NaN or inf entries.")
        return max(trace, 0.0) / n
    frobenius = H.norm_estimate()
    if frobenius == 0.0 or not math.isfinite(frobenius):
        if A is not None:  # H = 0, non-finite, or squares beyond the range
            largest = float(xp.max(xp.abs(A)))
            if not math.isfinite(largest):
                raise NonFiniteValue("The Hessian has NaN or inf entries.")
            frobenius = largest * float(xp.linalg.vector_norm(A / largest)) if largest > 0 else 0.0
        elif math.isnan(frobenius) or not all_finite(H.xp, H.diagonal()):
            raise NonFiniteValue("The Hessian has NaN or inf entries.")
    scale = frobenius / math.sqrt(n)
    if not math.isfinite(scale):
        raise SolverOverflow("The Frobenius norm of the (finite) Hessian overflowed.")
    return scale


#: The relative residual to which the Newton step is solved where the Hessian's structure offers an iterative
#: solve (``Operator.solver``: conjugate gradients on a block operator's Schur complement): 1e-10 makes the
#: step the exact Newton step to that accuracy, at a fraction of a factorization's cost at scale.
NEWTON_RTOL = 1e-10


def _initial_shift(xp, H, beta: float, positive_semidefinite: bool):
    """``(tau_0, beta_abs)`` of Algorithm 3.3, or None when H = 0."""
    scale = hessian_scale(xp, H, positive_semidefinite=positive_semidefinite)
    if scale == 0.0:
        return None
    beta_abs = beta * scale
    min_diag = float(xp.min(H.diagonal()))
    if math.isnan(min_diag):
        raise NonFiniteValue("The Hessian has NaN or inf entries.")
    return (0.0 if min_diag > 0 else beta_abs - min_diag), beta_abs


def shifted_factorization(xp, H, *, beta: float = 1e-3, max_doublings: int = 200,
                          positive_semidefinite: bool = False, preconditioner: bool = False):
    """Algorithm 3.3 of Nocedal & Wright (2006): the factorization of ``H + tau I`` for the smallest tried
    ``tau`` with ``H + tau I`` positive definite (``.shift`` is tau, ``.solve(b)`` solves with it).
    ``positive_semidefinite``: H is known to be (see :func:`hessian_scale`). An exact factorization, or with
    ``preconditioner`` the fixed positive definite approximation ``H.preconditioner(tau)`` (exact unless the
    structure has a much cheaper one: a block operator's block-Jacobi Schur complement where the exact one
    would be a large dense matrix); :func:`newton_direction` may solve iteratively instead."""
    start = _initial_shift(xp, H, beta, positive_semidefinite)
    if start is None:  # H = 0: the identity is the natural model
        return H.factorize(1.0)
    tau, beta_abs = start
    for _ in range(max_doublings):
        try:
            return H.preconditioner(tau) if preconditioner else H.factorize(tau)
        except NotPositiveDefinite:
            tau = max(2.0 * tau, beta_abs)
    raise SolverOverflow("No shift made the Hessian positive definite.")  # pragma: no cover


def newton_direction(xp, H, g, *, beta: float = 1e-3, positive_semidefinite: bool = False,
                     rtol: float | None = NEWTON_RTOL, max_doublings: int = 200):
    """Solve ``(H + tau I) p = -g`` with tau from Algorithm 3.3 (as :func:`shifted_factorization`); returns
    ``(p, tau)``. ``rtol``: the solve may be iterative to this relative residual where H's structure makes
    that cheaper (``Operator.solver``; None: always a factorization); a NotPositiveDefinite from the solve
    (negative curvature met by the iteration) doubles tau as a failed factorization does."""
    start = _initial_shift(xp, H, beta, positive_semidefinite)
    tau, beta_abs = (1.0, 1.0) if start is None else start
    for _ in range(max_doublings):
        try:
            p = -H.solver(tau, rtol=rtol).solve(g)
            break
        except NotPositiveDefinite:
            tau = max(2.0 * tau, beta_abs)
    else:  # pragma: no cover
        raise SolverOverflow("No shift made the Hessian positive definite.")
    if p.dtype != g.dtype:  # an operator of another precision than x
        p = xp.astype(p, g.dtype)
    if not all_finite(xp, p):
        raise SolverOverflow("The Newton step (H + tau I)^-1 g overflowed.")
    return p, tau


#: Dense Hessians up to this order get their smallest eigenpair from a full ``eigh``; larger ones (and every
#: structured operator) from Lanczos on products (``_lanczos.smallest_eigenpair``).
DENSE_EIGH_MAX = 600

#: A curvature lambda_min counts as negative when below -NEGATIVE_CURVATURE_TOL times the Hessian's scale.
NEGATIVE_CURVATURE_TOL = 1e-8


def _smallest_dense_eigenpair(xp, A):
    """The smallest eigenvalue of a dense symmetric A and its eigenvector: LAPACK's ``syevr`` for that one
    pair (``scipy.linalg.eigh(subset_by_index=[0, 0])``, 2x faster than the full decomposition at n = 200) on
    NumPy, the namespace's full ``eigh`` elsewhere."""
    if is_numpy_namespace(xp):
        from scipy.linalg import eigh

        w, V = eigh(A, subset_by_index=[0, 0])
    else:
        w, V = xp.linalg.eigh(A)
    return float(w[0]), V[:, 0]


def negative_curvature_direction(xp, H, g, s, *, lanczos_maxiter: int = 50):
    """A direction of negative curvature of H for the curvilinear search of More & Sorensen (1979), or None.

    ``d = sigma ||d|| u`` with u the unit eigenvector of the smallest eigenvalue lambda_min < 0 of H (one
    ``syevr`` pair for small dense H, else Lanczos from the Newton step s, or from g where s vanishes), the sign
    sigma making ``g'd <= 0``, and the length ``||d|| = |lambda_min| / scale`` (scale = ||H||_F / sqrt(n), see
    :func:`hessian_scale`): the curvature relative to the Hessian's typical eigenvalue, at most sqrt(n). It is
    returned only where its second-order decrease is at least the first-order decrease of the Newton step,
    ``1/2 |d'Hd| >= |g's|`` (near saddle points, where the gradient no longer leads anywhere; the choice
    between the two directions of Gould, Lucidi, Roma & Toint (2000), "Exploiting negative curvature
    directions in linesearch methods for unconstrained optimization"): on the MLP cases of
    ``benchmarks/_second_order_cases.py`` adding d at every indefinite Hessian cost iterations, the gated d
    saved 10-30%. Returns ``(d, d'Hd)``."""
    from ._lanczos import smallest_eigenpair

    n = H.shape[0]
    scale = hessian_scale(xp, H)
    if scale == 0.0:
        return None
    A = dense_form(H)
    if A is not None and n <= DENSE_EIGH_MAX:
        lam, u = _smallest_dense_eigenpair(xp, A)
    else:
        start = s if float(norm(xp, s)) > 0 else g
        if float(norm(xp, start)) == 0:
            return None
        lam, u = smallest_eigenpair(xp, H.matvec, start, maxiter=lanczos_maxiter)
    if not (lam < -NEGATIVE_CURVATURE_TOL * scale):
        return None
    length = -lam / scale
    curvature = lam * length * length
    if 0.5 * abs(curvature) < abs(dot(xp, g, s)):
        return None
    if u.dtype != g.dtype:
        u = xp.astype(u, g.dtype)
    d = u * (length if dot(xp, g, u) <= 0 else -length)
    return d, curvature
