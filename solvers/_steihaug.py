"""Steihaug's truncated conjugate gradient for the trust-region subproblem (Algorithm 7.2 of Nocedal & Wright
(2006)).

CG on ``B p = -g`` from p = 0 stops at the first of: a direction of non-positive curvature (follow it to the
boundary), an iterate leaving the region (stop on the boundary), or a residual ``||r|| <= eps_k`` with the
forcing term ``eps_k = min(0.5, sqrt(||g||)) ||g||`` (eq. 7.3; superlinear local convergence). The residual
``r = g + B z`` is CG's own, so ``B p`` is known at every iterate and the model value
``m(p) = g'p + 1/2 p'Bp`` costs no Hessian-vector product beyond those of CG.

:func:`preconditioned_steihaug_cg` is the same iteration preconditioned by a symmetric positive definite M, in
the region ||p||_M <= radius (Algorithm 5.3 of Nocedal & Wright (2006), preconditioned CG, truncated as
Algorithm 7.2; the Steihaug-Toint method of Gould, Lucidi, Roma & Toint, SIAM J. Optim. 9, 1999): with y = M^-1 r, alpha = r'y /
d'Bd, beta = r+'y+ / r'y, the M-norms along the way follow from the recurrences
``z+'Mz+ = z'Mz + 2 alpha z'Md + alpha^2 d'Md``, ``z+'Md+ = beta (z'Md + alpha d'Md)``,
``d+'Md+ = r+'y+ + beta^2 d'Md`` (the iterates grow monotonically in the M-norm, which is what makes stopping
at the first boundary crossing sound), so M is only ever applied as a solve ``M^-1 r``. There is one loop:
:func:`steihaug_cg` is this iteration with M = I (y = r, and the recurrences give the Euclidean norms).
"""
from __future__ import annotations

import math

from ._arrays import NonFiniteValue, SolverOverflow, all_finite, dot
from ._boundary import roots_from_products
from ._more_sorensen import SubproblemSolution


def _curvature(xp, d, Bd) -> float:
    """d'Bd for the product Bd = B d; NonFiniteValue where Bd has NaN or inf entries, SolverOverflow where only
    the inner product overflowed."""
    dBd = dot(xp, d, Bd)
    if not math.isfinite(dBd):
        if not all_finite(xp, Bd):
            raise NonFiniteValue("A Hessian-vector product has NaN or inf entries.")
        raise SolverOverflow("The curvature d'Bd of a conjugate-gradient direction overflowed.")
    return dBd


def steihaug_cg(xp, hessp, g, radius: float, *, maxiter: int, forcing=None):
    """Returns ``(solution, Bp)``; ``hessp(v)`` computes B v. The iteration is :func:`preconditioned_steihaug_cg`
    with M = I (no solve is applied, and the M-norms are the Euclidean ones)."""
    sol, Bp, _length = preconditioned_steihaug_cg(xp, hessp, g, radius, solve_m=None, maxiter=maxiter,
                                                  forcing=forcing)
    return sol, Bp


def preconditioned_steihaug_cg(xp, hessp, g, radius: float, *, solve_m, maxiter: int, forcing=None):
    """Steihaug-CG preconditioned by M (``solve_m(r)`` computes M^-1 r; None: M = I) in the region
    ||p||_M <= radius; see the module docstring. The forcing term is eq. 7.3's, min(0.5, sqrt(||g||)) ||g||, in
    the M^-1-norm of the residual, sqrt(r'M^-1 r). Returns ``(solution, Bp, ||p||_M)``."""
    identity = solve_m is None
    z = xp.zeros_like(g)
    Bz = xp.zeros_like(g)
    r = g
    y = r if identity else solve_m(r)
    ry = dot(xp, r, y)
    g_norm = math.sqrt(max(ry, 0.0))
    tol = min(0.5, math.sqrt(g_norm)) * g_norm if forcing is None else forcing
    d = -y
    zMz, zMd, dMd = 0.0, 0.0, ry
    for j in range(maxiter):
        Bd = hessp(d)
        dBd = _curvature(xp, d, Bd)
        if dBd <= 0:
            roots = roots_from_products(dMd, zMd, zMz, radius)
            gd, zBd = dot(xp, g, d), dot(xp, z, Bd)
            tau = min(roots, key=lambda t: t * (gd + zBd) + 0.5 * t * t * dBd)  # the lower model value
            return SubproblemSolution(z + tau * d, 0.0, True, j + 1), Bz + tau * Bd, radius
        alpha = ry / dBd
        zMz_next = zMz + 2.0 * alpha * zMd + alpha * alpha * dMd
        if zMz_next >= radius * radius:
            tau = roots_from_products(dMd, zMd, zMz, radius)[1]
            return SubproblemSolution(z + tau * d, 0.0, True, j + 1), Bz + tau * Bd, radius
        z, Bz, zMz = z + alpha * d, Bz + alpha * Bd, zMz_next
        r = r + alpha * Bd
        y = r if identity else solve_m(r)
        ry_next = dot(xp, r, y)
        if math.sqrt(max(ry_next, 0.0)) < tol:
            return SubproblemSolution(z, 0.0, False, j + 1), Bz, math.sqrt(zMz)
        beta = ry_next / ry
        zMd = beta * (zMd + alpha * dMd)
        dMd = ry_next + beta * beta * dMd
        d = -y + beta * d
        ry = ry_next
    return SubproblemSolution(z, 0.0, False, maxiter), Bz, math.sqrt(zMz)


def truncated_cg(xp, product, rhs, *, rtol: float, maxiter: int):
    """Conjugate gradients from 0 on ``B q = rhs`` for a positive semidefinite B known by ``product(v)`` (B v),
    stopped at ``||B q - rhs|| <= rtol ||rhs||``, after ``maxiter`` products, or at a direction of zero (or,
    by rounding, negative) curvature (then the iterate so far, or ``rhs`` itself if that is the first: a
    direction of descent for the model either way). The truncated Newton step of Nocedal & Wright (2006),
    Algorithm 7.1, for a semidefinite B. Returns ``(q, products)``."""
    q = xp.zeros_like(rhs)
    r = rhs  # the residual rhs - B q
    rr = dot(xp, r, r)
    target = rtol * math.sqrt(rr)
    d = r
    for j in range(maxiter):
        Bd = product(d)
        dBd = _curvature(xp, d, Bd)
        if dBd <= 0:
            return (rhs if j == 0 else q), j + 1
        alpha = rr / dBd
        q = q + alpha * d
        r = r - alpha * Bd
        rr_next = dot(xp, r, r)
        if math.sqrt(rr_next) <= target:
            return q, j + 1
        d = r + (rr_next / rr) * d
        rr = rr_next
    return q, maxiter
