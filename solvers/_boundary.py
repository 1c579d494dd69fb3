"""Where a ray meets the trust-region boundary, shared by the dogleg and Steihaug-CG steps."""
from __future__ import annotations

import math

from ._arrays import dot


def boundary_roots(xp, p, d, radius: float) -> tuple[float, float]:
    """The roots tau_- <= tau_+ of ||p + tau d|| = radius, i.e. of

        (d'd) tau^2 + 2 (p'd) tau + (p'p - radius^2) = 0,

    computed without cancellation: the root of larger magnitude from the quadratic formula, the other from
    the product of the roots, (p'p - radius^2) / (d'd). For ||p|| <= radius they have opposite signs, and
    tau_+ >= 0 is where the ray from p along d leaves the region (eq. 4.16 of Nocedal & Wright (2006) for the
    dogleg, Algorithm 7.2 for Steihaug-CG). d must be nonzero.
    """
    return roots_from_products(dot(xp, d, d), dot(xp, p, d), dot(xp, p, p), radius)


def roots_from_products(dd: float, pd: float, pp: float, radius: float) -> tuple[float, float]:
    """:func:`boundary_roots` from the inner products d'd, p'd and p'p, which may be those of any inner product
    (the M-inner product of a preconditioned region: d'Md, p'Md, p'Mp)."""
    constant = pp - radius * radius
    disc = math.sqrt(max(pd * pd - dd * constant, 0.0))
    q = -(pd + math.copysign(disc, pd))
    if q == 0.0:  # pd = 0 and disc = 0: p'p = radius^2, p on the boundary and d tangent to it
        return 0.0, 0.0
    first, second = q / dd, constant / q
    return (first, second) if first <= second else (second, first)
