"""minimize(bounds=, constraints=) and the augmented Lagrangian method "auglag".

Oracles: the published optima of the Hock-Schittkowski problems (ricci.problems), the KKT conditions
(problems/_kkt.py) with the multipliers the result reports, scipy.optimize.linprog on a linear program, and
scipy's trust-constr for the multipliers' signs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import scipy.optimize as so
from ricci.problems._constrained import (
    HS_PROBLEMS,
    hock_schittkowski,
    scipy_bounds,
    scipy_constraints,
)
from ricci.problems._kkt import kkt_residuals
from ricci.solvers import (
    CONSTRAINED_METHODS,
    METHODS,
    AugmentedLagrangianOptions,
    Outcome,
    auglag,
    minimize,
)
from ricci.solvers._operators import (
    DiagonalOperator,
    GramOperator,
    Operator,
    ScaledIdentity,
    SumOperator,
)

# The Hock-Schittkowski problems in the normal suite are the quick ones (each well under a second, symbolic
# compilation included); the rest of the set runs in the sweep marked slow. HS 2, 20 and 33 are solved by neither
# SLSQP nor trust-constr from the published start (all stop at other local minima), so they are left out; HS 44
# (nonconvex QP) SLSQP solves, while auglag stops at the KKT vertex with f = -13 (xfail below).
HS_FAST = (1, 3, 4, 5, 9, 14, 17, 21, 24, 27, 28, 30, 31, 34, 35, 36, 37, 40, 41, 45, 48, 51, 76)
HS_UNSOLVED_BY_SCIPY = (2, 20, 33)
HS_LOCAL_MINIMUM = (44,)


def _solve_hs(number, method="auglag", **options):
    p = hock_schittkowski(number)
    res = minimize(p.objective, p.x0, method=method, bounds=scipy_bounds(p), constraints=list(p.constraints),
                   options=options or None)
    return p, res


TOL = 1e-8  # auglag's default gtol and ctol


def _check_hs(p, res):
    """The published optimum, and each KKT residual (problems/_kkt.py) with the multipliers the result returns
    at the solver's tolerance: feasibility <= ctol, complementarity and multiplier signs <= gtol (the stopping
    test measures both), stationarity <= 10 gtol relative to f* (rounding in the Lagrangian's gradient)."""
    scale = max(1.0, abs(p.minimum))
    assert abs(res.fun - p.minimum) <= 1e-6 * scale, (res.fun, p.minimum, res.message)
    assert res.constr_violation <= 1e-6
    multipliers = res.v[:len(p.constraints)]
    bound_multipliers = res.v[-1] if p.bounds is not None else None
    kkt = kkt_residuals(p, np.asarray(res.x), multipliers, bound_multipliers)
    assert kkt.stationarity <= 10 * TOL * scale, kkt
    assert kkt.feasibility <= TOL and kkt.sign <= TOL, kkt
    assert kkt.complementarity <= 1.01 * TOL, kkt


@pytest.mark.parametrize("number", HS_FAST)
def test_hock_schittkowski(number):
    p, res = _solve_hs(number)
    _check_hs(p, res)
    assert res.success, res.message


_REST = sorted(set(HS_PROBLEMS) - set(HS_FAST) - set(HS_UNSOLVED_BY_SCIPY))


@pytest.mark.slow
@pytest.mark.parametrize("number", [pytest.param(k, marks=pytest.mark.xfail(
    reason="nonconvex QP: auglag stops at another KKT vertex (f = -13 against f* = -15)", strict=True))
    if k in HS_LOCAL_MINIMUM else k for k in _REST])
def test_hock_schittkowski_rest(number):
    _check_hs(*_solve_hs(number))


# --- a linear program against linprog ---------------------------------------------------------------------
def test_linear_program_matches_linprog():
    c = np.array([-1.0, -2.0, 0.5])
    A = np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 2.0], [0.0, 1.0, 0.0]])
    b = np.array([4.0, 2.0, 3.0])
    reference = so.linprog(c, A_ub=A, b_ub=b, bounds=[(0, None)] * 3, method="highs")
    res = minimize(lambda x: c @ x, np.zeros(3), jac=lambda x: c, hess=lambda x: np.zeros((3, 3)),
                   bounds=so.Bounds(0, np.inf), constraints=so.LinearConstraint(A, -np.inf, b))
    assert res.success, res.message
    np.testing.assert_allclose(res.x, reference.x, atol=1e-7)
    assert res.fun == pytest.approx(reference.fun, abs=1e-7)
    # linprog's marginals are d fun / d b_ub (<= 0); trust-constr's v for an upper bound is >= 0 and equals -that
    np.testing.assert_allclose(res.v[0], -reference.ineqlin.marginals, atol=1e-6)


# --- multipliers: scipy trust-constr's convention ----------------------------------------------------------
def _circle_problem():
    fun, jac, hess = lambda x: x[0] + x[1], lambda x: np.ones(2), lambda x: np.zeros((2, 2))
    circle = so.NonlinearConstraint(lambda x: x @ x, -np.inf, 2.0, jac=lambda x: 2 * x[None],
                                    hess=lambda x, v: 2 * v[0] * np.eye(2))
    return fun, jac, hess, circle, so.Bounds([-0.5, -10.0], [10.0, 10.0])


def test_multipliers_have_trust_constr_signs():
    fun, jac, hess, circle, bounds = _circle_problem()
    res = minimize(fun, np.zeros(2), jac=jac, hess=hess, bounds=bounds, constraints=[circle])
    reference = so.minimize(fun, np.zeros(2), jac=jac, hess=hess, method="trust-constr", bounds=bounds,
                            constraints=[circle], options={"gtol": 1e-10, "xtol": 1e-12})
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [-0.5, -np.sqrt(1.75)], atol=1e-8)
    assert len(res.v) == len(reference.v) == 2  # the constraint, then the bounds
    for ours, theirs in zip(res.v, reference.v):
        np.testing.assert_allclose(ours, theirs, atol=1e-4)
    assert res.v[0][0] > 0 and res.v[1][0] < 0  # upper side of the circle, lower bound on x0
    np.testing.assert_allclose(res.lagrangian_grad, 0.0, atol=1e-8)
    assert res.optimality <= 1e-8
    np.testing.assert_allclose(res.constr[0], [2.0], atol=1e-8)
    np.testing.assert_allclose(res.constr[1], res.x)


# --- the forms of a constraint give one answer ---------------------------------------------------------------
def _quadratic():
    target = np.array([1.0, 2.0, 3.0])
    return (lambda x: 0.5 * np.sum((x - target) ** 2), lambda x: x - target, lambda x: np.eye(3))


def _forms():
    a = np.array([1.0, 1.0, 1.0])
    return {
        "linear": [so.LinearConstraint(a, 1.0, 1.0), so.LinearConstraint(np.eye(3)[:1], 0.5, np.inf)],
        "nonlinear": [so.NonlinearConstraint(lambda x: a @ x, 1.0, 1.0, jac=lambda x: a[None],
                                             hess=lambda x, v: np.zeros((3, 3))),
                      so.NonlinearConstraint(lambda x: x[:1], 0.5, np.inf, jac=lambda x: np.eye(3)[:1])],
        "dict": [{"type": "eq", "fun": lambda x, k: a @ x - k, "jac": lambda x, k: a, "args": (1.0,)},
                 {"type": "ineq", "fun": lambda x: x[0] - 0.5, "jac": lambda x: np.eye(3)[0]}],
    }


@pytest.mark.parametrize("form", ["linear", "nonlinear", "dict"])
def test_constraint_forms_agree(form):
    fun, jac, hess = _quadratic()
    res = minimize(fun, np.zeros(3), jac=jac, hess=hess, constraints=_forms()[form])
    # projection of (1, 2, 3) onto {sum x = 1, x0 >= 0.5}: x0 = 0.5 and (x1, x2) = (2, 3) - 2.25, with
    # multipliers 2.25 (equality) and 0.5 - 1 + 2.25 + v = 0, v = -1.75 (an active lower side)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [0.5, -0.25, 0.75], atol=1e-8)
    np.testing.assert_allclose(np.concatenate(res.v), [2.25, -1.75], atol=1e-7)


def test_scipy_custom_method():
    fun, jac, hess = _quadratic()
    res = so.minimize(fun, np.zeros(3), jac=jac, hess=hess, method=auglag, constraints=_forms()["dict"],
                      bounds=[(None, None), (0, None), (None, 10)], tol=1e-9)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [0.5, 0.0, 0.5], atol=1e-8)


# --- outcomes: infeasible, unbounded, maxiter ----------------------------------------------------------------
def _linear_objective():
    return lambda x: float(np.sum(x)), lambda x: np.ones_like(x), lambda x: np.zeros((x.size, x.size))


def test_infeasible_against_a_bound_returns_least_infeasible_point():
    fun, jac, hess = _linear_objective()
    res = minimize(fun, np.array([0.3]), jac=jac, hess=hess, bounds=[(None, 0.0)],
                   constraints=so.LinearConstraint([[1.0]], 1.0, np.inf))
    assert res.outcome is Outcome.INFEASIBLE and res.status == 6 and not res.success
    np.testing.assert_allclose(res.x, [0.0], atol=1e-8)
    assert res.constr_violation == pytest.approx(1.0, abs=1e-8)


def test_infeasible_constraints_return_least_infeasible_point():
    fun, jac, hess = _linear_objective()
    res = minimize(fun, np.array([3.0]), jac=jac, hess=hess,
                   constraints=[so.LinearConstraint([[1.0]], 1.0, np.inf), so.LinearConstraint([[1.0]], -np.inf, 0.0)])
    assert res.outcome is Outcome.INFEASIBLE
    np.testing.assert_allclose(res.x, [0.5], atol=1e-6)  # the least-squares compromise of x >= 1 and x <= 0
    assert res.constr_violation == pytest.approx(0.5, abs=1e-6)


def test_max_penalty_caps_the_penalty_of_an_infeasible_problem():
    fun, jac, hess = _linear_objective()
    cons = [so.LinearConstraint([[1.0]], 1.0, np.inf), so.LinearConstraint([[1.0]], -np.inf, 0.0)]
    default = minimize(fun, np.array([3.0]), jac=jac, hess=hess, constraints=cons)
    capped = minimize(fun, np.array([3.0]), jac=jac, hess=hess, constraints=cons, options={"max_penalty": 1e4})
    assert default.outcome is capped.outcome is Outcome.INFEASIBLE
    assert capped.penalty == 1e4 < default.penalty and capped.nit < default.nit
    np.testing.assert_allclose(capped.x, [0.5], atol=1e-6)


def test_clipped_multipliers_on_a_feasible_problem_end_without_claiming_infeasibility():
    """max_multiplier bounds the multiplier estimates (Birgin & Martinez's safeguard): at 1e-3 on HS71, whose
    multipliers are about 0.16, 0.55 and 1.09, the method is a pure penalty method that stalls at the largest
    penalty; the constraints can be met, so the outcome is NO_PROGRESS at a feasible point, not INFEASIBLE."""
    _, res = _solve_hs(71, max_multiplier=1e-3)
    assert res.outcome is Outcome.NO_PROGRESS and not res.success
    assert res.constr_violation <= 1e-8 and "can be met" in res.message


def test_initial_penalty_is_where_the_penalty_starts():
    """HS44 (a nonconvex QP) ends at the KKT vertex f = -13 from the automatic penalty and at the global
    minimum f* = -15 from mu_0 = 0.1: the first subproblem decides the vertex."""
    p, automatic = _solve_hs(44)
    _, small = _solve_hs(44, initial_penalty=0.1)
    assert automatic.success and automatic.fun == pytest.approx(-13.0, abs=1e-6)
    _check_hs(p, small)


def test_inner_maxiter_caps_each_subproblem():
    _, free = _solve_hs(71)
    _, capped = _solve_hs(71, inner_maxiter=1, maxiter=20)
    assert free.success and free.nfev > free.nit + 1  # several inner iterations per subproblem
    assert capped.nit == 20 and capped.nfev <= capped.nit + 1  # one f evaluation per one-iteration subproblem


def test_feasibility_decrease_decides_when_the_penalty_grows():
    """A stricter required decrease (0.01: the violation must shrink a hundredfold per outer iteration) raises
    the penalty more often than a lenient one (0.99)."""
    _, lenient = _solve_hs(71, feasibility_decrease=0.99)
    p, strict = _solve_hs(71, feasibility_decrease=0.01)
    assert strict.penalty > lenient.penalty
    _check_hs(p, strict)


def test_unbounded():
    res = minimize(lambda x: -x[0] - x[1], np.zeros(2), jac=lambda x: -np.ones(2), hess=lambda x: np.zeros((2, 2)),
                   constraints=so.LinearConstraint([[1.0, -1.0]], 0.0, 0.0), options={"unbounded_threshold": 1e8})
    assert res.outcome is Outcome.UNBOUNDED and res.status == 7
    assert res.fun < -1e8 and res.constr_violation <= 1e-8


def test_maxiter_is_honest():
    p = hock_schittkowski(71)
    res = minimize(p.objective, p.x0, bounds=scipy_bounds(p), constraints=list(p.constraints),
                   options={"maxiter": 1})
    assert res.outcome is Outcome.MAX_ITERATIONS and res.nit == 1 and not res.success


def test_nan_in_a_constraint_ends_with_non_finite():
    fun, jac, hess = _quadratic()
    bad = so.NonlinearConstraint(lambda x: np.sqrt(x[:1]) if x[0] >= 0 else np.array([np.nan]), 0.0, 0.5,
                                 jac=lambda x: np.array([[0.5 / np.sqrt(max(x[0], 1e-300)), 0, 0]]),
                                 hess=lambda x, v: np.zeros((3, 3)))
    res = minimize(fun, np.array([-1.0, 0.0, 0.0]), jac=jac, hess=hess, constraints=bad)
    assert res.outcome is Outcome.NON_FINITE and not res.success


def test_missing_constraint_hessian_is_reported():
    """Without hess (NonlinearConstraint's default BFGS()) the constraint's curvature w Hess c (here 2 w I) is
    approximated by a copy of that strategy, and the message says so."""
    target = np.array([0.6, 0.6, 0.63])
    ball = so.NonlinearConstraint(lambda x: np.array([x @ x]), -np.inf, 1.0, jac=lambda x: 2 * x[None])
    res = minimize(lambda x: 0.5 * np.sum((x - target) ** 2), np.zeros(3), jac=lambda x: x - target,
                   hess=lambda x: np.eye(3), constraints=ball)
    assert res.success and "approximated by quasi-Newton updates" in res.message and "(BFGS)" in res.message
    np.testing.assert_allclose(res.x, target / np.linalg.norm(target), atol=1e-7)


# --- quasi-Newton curvature where a Hessian is missing ----------------------------------------------------------
def _without_hessians(p, form):
    """p's constraints with no Hessian: scipy dicts (eq: c - lo = 0; ineq: c - lo >= 0 and hi - c >= 0), or
    NonlinearConstraint with scipy's default hess=BFGS() or with hess=SR1(); linear ones stay LinearConstraint."""
    out = []
    for c in p.constraints:
        if c.is_linear:
            out.append(c.to_scipy())
        elif form == "bfgs":
            out.append(so.NonlinearConstraint(c.fun, c.lo, c.hi, jac=c.jac))
        elif form == "sr1":
            out.append(so.NonlinearConstraint(c.fun, c.lo, c.hi, jac=c.jac, hess=so.SR1()))
        elif np.all(c.lo == c.hi):
            out.append({"type": "eq", "fun": lambda x, c=c: c.fun(x) - c.lo, "jac": c.jac})
        else:
            if np.all(np.isfinite(c.lo)):
                out.append({"type": "ineq", "fun": lambda x, c=c: c.fun(x) - c.lo, "jac": c.jac})
            if np.all(np.isfinite(c.hi)):
                out.append({"type": "ineq", "fun": lambda x, c=c: c.hi - c.fun(x), "jac": lambda x, c=c: -c.jac(x)})
    return out


_QUASI_NEWTON_HS = (14, 43, 71, 100)  # nonlinear inequalities and equalities, with and without bounds


@pytest.mark.parametrize("form", ["dict", "bfgs", "sr1"])
@pytest.mark.parametrize("number", _QUASI_NEWTON_HS)
def test_constraints_without_hessian_reach_the_published_optimum(number, form):
    p = hock_schittkowski(number)
    res = minimize(p.objective, p.x0, bounds=scipy_bounds(p), constraints=_without_hessians(p, form))
    assert res.success, res.message
    assert "approximated by quasi-Newton updates" in res.message
    assert ("(BFGS)" if form == "bfgs" else "(SR1)") in res.message
    scale = max(1.0, abs(p.minimum))
    assert abs(res.fun - p.minimum) <= 1e-6 * scale and res.constr_violation <= 1e-6


@pytest.mark.parametrize("number", (14, 71, 76))
def test_objective_without_hessian_uses_bfgs(number):
    """minimize(method="auglag") with fun and jac only: f's curvature by scipy's BFGS, the KKT point reached."""
    p = hock_schittkowski(number)
    res = minimize(p.objective.fun, p.x0, jac=p.objective.jac, method="auglag", bounds=scipy_bounds(p),
                   constraints=list(p.constraints))
    assert res.success and "f's Hessian was not given" in res.message and "BFGS" in res.message
    _check_hs(p, res)


def test_quasi_newton_leaves_the_users_strategy_alone():
    """The strategy passed as NonlinearConstraint(hess=...) is copied: the caller's instance is never
    initialized or updated (scipy's trust-constr would change it)."""
    p = hock_schittkowski(71)
    strategies = [so.SR1() for _ in p.constraints]
    constraints = [c.to_scipy() if c.is_linear else so.NonlinearConstraint(c.fun, c.lo, c.hi, jac=c.jac, hess=h)
                   for c, h in zip(p.constraints, strategies)]
    res = minimize(p.objective, p.x0, bounds=scipy_bounds(p), constraints=constraints)
    assert res.success
    assert all(h.B is None and h.first_iteration is None for h in strategies)


def test_constraint_quasi_newton_matches_scipy_vector_function(rng):
    """ConstraintQuasiNewton against scipy's own bookkeeping (VectorFunction with hess=SR1(), the object behind
    trust-constr): fed the same points and multipliers, the approximations of Hess(v'c) agree after the first
    update (before it, scipy holds the identity and ours contributes nothing)."""
    from ricci.solvers._constraint_set import ConstraintQuasiNewton, ConstraintSet
    from scipy.optimize._differentiable_functions import VectorFunction

    def fun(x):
        return np.array([x[0] ** 2 * x[1] - np.sin(x[2]), x @ x + x[0] * x[2]])

    def jac(x):
        return np.array([[2 * x[0] * x[1], x[0] ** 2, -np.cos(x[2])], [2 * x[0] + x[2], 2 * x[1], 2 * x[2] + x[0]]])

    x0 = rng.standard_normal(3)
    cset = ConstraintSet([so.NonlinearConstraint(fun, -1.0, 1.0, jac=jac, hess=so.SR1())], x0, np)
    ours = ConstraintQuasiNewton(cset)
    theirs = VectorFunction(fun, x0, jac, so.SR1(), None, None, (-np.inf, np.inf), False)
    v = rng.standard_normal(2)
    theirs.hess(x0, v)
    ours.update(x0, cset.jacobian(x0), v)
    assert ours.matrices() == []
    x = x0
    for _ in range(4):
        x = x + 0.3 * rng.standard_normal(3)
        v = rng.standard_normal(2)  # scipy: v first, then x; both ends of the pair with the new v
        expected = np.asarray(theirs.hess(x, v).get_matrix())
        ours.update(x, cset.jacobian(x), v)
        np.testing.assert_allclose(ours.matrices()[0], expected, rtol=1e-12, atol=1e-12)
    assert ours.pairs == 4


# --- dispatch and refusals -------------------------------------------------------------------------------------
def test_method_none_dispatch(rosenbrock):
    fun, jac, hess, x0 = rosenbrock.fun, rosenbrock.jac, rosenbrock.hess, np.array(rosenbrock.x0)
    plain = minimize(fun, x0, jac=jac, hess=hess)
    newton = minimize(fun, x0, jac=jac, hess=hess, method="newton")
    assert plain.nit == newton.nit and np.array_equal(plain.x, newton.x)
    boxed = minimize(fun, x0, jac=jac, hess=hess, bounds=[(-2, 0.5), (-2, 2)])
    tron = minimize(fun, x0, jac=jac, hess=hess, bounds=[(-2, 0.5), (-2, 2)], method="tron")
    assert np.array_equal(boxed.x, tron.x) and boxed.constr_violation == 0.0
    assert boxed.v[0][0] > 0 and boxed.v[0][1] == 0.0  # x0 at its upper bound, x1 free
    general = minimize(fun, x0, jac=jac, hess=hess, constraints={"type": "ineq", "fun": lambda x: 0.5 - x[0],
                                                                  "jac": lambda x: np.array([-1.0, 0.0])})
    assert general.success and "v" in general
    np.testing.assert_allclose(general.x, boxed.x, atol=1e-6)


@pytest.mark.parametrize("method", list(METHODS))
def test_unconstrained_methods_refuse_constraints(method, rosenbrock):
    fun, jac, hess, x0 = rosenbrock.fun, rosenbrock.jac, rosenbrock.hess, np.array(rosenbrock.x0)
    with pytest.raises(ValueError, match="tron.*auglag"):
        minimize(fun, x0, jac=jac, hess=hess, method=method, bounds=[(0, 1), (0, 1)])
    with pytest.raises(ValueError, match="auglag"):
        minimize(fun, x0, jac=jac, hess=hess, method=method, constraints=_forms()["linear"][:1])


def test_callback_sees_each_outer_iteration():
    fun, jac, hess = _quadratic()
    seen = []
    res = minimize(fun, np.zeros(3), jac=jac, hess=hess, constraints=_forms()["linear"],
                   callback=lambda intermediate_result: seen.append(intermediate_result.constr_violation))
    assert res.success and len(seen) == res.nit and seen[-1] == res.constr_violation

    def stop(intermediate_result):
        raise StopIteration

    res = minimize(fun, np.zeros(3), jac=jac, hess=hess, constraints=_forms()["linear"], callback=stop)
    assert res.outcome is Outcome.CALLBACK_STOP and res.nit == 1


def test_registry_lists_auglag():
    assert CONSTRAINED_METHODS["auglag"] is auglag
    assert "auglag" not in METHODS


def test_scipy_positional_order_is_refused(rosenbrock):
    fun, jac, hess, x0 = rosenbrock.fun, rosenbrock.jac, rosenbrock.hess, np.array(rosenbrock.x0)
    with pytest.raises(TypeError, match="keyword-only"):
        minimize(fun, x0, (), None, jac, hess, None, [(0, 1), (0, 1)])


# --- bad specifications ---------------------------------------------------------------------------------------
_BAD = [
    (so.LinearConstraint(np.ones((1, 3)), 2.0, 1.0), ValueError, "lb <= ub"),
    (so.LinearConstraint(np.ones((1, 4)), 0.0, 1.0), ValueError, r"shape \(m, 3\)"),
    (so.NonlinearConstraint(lambda x: x[:2], [0.0, 1.0, 2.0], 5.0, jac=lambda x: np.eye(3)[:2]), ValueError,
     "2 entries"),
    (so.LinearConstraint(np.ones((1, 3)), np.nan, 1.0), ValueError, "NaN"),
    (so.NonlinearConstraint(lambda x: x[:1], 0.0, 1.0), TypeError, "exact Jacobian"),
    (so.NonlinearConstraint(lambda x: x[:1], 0.0, 1.0, jac=lambda x: np.ones((2, 3))), ValueError, r"shape \(1, 3\)"),
    (so.NonlinearConstraint(lambda x: x[:1], 0.0, 1.0, jac=lambda x: np.eye(3)[:1], hess="2-point"), ValueError,
     "callable hess"),
    ({"type": "le", "fun": lambda x: x[0], "jac": lambda x: np.eye(3)[0]}, ValueError, "'eq' or 'ineq'"),
    ({"type": "eq", "jac": lambda x: np.eye(3)[0]}, ValueError, "needs 'fun'"),
    ({"type": "eq", "fun": lambda x: x[0]}, TypeError, "needs 'jac'"),
    ({"type": "eq", "fun": lambda x: x[0], "jac": lambda x: np.eye(3)[0], "hess": None}, ValueError, "unknown keys"),
    ({"type": "eq", "fun": 3.0, "jac": lambda x: np.eye(3)[0]}, TypeError, "callable"),
    ("x >= 0", TypeError, "LinearConstraint or NonlinearConstraint"),
]


@pytest.mark.parametrize("constraint,error,match", _BAD, ids=[str(i) for i in range(len(_BAD))])
def test_bad_constraint_specifications(constraint, error, match):
    fun, jac, hess = _quadratic()
    with pytest.raises(error, match=match):
        minimize(fun, np.zeros(3), jac=jac, hess=hess, constraints=constraint)


def test_bad_options():
    fun, jac, hess = _quadratic()
    con = _forms()["linear"]
    with pytest.raises(TypeError, match="valid options"):
        minimize(fun, np.zeros(3), jac=jac, hess=hess, constraints=con, options={"penalty": 2})
    with pytest.raises(ValueError, match="penalty_increase"):
        minimize(fun, np.zeros(3), jac=jac, hess=hess, constraints=con, options={"penalty_increase": 1.0})
    res = minimize(fun, np.zeros(3), jac=jac, hess=hess, constraints=con,
                   options=AugmentedLagrangianOptions(ctol=1e-10))
    assert res.success and res.constr_violation <= 1e-10


# --- cases that once failed -------------------------------------------------------------------------------------
def test_symbolic_constraint_objects_and_scipy_forms_agree():
    """rs.Constraint records (duck-typed) and their scipy forms (to_scipy) give the same point."""
    p = hock_schittkowski(71 if 71 in HS_PROBLEMS else 14)
    ours = minimize(p.objective, p.x0, bounds=scipy_bounds(p), constraints=list(p.constraints))
    theirs = minimize(p.objective, p.x0, bounds=scipy_bounds(p), constraints=scipy_constraints(p))
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-6)


@pytest.mark.parametrize("number", (15, 76))
def test_convergence_waits_for_complementarity(number):
    """HS 15 once ended CONVERGED with complementarity 4.2e-6 (and |f - f*| = 4.2e-6: the projected gradient and
    the violation were at tolerance, w_i r_i at an active constraint was not), HS 76 with 3.6e-6; the stopping
    test now measures complementarity with the returned multipliers, and f lands within 1e-8 of f*."""
    p, res = _solve_hs(number)
    assert res.success and res.complementarity <= TOL, res.message
    assert "complementarity" in res.message
    _check_hs(p, res)
    assert abs(res.fun - p.minimum) <= TOL * max(1.0, abs(p.minimum))


# --- the augmented Lagrangian's derivatives ---------------------------------------------------------------------
@pytest.mark.parametrize("number", [14, 43, 71])
def test_augmented_lagrangian_derivatives_match_finite_differences(number, rng):
    from ricci.solvers._augmented_lagrangian import AugmentedLagrangianModel, _Objective
    from ricci.solvers._constraint_set import ConstraintSet
    from ricci.solvers._evaluator import Counts, resolve_objective

    p = hock_schittkowski(number)
    functions = resolve_objective(p.objective, None, None, None, method="auglag", needs="hessian")
    cset = ConstraintSet(list(p.constraints), p.x0, np)
    model = AugmentedLagrangianModel(np, _Objective(np, functions, (), Counts()), cset, p.n, p.x0)
    model.set_parameters(rng.standard_normal(cset.m), 3.0)
    z, d = rng.standard_normal(p.n + model.n_ineq), rng.standard_normal(p.n + model.n_ineq)
    h = 1e-6
    assert (model.fun(z + h * d) - model.fun(z - h * d)) / (2 * h) == pytest.approx(model.jac(z) @ d, rel=1e-6)
    np.testing.assert_allclose((model.jac(z + h * d) - model.jac(z - h * d)) / (2 * h), model.hess(z) @ d,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.hess_operator(z).to_dense(), model.hess(z), atol=1e-12)
    np.testing.assert_allclose(model.hessp(z, d), model.hess(z) @ d, atol=1e-11)


@pytest.mark.parametrize("structured", [False, True], ids=["dense", "operator"])
def test_sparse_linear_constraint_simplex_projection(structured, rng, monkeypatch):
    """Projection onto the simplex {x >= 0, sum x = 1} with the constraint as a scipy.sparse LinearConstraint
    and an inactive sparse inequality, against the sort-based closed form (Held, Wolfe & Crowder 1974); the
    subproblems' Hessian dense, or an operator (block diagonal + Gram of the sparse [J, -E_I])."""
    import scipy.sparse as sp

    if structured:
        monkeypatch.setattr("ricci.solvers._augmented_lagrangian._DENSE_LIMIT", 10)
    n = 60

    y = rng.standard_normal(n)
    u = np.sort(y)[::-1]
    cumulative = np.cumsum(u) - 1.0
    rho = np.flatnonzero(u - cumulative / np.arange(1, n + 1) > 0)[-1]
    expected = np.maximum(y - cumulative[rho] / (rho + 1), 0.0)
    constraints = [so.LinearConstraint(sp.csr_array(np.ones((1, n))), 1.0, 1.0),
                   so.LinearConstraint(sp.eye_array(n, format="csr")[:2], -np.inf, 5.0)]
    res = minimize(lambda x: 0.5 * np.sum((x - y) ** 2), np.full(n, 1.0 / n), jac=lambda x: x - y,
                   hess=lambda x: sp.eye_array(n, format="csr"), bounds=so.Bounds(0, np.inf),
                   constraints=constraints)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, expected, atol=1e-8)


# --- the subproblem's Hessian as an operator ------------------------------------------------------------------
@pytest.mark.parametrize("number", (14, 43, 71, 76))
def test_dense_and_operator_subproblems_reach_one_point(number, monkeypatch):
    """The same HS problem (f's Hessian a dense array) with the augmented Lagrangian's Hessian assembled dense
    (small n: tron factorizes it) and kept an operator (``_DENSE_LIMIT`` 0: diag(H_f + H_w) + Gram(mu, [J, -E])
    and Jacobi-preconditioned CG): one KKT point to 1e-8. The iterates differ by the preconditioner only."""
    from ricci.solvers._augmented_lagrangian import AugmentedLagrangianModel

    p = hock_schittkowski(number)
    obj = p.objective

    def solve():
        return minimize(obj.fun, p.x0, jac=obj.jac, hess=obj.hess, method="auglag", bounds=scipy_bounds(p),
                        constraints=list(p.constraints))

    def refused(self, z):
        raise AssertionError("the other form of the Hessian was asked for")

    with monkeypatch.context() as patch:
        patch.setattr(AugmentedLagrangianModel, "hess_operator", refused)
        dense = solve()
    monkeypatch.setattr("ricci.solvers._augmented_lagrangian._DENSE_LIMIT", 0)
    monkeypatch.setattr(AugmentedLagrangianModel, "hess", refused)
    structured = solve()
    _check_hs(p, dense)
    _check_hs(p, structured)
    np.testing.assert_allclose(structured.x, dense.x, atol=1e-7)


@dataclass(frozen=True, eq=False, repr=False)
class _NoDenseForm(Operator):
    """An operator known through products and its diagonal whose dense form is refused: whatever would form an
    n x n matrix from it (densifying the augmented Lagrangian's Hessian, a dense factorization) fails."""

    inner: object
    symmetric: bool = True
    shape = property(lambda self: self.inner.shape)
    dtype = property(lambda self: self.inner.dtype)
    xp = property(lambda self: self.inner.xp)
    nbytes = property(lambda self: self.inner.nbytes)

    def _matmat(self, V):
        return self.inner._matmat(V)

    def diagonal(self):
        return self.inner.diagonal()

    def to_dense(self):
        raise AssertionError(f"an {self.shape} matrix was formed")


class _Ball:
    """lo <= ||x||^2 <= radius2 as a duck-typed constraint with its Hessian as an operator only (hess
    refuses)."""

    def __init__(self, n, radius2, lo=-np.inf):
        self.n, self.lo, self.hi = n, lo, radius2

    def fun(self, x):
        return np.array([x @ x])

    def jac(self, x):
        return 2 * x[None]

    def hess(self, x, v):
        raise AssertionError("the constraint's dense Hessian was asked for")

    def hess_operator(self, x, v):
        return ScaledIdentity(self.n, 2.0 * float(v[0]), like=x)


def test_large_simplex_qp_keeps_every_hessian_an_operator(rng):
    """min 1/2 x'Hx - b'x over the simplex {sum x = 1, x >= 0} and the ball ||x||^2 <= 0.8 ||x_s||^2 (x_s the
    simplex solution; the ball is active), n = 2000, H = diag(d) + U' diag(s) U (rank 5) an operator whose dense
    form raises, the ball's Hessian an operator only: no n x n matrix is formed. The products-only run (hessp)
    reaches the same point, and the KKT conditions hold with the returned multipliers."""
    n, k = 2000, 5
    d, U, s = rng.uniform(1, 10, n), rng.standard_normal((k, n)) / np.sqrt(n), rng.uniform(1, 5, k)
    b = rng.standard_normal(n)
    H = SumOperator([DiagonalOperator(d), GramOperator(U, s)])
    fun, jac = (lambda x: 0.5 * x @ (H @ x) - b @ x), (lambda x: H @ x - b)
    x0, box = np.full(n, 1.0 / n), so.Bounds(0, np.inf)
    simplex = so.LinearConstraint(np.ones((1, n)), 1.0, 1.0)
    plain = minimize(fun, x0, jac=jac, hess=lambda x: _NoDenseForm(H), bounds=box, constraints=simplex)
    assert plain.success, plain.message
    ball = _Ball(n, 0.8 * (plain.x @ plain.x))
    res = minimize(fun, x0, jac=jac, hess=lambda x: _NoDenseForm(H), bounds=box, constraints=[simplex, ball])
    products = minimize(fun, x0, jac=jac, hessp=lambda x, p: H @ p, bounds=box, constraints=[simplex, ball])
    assert res.success and products.success, (res.message, products.message)
    np.testing.assert_allclose(res.x, products.x, atol=1e-8)
    assert res.x @ res.x == pytest.approx(ball.hi, abs=1e-8) and res.v[1][0] > 0  # the ball is active
    assert res.x.sum() == pytest.approx(1.0, abs=1e-8) and res.x.min() >= 0
    stationarity = jac(res.x) + res.v[0][0] + 2 * res.v[1][0] * res.x + res.v[2]
    np.testing.assert_allclose(stationarity, 0.0, atol=1e-7)
    assert np.all(res.v[2] <= 0) and np.all(res.v[2][res.x > 0] == 0) and res.complementarity <= 1e-8


def test_operator_hessian_of_a_small_problem_stays_an_operator():
    """f's hess returning an Operator keeps the operator path at any n (here 3, the projection onto the sphere
    ||x|| = 1, an equality: no slacks, whose small block operator would be assembled): its dense form is never
    asked for."""
    target = np.array([0.6, 0.6, 0.63])
    H = _NoDenseForm(DiagonalOperator(np.ones(3)))
    res = minimize(lambda x: 0.5 * np.sum((x - target) ** 2), np.ones(3), jac=lambda x: x - target,
                   hess=lambda x: H, constraints=[_Ball(3, 1.0, lo=1.0)])
    assert res.success, res.message
    np.testing.assert_allclose(res.x, target / np.linalg.norm(target), atol=1e-8)


def test_auglag_with_bounds_only_agrees_with_tron(rosenbrock):
    fun, jac, hess, x0 = rosenbrock.fun, rosenbrock.jac, rosenbrock.hess, np.array(rosenbrock.x0)
    box = [(-2, 0.5), (-2, 2)]
    ours = minimize(fun, x0, jac=jac, hess=hess, bounds=box, method="auglag")
    tron = minimize(fun, x0, jac=jac, hess=hess, bounds=box, method="tron", tol=1e-8)
    assert ours.success and len(ours.constr) == len(ours.v) == 1 and np.array_equal(ours.constr[0], ours.x)
    np.testing.assert_allclose(ours.x, tron.x, atol=1e-8)
    np.testing.assert_allclose(ours.v[0], tron.v[0], atol=1e-6)

