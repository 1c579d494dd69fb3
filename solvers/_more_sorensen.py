"""The trust-region subproblem solved nearly exactly (More & Sorensen, 1983).

    minimize  m(p) = g'p + 1/2 p'Bp   subject to  ||p|| <= radius.

By Theorem 4.1 of Nocedal & Wright (2006), p* is a global solution iff for some lambda >= 0
    (B + lambda I) p* = -g,   lambda (radius - ||p*||) = 0,   B + lambda I positive semidefinite.

Phase 1 is Algorithm 4.3 of Nocedal & Wright (2006) with More & Sorensen's safeguards: Newton's method on
phi(lambda) = 1/||p(lambda)|| - 1/radius, one factorization of B + lambda I per iteration,
``lambda <- lambda + (||p|| / ||q||)^2 (||p|| - radius) / radius`` with ``||q||^2 = p'(B + lambda I)^-1 p``
(``L q = p`` for the Cholesky factor L; here a second solve with the same factorization, so that any
structure's factorization serves), kept inside a bracket [lambda_L, lambda_U] that shrinks as factorizations
fail (lambda too small) or steps fall inside the region (lambda too large). The bracket starts from bounds
on the spectrum: Gershgorin's for a dense B, +-||B||_F (``norm_estimate``, a bound on ||B||_2) otherwise.
It stops when | ||p|| - radius | <= k_easy * radius.

B is an operator (``_operators.py``) with ``solver(shift, rtol)`` (``factorize(shift)`` or, where the structure
makes it cheaper, an iterative solve to relative residual rtol: conjugate gradients on a block operator's Schur
complement), ``diagonal()`` and ``norm_estimate()``; phase 1 uses only those, so a structured B (a Gram,
block-diagonal or sparse Hessian) is never formed densely there. An iterative solve tests positive definiteness
where cheap (diagonal blocks) and otherwise along the Krylov space of its right-hand side (negative curvature
met by conjugate gradients, the test of Steihaug's method); an indefinite B + lambda I that test misses gives a
stationary point of the model on the boundary rather than its minimizer, which the trust-region ratio test
judges as any other step.

Phase 2 runs when phase 1 reaches its iteration cap or its bracket collapses with ||p|| < radius, the
signature of the *hard case* (g orthogonal to the eigenspace of the smallest eigenvalue lambda_1).
It takes one eigendecomposition B = V diag(w) V' of the dense form of B (``to_dense()``: the hard case needs
the eigenvector of the smallest eigenvalue, and this is the one place where the method forms B), after which ||p(lambda)||^2 = sum_i c_i^2/(w_i+lambda)^2
with c = V'g is explicit: either the secular equation is solved to high accuracy by safeguarded Newton, or,
in the hard case, p = -(B - lambda_1 I)^+ g + tau v_1 with tau chosen so that ||p|| = radius
(Section 4.3 of Nocedal & Wright (2006), "The hard case").
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ._arrays import SolverOverflow, all_finite, dot, norm
from ._operators import NotPositiveDefinite
from ._user_operators import dense_form


@dataclass(frozen=True)
class SubproblemSolution:
    step: object
    multiplier: float  # lambda
    hits_boundary: bool
    factorizations: int
    hard_case: bool = False


def _spectral_bounds(xp, B, diag, positive_semidefinite: bool) -> tuple[float, float]:
    """``(low, high)`` with low <= lambda_1(B) and ||B||_2 <= high: Gershgorin's discs for a dense B (the row
    sums are free there); for a structured B known to be positive semidefinite 0 and tr(B) (the sum of the
    eigenvalues bounds the largest; from the diagonal, cheap in every structure); else -||B||_F and ||B||_F."""
    A = dense_form(B)
    if A is None and positive_semidefinite:
        return 0.0, max(float(xp.sum(diag)), 0.0)
    if A is None:
        bound = B.norm_estimate()
        return -bound, bound
    row_abs = xp.sum(xp.abs(A), axis=1)
    off = row_abs - xp.abs(diag)
    return float(xp.min(diag - off)), float(xp.max(row_abs))  # ||B||_1 = ||B||_inf >= ||B||_2 for symmetric B


#: The relative residual of phase 1's solves where B's structure offers an iterative solve (module docstring).
SOLVE_RTOL = 1e-10


def more_sorensen(xp, B, g, radius: float, *, k_easy: float = 0.1, maxiter: int = 25,
                  secular_tol: float = 1e-10, positive_semidefinite: bool = False,
                  rtol: float | None = SOLVE_RTOL) -> SubproblemSolution:
    """Solve the trust-region subproblem for the operator B; see the module docstring for the method and its
    source. ``positive_semidefinite``: B is known to be (a Gauss-Newton matrix J'J), which gives cheap bounds.
    ``rtol``: phase 1 may solve with ``B + lambda I`` iteratively to this relative residual (``B.solver``);
    None: factorizations only."""
    gnorm = norm(xp, g)
    diag = B.diagonal()
    eig_low, b_norm = _spectral_bounds(xp, B, diag, positive_semidefinite)
    lam_lo = max(0.0, -float(xp.min(diag)), gnorm / radius - b_norm)
    lam_hi = max(0.0, gnorm / radius - eig_low)
    if gnorm == 0.0:
        return _eigen_phase(xp, B, g, radius, factorizations=0, secular_tol=secular_tol)

    lam = 0.0 if lam_lo == 0.0 else max(math.sqrt(lam_lo * lam_hi), lam_lo + 1e-3 * (lam_hi - lam_lo))
    factorizations = 0
    for _ in range(maxiter):
        factorizations += 1
        try:
            factorization = B.solver(lam, rtol=rtol)
            p = -factorization.solve(g)
        except NotPositiveDefinite:  # lambda < -lambda_1
            lam_lo = max(lam_lo, lam)
            if lam_hi - lam_lo <= 1e-12 * max(1.0, lam_hi):
                break
            lam = max(math.sqrt(lam_lo * lam_hi), lam_lo + 1e-2 * (lam_hi - lam_lo))
            continue
        p_norm = norm(xp, p)
        if not math.isfinite(p_norm):
            break
        if lam == 0.0 and p_norm <= radius:
            return SubproblemSolution(p, 0.0, False, factorizations)
        if abs(p_norm - radius) <= k_easy * radius:
            return SubproblemSolution(p, lam, True, factorizations)
        if p_norm < radius:
            lam_hi = min(lam_hi, lam)
        else:
            lam_lo = max(lam_lo, lam)
        if lam_hi - lam_lo <= 1e-6 * max(lam_hi, 1e-300) and p_norm < radius:
            break  # bracket collapsed at the left end with ||p|| < radius: the hard case
        try:
            q_norm = math.sqrt(max(dot(xp, p, factorization.solve(p)), 0.0))  # ||q||^2 = p'(B + lambda I)^-1 p
        except NotPositiveDefinite:  # an iterative solve met negative curvature only now: lambda < -lambda_1
            q_norm = 0.0
        lam_newton = lam + (p_norm / q_norm) ** 2 * (p_norm - radius) / radius if q_norm > 0 else -1.0
        if lam_lo < lam_newton < lam_hi:
            lam = lam_newton
        else:
            lam = max(math.sqrt(lam_lo * lam_hi), lam_lo + 1e-2 * (lam_hi - lam_lo))
    return _eigen_phase(xp, B, g, radius, factorizations=factorizations, secular_tol=secular_tol)


def _eigen_phase(xp, B, g, radius, *, factorizations, secular_tol, max_secular=200):
    """Phase 2: exact solution in the eigenbasis of B (see the module docstring): B is formed densely here."""
    w, V = xp.linalg.eigh(B.to_dense())
    if not (all_finite(xp, w) and all_finite(xp, V)):
        raise SolverOverflow("The eigendecomposition of the model Hessian produced NaN or inf.")
    c = xp.linalg.matrix_transpose(V) @ g
    w_min = float(w[0])
    scale = max(float(xp.max(xp.abs(w))), 1e-300)
    gnorm = norm(xp, g)
    shift0 = max(0.0, -w_min)  # lambda >= shift0
    s = w + shift0  # w_i + lambda = s_i + delta with delta = lambda - shift0 >= 0
    cluster_tol = 1e-12 * scale + 1e-300
    cluster = s <= cluster_tol
    c_cluster = norm(xp, xp.where(cluster, c, xp.zeros_like(c)))
    safe_s = xp.where(cluster, xp.ones_like(s), s)

    def step(delta):
        return -(V @ (c / (s + delta)))

    if bool(xp.any(cluster)) and c_cluster <= 1e-10 * max(gnorm, 1e-300):
        # g has (numerically) no component along the smallest eigenvalue's eigenspace
        q = xp.where(cluster, xp.zeros_like(c), c / safe_s)
        p0 = -(V @ q)
        p0_norm = norm(xp, p0)
        if p0_norm <= radius:
            if shift0 == 0.0:  # lambda = 0 with B positive semidefinite: interior pseudo-inverse step is optimal
                return SubproblemSolution(p0, 0.0, False, factorizations, hard_case=True)
            tau = math.sqrt(max(radius * radius - p0_norm * p0_norm, 0.0))
            return SubproblemSolution(p0 + tau * V[:, 0], shift0, True, factorizations, hard_case=True)
    elif shift0 == 0.0:
        p0 = step(0.0)
        if norm(xp, p0) <= radius:
            return SubproblemSolution(p0, 0.0, False, factorizations)

    c2 = c * c
    lo, hi = 0.0, gnorm / radius + 1e-300  # ||p(hi)|| <= ||g|| / hi = radius
    delta = hi
    for _ in range(max_secular):
        denom = s + delta
        p_sq = float(xp.sum(c2 / (denom * denom)))
        p_norm = math.sqrt(p_sq)
        if not math.isfinite(p_norm) or p_norm > radius:
            lo = max(lo, delta)
        else:
            hi = min(hi, delta)
        if math.isfinite(p_norm) and abs(p_norm - radius) <= secular_tol * radius:
            break
        if math.isfinite(p_norm) and p_norm > 0:
            dp = float(xp.sum(c2 / (denom * denom * denom)))  # -(1/2) d||p||^2 / d delta
            phi = 1.0 / p_norm - 1.0 / radius
            delta_new = delta - phi * p_norm**3 / dp
        else:
            delta_new = -1.0
        delta = delta_new if lo < delta_new < hi else 0.5 * (lo + hi)
        if hi - lo <= 1e-15 * max(hi, 1e-300):
            delta = hi  # the feasible end of the bracket
            break
    return SubproblemSolution(step(delta), shift0 + delta, True, factorizations)
