"""First-order optimality (Karush-Kuhn-Tucker) residuals of a constrained problem at a point.

For min f(x) subject to lo_k <= c_k(x) <= hi_k (each ``rs.Constraint`` of the problem) and lo <= x <= hi (its
bounds), with multipliers y_k (one per constraint value) and z (one per unknown), the KKT conditions
(Nocedal & Wright (2006), Theorem 12.1, written for two-sided constraints) are

    stationarity      grad f(x) + sum_k J_k(x)' y_k + z = 0
    feasibility       lo_k <= c_k(x) <= hi_k,  lo <= x <= hi
    sign              y_ki >= 0 unless c_ki can be at its upper bound hi_ki < inf, y_ki <= 0 unless lo_ki > -inf
                      (so y_ki > 0 belongs to an active upper bound, y_ki < 0 to an active lower one; any sign
                      for an equality); the same for z and the bounds on x
    complementarity   y_ki (hi_ki - c_ki) = 0 where y_ki > 0,  y_ki (c_ki - lo_ki) = 0 where y_ki < 0; same for z.

This is the sign convention of scipy's trust-constr (the Lagrangian gradient is grad f + J' v). Each residual
is reported as a maximum absolute value; they are all zero at a KKT point. Without multipliers,
:func:`estimate_multipliers` finds them by least squares over the constraints active at x (bounded in sign).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KKTResiduals:
    """Max-norm KKT residuals at a point (see the module docstring); ``worst`` is the largest of the four."""

    stationarity: float
    feasibility: float
    complementarity: float
    sign: float

    @property
    def worst(self) -> float:
        return max(self.stationarity, self.feasibility, self.complementarity, self.sign)


def _host(a) -> np.ndarray:
    get = getattr(a, "get", None)  # CuPy
    return np.asarray(get() if callable(get) and not isinstance(a, np.ndarray) else a, dtype=np.float64)


def _pieces(problem, x):
    """(lo, value, hi, Jacobian) blocks: each constraint, then the bounds (value x, Jacobian the identity)."""
    blocks = [(c.lo, _host(c.fun(x)), c.hi, _host(c.jac(x))) for c in problem.constraints]
    if problem.bounds is not None:
        lo, hi = problem.bounds
        blocks.append((lo, _host(x), hi, np.eye(problem.n)))
    return blocks


def _check_x(problem, x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (problem.n,):
        raise ValueError(f"kkt: x must be a flat vector of length {problem.n} for {problem.name!r}, got shape {x.shape}")
    return x


def _multiplier_blocks(problem, multipliers, bound_multipliers) -> list:
    multipliers = list(multipliers)
    if len(multipliers) != len(problem.constraints):
        raise ValueError(f"kkt: expected {len(problem.constraints)} multiplier arrays (one per constraint of "
                         f"{problem.name!r}), got {len(multipliers)}")
    blocks = []
    for k, (c, y) in enumerate(zip(problem.constraints, multipliers)):
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if y.shape != (c.m,):
            raise ValueError(f"kkt: multipliers[{k}] must have length {c.m}, got shape {y.shape}")
        blocks.append(y)
    if problem.bounds is not None:
        z = np.zeros(problem.n) if bound_multipliers is None else np.asarray(bound_multipliers, dtype=np.float64)
        if z.shape != (problem.n,):
            raise ValueError(f"kkt: bound_multipliers must have length {problem.n}, got shape {z.shape}")
        blocks.append(z)
    elif bound_multipliers is not None:
        raise ValueError(f"kkt: {problem.name!r} has no bounds, so no bound_multipliers")
    return blocks


def kkt_residuals(problem, x, multipliers=None, bound_multipliers=None) -> KKTResiduals:
    """The KKT residuals of ``problem`` at x with multipliers y_k (a sequence, one array per constraint) and z
    (bound multipliers, length n). Multipliers not given are estimated (:func:`estimate_multipliers`)."""
    x = _check_x(problem, x)
    if multipliers is None:
        multipliers, estimated = estimate_multipliers(problem, x)
        bound_multipliers = estimated if bound_multipliers is None else bound_multipliers
    ys = _multiplier_blocks(problem, multipliers, bound_multipliers)
    gradient = _host(problem.objective.jac(x)).copy()
    feasibility = complementarity = sign = 0.0
    for (lo, value, hi, jac), y in zip(_pieces(problem, x), ys):
        gradient += jac.T @ y
        if value.size == 0:
            continue
        feasibility = max(feasibility, float(np.max(np.maximum(np.maximum(lo - value, value - hi), 0.0))))
        upper, lower = np.maximum(y, 0.0), np.maximum(-y, 0.0)
        sign = max(sign, float(np.max(np.where(np.isinf(hi), upper, 0.0) + np.where(np.isinf(lo), lower, 0.0))))
        gap_hi = np.where(np.isinf(hi), 0.0, np.abs(hi - value))
        gap_lo = np.where(np.isinf(lo), 0.0, np.abs(value - lo))
        complementarity = max(complementarity, float(np.max(upper * gap_hi + lower * gap_lo)))
    return KKTResiduals(float(np.max(np.abs(gradient))) if gradient.size else 0.0, feasibility, complementarity,
                        sign)


def estimate_multipliers(problem, x, active_tol: float = 1e-6):
    """Least-squares multipliers at x: minimize ||grad f + sum_k J_k' y_k + z|| over the constraint values and
    bounds active at x (within ``active_tol`` (1 + |bound|) of a finite bound; equalities always), with the
    signs the KKT conditions allow (``scipy.optimize.lsq_linear``); inactive ones are 0.
    Returns (a list of y_k, z or None when the problem has no bounds)."""
    from scipy.optimize import lsq_linear

    x = _check_x(problem, x)
    gradient = _host(problem.objective.jac(x))
    columns, lower, upper, where = [], [], [], []
    pieces = _pieces(problem, x)
    for k, (lo, value, hi, jac) in enumerate(pieces):
        at_hi = np.isfinite(hi) & (np.abs(hi - value) <= active_tol * (1 + np.abs(hi)))
        at_lo = np.isfinite(lo) & (np.abs(value - lo) <= active_tol * (1 + np.abs(lo)))
        for i in np.flatnonzero(at_hi | at_lo):
            columns.append(jac[i])
            lower.append(-np.inf if at_lo[i] else 0.0)
            upper.append(np.inf if at_hi[i] else 0.0)
            where.append((k, i))
    blocks = [np.zeros(value.size) for _, value, _, _ in pieces]
    if columns:
        A = np.array(columns).T
        solution = lsq_linear(A, -gradient, bounds=(np.array(lower), np.array(upper)), method="bvls",
                              tol=1e-14).x
        for (k, i), value in zip(where, solution):
            blocks[k][i] = value
    if problem.bounds is not None:
        return blocks[:-1], blocks[-1]
    return blocks, None
