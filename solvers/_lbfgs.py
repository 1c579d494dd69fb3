"""The L-BFGS search direction.

The two-loop recursion (Algorithm 7.4 of Nocedal & Wright (2006)) applies the limited-memory inverse BFGS
approximation H_k to the gradient, with the initial matrix ``H_k^0 = gamma_k I``,
``gamma_k = s'y / y'y`` of the newest pair (eq. 7.20). Pairs with ``s'y <= eps ||s|| ||y||`` are skipped so
that H_k stays positive definite.
"""
from __future__ import annotations

import math
from collections import deque

from ._arrays import dot, norm


class LbfgsDirection:
    """Direction rule for the line-search driver: ``direction(x, g) -> (p, alpha0)``."""

    name = "lbfgs"
    uses_hessian = False

    def __init__(self, xp, maxcor: int, eps: float):
        self.xp = xp
        self.pairs = deque(maxlen=maxcor)  # (s, y, rho = 1 / y's)
        self.eps = eps

    def direction(self, x, g):
        xp = self.xp
        if not self.pairs:  # a first step of length 1 along -g, as L-BFGS-B (stp = 1/||d||), whatever |g|'s units
            gnorm = norm(xp, g)
            return -g, 1.0 / gnorm if gnorm > 0 else 1.0
        q = g
        alphas = []
        for s, y, rho in reversed(self.pairs):
            a = rho * dot(xp, s, q)
            alphas.append(a)
            q = q - a * y
        s, y, rho = self.pairs[-1]
        r = q * (1.0 / (rho * dot(xp, y, y)))  # gamma = s'y / y'y
        for (s, y, rho), a in zip(self.pairs, reversed(alphas)):
            b = rho * dot(xp, y, r)
            r = r + (a - b) * s
        return -r, 1.0

    def update(self, s, y, g_new=None):
        sy = dot(self.xp, s, y)
        if sy > self.eps * norm(self.xp, s) * norm(self.xp, y) and math.isfinite(sy):
            self.pairs.append((s, y, 1.0 / sy))

    def hessian(self):
        return None
