"""The dogleg step (Section 4.1 of Nocedal & Wright (2006), eqs. 4.15-4.16).

The path runs from 0 to the unconstrained minimizer along -g, ``p_U = -(g'g / g'Bg) g``, then on to the
Newton point ``p_B = -B^{-1} g``; the step is where this path leaves the region (or p_B if inside). The method
assumes B positive definite. When it is not, the Newton point is taken from ``B + tau I`` (Algorithm 3.3 of
Nocedal & Wright (2006), the same safeguarded factorization as the Newton method), and when g'Bg <= 0 the
Cauchy step runs along -g to the boundary, so the step is always a descent step of the true model.

B is an operator: the Newton point comes from its (shifted) factorization, g'Bg from one product.

When B is indefinite and the shifted Newton point lies inside the region, the step continues from it along a
direction of negative curvature d (the smallest eigenvector, ``_newton_step.negative_curvature_direction``)
to the boundary, p = p_B + t d with ||p|| = radius and the root t of lower model value: the model decreases
along d (d'Bd < 0) so the step is better than p_B, and the method leaves saddle points (as More & Sorensen's
curvilinear Newton step does) instead of converging to them.
"""
from __future__ import annotations

from ._arrays import dot, norm
from ._boundary import boundary_roots
from ._more_sorensen import SubproblemSolution
from ._newton_step import negative_curvature_direction, newton_direction


def dogleg_step(xp, B, g, radius: float, *, beta: float = 1e-3) -> SubproblemSolution:
    p_newton, shift = newton_direction(xp, B, g, beta=beta)
    if norm(xp, p_newton) <= radius:
        pair = negative_curvature_direction(xp, B, g, p_newton) if shift > 0 else None
        if pair is None:
            return SubproblemSolution(p_newton, shift, False, 1)
        d = pair[0]
        roots = boundary_roots(xp, p_newton, d, radius)
        slope, curvature = dot(xp, g + B.matvec(p_newton), d), pair[1]
        t = min(roots, key=lambda s: s * slope + 0.5 * s * s * curvature)
        return SubproblemSolution(p_newton + t * d, 0.0, True, 1)
    gnorm = norm(xp, g)
    gBg = dot(xp, g, B.matvec(g))
    steepest = -(radius / gnorm) * g
    if gBg <= 0:
        return SubproblemSolution(steepest, 0.0, True, 1)
    p_u = -(gnorm * gnorm / gBg) * g
    pu_norm = norm(xp, p_u)
    if pu_norm >= radius:
        return SubproblemSolution(steepest, 0.0, True, 1)
    # ||p_u + t (p_newton - p_u)|| = radius for t in [0, 1]: ||p_u|| < radius <= ||p_newton||
    d = p_newton - p_u
    _, t = boundary_roots(xp, p_u, d, radius)
    return SubproblemSolution(p_u + t * d, 0.0, True, 1)
