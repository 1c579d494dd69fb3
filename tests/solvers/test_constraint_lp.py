"""Linear programs solved by "auglag" against scipy.optimize.linprog (HiGHS).

An LP has no bound-only form that tron could take (its constraints are general), so the constrained method is
auglag: each subproblem is the convex quadratic c'x + v'r + mu/2 ||r||^2 over the box. Oracles: linprog's
objective and x where the optimum is unique (and its marginals where the dual is unique), the KKT conditions
with the multipliers auglag returns (problems/_kkt.py's residuals written out for A x), and for an infeasible
LP the least value of 1/2 ||r||^2 over the box, which scipy.optimize.lsq_linear finds independently.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as so
from ricci.solvers import Outcome, minimize


def _auglag_lp(c, A_ub=None, b_ub=None, A_eq=None, b_eq=None, bounds=(0.0, np.inf), x0=None, **options):
    """min c'x subject to A_ub x <= b_ub, A_eq x = b_eq and bounds, in scipy.optimize.minimize's form."""
    n = c.size
    constraints = []
    if A_ub is not None:
        constraints.append(so.LinearConstraint(A_ub, -np.inf, b_ub))
    if A_eq is not None:
        constraints.append(so.LinearConstraint(A_eq, b_eq, b_eq))
    return minimize(lambda x: c @ x, np.zeros(n) if x0 is None else x0, jac=lambda x: c,
                    hess=lambda x: np.zeros((n, n)), bounds=so.Bounds(*bounds), constraints=constraints,
                    options=options or None)


def _kkt(c, res, A_ub=None, b_ub=None, A_eq=None, b_eq=None, bounds=(0.0, np.inf)):
    """(stationarity, complementarity, sign) of min c'x, A_ub x <= b_ub, A_eq x = b_eq, lo <= x <= hi with the
    result's multipliers in trust-constr's convention: c + A_ub'y + A_eq'u + z = 0, y >= 0 with y (b - A x) = 0,
    z <= 0 at lower bounds and >= 0 at upper ones, z (x - bound) = 0."""
    x, k = res.x, 0
    gradient = c.copy()
    complementarity = sign = 0.0
    if A_ub is not None:
        y = res.v[k]
        k += 1
        gradient += A_ub.T @ y
        sign = max(sign, float(np.max(np.maximum(-y, 0.0))))
        complementarity = max(complementarity, float(np.max(np.abs(y * (b_ub - A_ub @ x)))))
    if A_eq is not None:
        gradient += A_eq.T @ res.v[k]
        k += 1
    z = res.v[k]
    gradient += z
    lo, hi = (np.broadcast_to(np.asarray(b, dtype=float), x.shape) for b in bounds)
    sign = max(sign, float(np.max(np.where(np.isinf(lo), np.maximum(-z, 0.0), 0.0)
                                  + np.where(np.isinf(hi), np.maximum(z, 0.0), 0.0))))
    gap = np.where(z < 0, np.abs(x - np.where(np.isinf(lo), 0.0, lo)), np.abs(np.where(np.isinf(hi), 0.0, hi) - x))
    complementarity = max(complementarity, float(np.max(np.abs(z) * gap)))
    return float(np.max(np.abs(gradient))), complementarity, sign


# Three LPs with a unique optimum. "degenerate": the optimal vertex (1, 1) has three active constraints in the
# plane (x1 <= 1, x2 <= 1, x1 + x2 <= 2), so its multipliers are not unique and only x and f are compared.
_LPS = {
    "inequalities": {"c": np.array([-1.0, -2.0, 0.5]),
                     "A_ub": np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 2.0], [0.0, 1.0, 0.0]]),
                     "b_ub": np.array([4.0, 2.0, 3.0])},
    "equality-inequality-box": {"c": np.array([2.0, -1.0, 1.0, -3.0]),
                                "A_ub": np.array([[1.0, 1.0, 0.0, 1.0], [0.0, -1.0, 1.0, 2.0]]),
                                "b_ub": np.array([5.0, 3.0]),
                                "A_eq": np.array([[1.0, 1.0, 1.0, 1.0]]), "b_eq": np.array([4.0]),
                                "bounds": ([0.0, 0.0, 0.5, 0.0], [3.0, 3.0, 3.0, 1.5])},
    "degenerate": {"c": np.array([-1.0, -1.0]), "A_ub": np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
                   "b_ub": np.array([1.0, 1.0, 2.0])},
}


@pytest.mark.parametrize("name", list(_LPS))
def test_lp_matches_linprog(name):
    lp = _LPS[name]
    bounds = lp.get("bounds", (0.0, np.inf))
    reference = so.linprog(lp["c"], A_ub=lp.get("A_ub"), b_ub=lp.get("b_ub"), A_eq=lp.get("A_eq"),
                           b_eq=lp.get("b_eq"), bounds=list(zip(*np.broadcast_arrays(*bounds))) if
                           np.ndim(bounds[0]) else (bounds[0], None), method="highs")
    assert reference.status == 0
    res = _auglag_lp(**lp)
    assert res.success and res.outcome is Outcome.CONVERGED, res.message
    assert res.fun == pytest.approx(reference.fun, abs=1e-7)
    np.testing.assert_allclose(res.x, reference.x, atol=1e-7)
    assert res.constr_violation <= 1e-8
    stationarity, complementarity, sign = _kkt(**lp, res=res)
    assert stationarity <= 1e-7 and complementarity <= 1e-8 and sign <= 1e-8, (stationarity, complementarity, sign)
    if name != "degenerate" and "A_ub" in lp:  # unique duals: linprog's marginals are d fun / d b_ub = -y
        np.testing.assert_allclose(res.v[0], -reference.ineqlin.marginals, atol=1e-6)


def test_infeasible_lp_returns_the_least_infeasible_point():
    """x1 + x2 <= 1 and x1 + x2 >= 3 with x >= 0: INFEASIBLE, at a point that minimizes the squared violation
    1/2 ||r||^2 over the box (the set x1 + x2 = 2, violation 1 on each side); the least value from
    lsq_linear on [A, -I] (x in the box, the slacks s <= b) agrees."""
    c = np.array([1.0, 2.0])
    A = np.array([[1.0, 1.0], [-1.0, -1.0]])
    b = np.array([1.0, -3.0])
    assert so.linprog(c, A_ub=A, b_ub=b, method="highs").status == 2  # linprog: infeasible
    res = _auglag_lp(c, A_ub=A, b_ub=b, x0=np.array([5.0, 4.0]))
    assert res.outcome is Outcome.INFEASIBLE and res.status == 6 and not res.success
    assert "Least constraint violation" in res.message
    least = so.lsq_linear(np.hstack([A, -np.eye(2)]), np.zeros(2),
                          bounds=([0.0, 0.0, -np.inf, -np.inf], [np.inf, np.inf, b[0], b[1]]), method="bvls")
    violation = np.maximum(A @ res.x - b, 0.0)
    assert 0.5 * violation @ violation == pytest.approx(least.cost, abs=1e-7)
    assert res.x.sum() == pytest.approx(2.0, abs=1e-6) and np.all(res.x >= 0)
    assert res.constr_violation == pytest.approx(1.0, abs=1e-6)


def test_infeasible_equalities_against_bounds():
    """sum(x) = 5 with 0 <= x <= 1 (three unknowns): the least-infeasible point is the corner x = (1, 1, 1)."""
    res = _auglag_lp(np.array([1.0, -1.0, 0.0]), A_eq=np.ones((1, 3)), b_eq=np.array([5.0]), bounds=(0.0, 1.0))
    assert res.outcome is Outcome.INFEASIBLE
    np.testing.assert_allclose(res.x, [1.0, 1.0, 1.0], atol=1e-8)
    assert res.constr_violation == pytest.approx(2.0, abs=1e-8)


def test_unbounded_lp():
    """max x1 + x2 subject to x1 - x2 <= 1, x >= 0: linprog says unbounded; auglag ends UNBOUNDED at a feasible
    point with f below -unbounded_threshold."""
    c = np.array([-1.0, -1.0])
    A, b = np.array([[1.0, -1.0]]), np.array([1.0])
    assert so.linprog(c, A_ub=A, b_ub=b, method="highs").status == 3  # linprog: unbounded
    res = _auglag_lp(c, A_ub=A, b_ub=b)
    assert res.outcome is Outcome.UNBOUNDED and res.status == 7 and not res.success
    assert res.fun < -1e20 and res.constr_violation <= 1e-8 and np.all(res.x >= 0)
