"""The safeguarded Newton step: Cholesky with an added multiple of the identity.

Algorithm 3.3 of Nocedal & Wright (2006), "Cholesky with added multiple of the identity": factor
``H + tau I`` for tau = 0, 2 tau_0, 4 tau_0, ... until the factorization succeeds, starting from
``tau_0 = 0`` when the diagonal is positive and ``tau_0 = beta - min_i H_ii`` otherwise. The step solves
``(H + tau I) p = -g``; since ``H + tau I`` is positive definite, ``g'p < 0`` whenever ``g != 0``, so
indefinite and singular Hessians still give descent directions. ``beta`` is taken relative to the Hessian's
scale (``beta * ||H||_F / sqrt(n)``) so that the safeguard does not depend on the units of f.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from . import _linalg
from ._arrays import NonFiniteValue, SolverOverflow, all_finite


@dataclass(frozen=True)
class ShiftedCholesky:
    """``L L' = H + shift * I``."""

    factor: object
    shift: float


def shifted_cholesky(xp, H, *, beta: float = 1e-3, max_doublings: int = 200) -> ShiftedCholesky:
    """Algorithm 3.3 of Nocedal & Wright (2006): the smallest tried ``tau`` with ``H + tau I`` positive
    definite, and its Cholesky factor."""
    n = H.shape[0]
    frobenius = float(xp.linalg.vector_norm(H))
    if frobenius == 0.0 or not math.isfinite(frobenius):  # H = 0, non-finite, or squares beyond the range
        largest = float(xp.max(xp.abs(H)))
        if not math.isfinite(largest):
            raise NonFiniteValue("The Hessian has NaN or inf entries.")
        frobenius = largest * float(xp.linalg.vector_norm(H / largest)) if largest > 0 else 0.0
    scale = frobenius / math.sqrt(n)  # Frobenius norm / sqrt(n)
    if not math.isfinite(scale):
        raise SolverOverflow("The Frobenius norm of the (finite) Hessian overflowed.")
    eye = _linalg.identity(xp, n, H)
    if scale == 0.0:  # H = 0: the identity is the natural model
        return ShiftedCholesky(eye, 1.0)
    beta_abs = beta * scale
    min_diag = float(xp.min(_linalg.diagonal(xp, H)))
    tau = 0.0 if min_diag > 0 else beta_abs - min_diag
    for _ in range(max_doublings):
        L = _linalg.cholesky(xp, H + tau * eye if tau > 0 else H)
        if L is not None:
            return ShiftedCholesky(L, tau)
        tau = max(2.0 * tau, beta_abs)
    raise SolverOverflow("No shift made the Hessian positive definite.")  # pragma: no cover


def newton_direction(xp, H, g, *, beta: float = 1e-3):
    """Solve ``(H + tau I) p = -g`` with tau from :func:`shifted_cholesky`; returns ``(p, tau)``."""
    chol = shifted_cholesky(xp, H, beta=beta)
    p = -_linalg.cho_solve(xp, chol.factor, g)
    if not all_finite(xp, p):
        raise SolverOverflow("The Newton step (H + tau I)^-1 g overflowed.")
    return p, chol.shift
