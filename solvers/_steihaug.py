"""Steihaug's truncated conjugate gradient for the trust-region subproblem (Algorithm 7.2 of Nocedal & Wright
(2006)).

CG on ``B p = -g`` from p = 0 stops at the first of: a direction of non-positive curvature (follow it to the
boundary), an iterate leaving the region (stop on the boundary), or a residual ``||r|| <= eps_k`` with the
forcing term ``eps_k = min(0.5, sqrt(||g||)) ||g||`` (eq. 7.3; superlinear local convergence). The residual
``r = g + B z`` is CG's own, so ``B p`` is known at every iterate and the model value
``m(p) = g'p + 1/2 p'Bp`` costs no Hessian-vector product beyond those of CG.
"""
from __future__ import annotations

import math

from ._arrays import NonFiniteValue, SolverOverflow, all_finite, dot, norm
from ._boundary import boundary_roots
from ._more_sorensen import SubproblemSolution


def steihaug_cg(xp, hessp, g, radius: float, *, maxiter: int, forcing=None):
    """Returns ``(solution, Bp)``; ``hessp(v)`` computes B v."""
    gnorm = norm(xp, g)
    tol = min(0.5, math.sqrt(gnorm)) * gnorm if forcing is None else forcing
    z = xp.zeros_like(g)
    Bz = xp.zeros_like(g)
    r = g
    d = -g
    rr = gnorm * gnorm
    for j in range(maxiter):
        Bd = hessp(d)
        dBd = dot(xp, d, Bd)
        if not math.isfinite(dBd):
            if not all_finite(xp, Bd):
                raise NonFiniteValue("A Hessian-vector product has NaN or inf entries.")
            raise SolverOverflow("The curvature d'Bd of a conjugate-gradient direction overflowed.")
        if dBd <= 0:
            tau = _boundary_tau(xp, z, d, Bz, Bd, g, radius, choose="model")
            return SubproblemSolution(z + tau * d, 0.0, True, j + 1), Bz + tau * Bd
        alpha = rr / dBd
        z_next = z + alpha * d
        if norm(xp, z_next) >= radius:
            tau = _boundary_tau(xp, z, d, Bz, Bd, g, radius, choose="positive")
            return SubproblemSolution(z + tau * d, 0.0, True, j + 1), Bz + tau * Bd
        z, Bz = z_next, Bz + alpha * Bd
        r = r + alpha * Bd
        rr_next = dot(xp, r, r)
        if math.sqrt(rr_next) < tol:
            return SubproblemSolution(z, 0.0, False, j + 1), Bz
        d = -r + (rr_next / rr) * d
        rr = rr_next
    return SubproblemSolution(z, 0.0, False, maxiter), Bz


def _boundary_tau(xp, z, d, Bz, Bd, g, radius, *, choose):
    """A root of ||z + tau d|| = radius: "positive" takes the positive root, "model" the root with the lower
    model value m(z + tau d)."""
    roots = boundary_roots(xp, z, d, radius)
    if choose == "positive":
        return roots[1]
    gd, dBd, zBd = dot(xp, g, d), dot(xp, d, Bd), dot(xp, z, Bd)

    def model_change(t):  # m(z + t d) - m(z)
        return t * (gd + zBd) + 0.5 * t * t * dBd

    return min(roots, key=model_change)
