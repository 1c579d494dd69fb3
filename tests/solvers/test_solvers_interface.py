"""The scipy-compatible interface: the custom-method path, callbacks, disp, options, argument checking,
non-finite values, and the special starting points (optimum, saddle, singular and indefinite Hessians)."""
from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
import ricci.solvers as rsol
import scipy.optimize as so
from array_api_compat import array_namespace
from ricci.solvers import (
    METHODS,
    NewtonOptions,
    Outcome,
    TrustExactOptions,
    TrustRegionOptions,
    minimize,
)

X0 = np.array([-1.2, 1.0])
CALLABLES = {"newton": rsol.newton, "trust-exact": rsol.trust_exact, "trust-ncg": rsol.trust_ncg,
             "trust-krylov": rsol.trust_krylov, "dogleg": rsol.dogleg, "lbfgs": rsol.lbfgs}


# --- the scipy custom-method path -------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CALLABLES))
def test_scipy_custom_method(name, rosenbrock):
    res = so.minimize(rosenbrock.fun, X0, method=CALLABLES[name], options={"gtol": 1e-9}, **rosenbrock.derivatives)
    assert res.success and np.allclose(res.x, [1.0, 1.0], atol=1e-7)
    direct = minimize(rosenbrock.fun, X0, method=name, options={"gtol": 1e-9}, **rosenbrock.derivatives)
    assert res.nit == direct.nit and res.nfev == direct.nfev


def test_scipy_custom_method_tol_callback_and_jac_true(rosenbrock):
    seen = []

    def fun_and_grad(x):
        return rosenbrock.fun(x), rosenbrock.jac(x)

    res = so.minimize(fun_and_grad, X0, method=rsol.trust_exact, jac=True, hess=rosenbrock.hess, tol=1e-10,
                      callback=lambda xk: seen.append(np.array(xk)))
    assert res.success and np.abs(res.jac).max() <= 1e-10
    assert len(seen) == res.nit


def test_scipy_custom_method_rejects_bounds(rosenbrock):
    with pytest.raises(ValueError, match="unconstrained"):
        so.minimize(rosenbrock.fun, X0, method=rsol.newton, bounds=[(0, 2), (0, 2)], **rosenbrock.derivatives)


def test_method_callable_in_ricci_minimize(rosenbrock):
    res = minimize(rosenbrock.fun, X0, method=rsol.dogleg, **rosenbrock.derivatives)
    assert res.success


# --- callbacks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", list(METHODS))
def test_new_style_callback_gets_intermediate_result(method, rosenbrock):
    seen = []

    def callback(intermediate_result):
        seen.append(intermediate_result)

    res = minimize(rosenbrock.fun, X0, method=method, callback=callback, **rosenbrock.derivatives)
    assert len(seen) == res.nit
    last = seen[-1]
    assert np.array_equal(last.x, res.x) and last.fun == res.fun and last.nit == res.nit
    assert np.array_equal(last.jac, res.jac)


@pytest.mark.parametrize("method", list(METHODS))
def test_legacy_callback_gets_a_copy_of_x(method, rosenbrock):
    seen = []
    res = minimize(rosenbrock.fun, X0, method=method, callback=lambda xk: seen.append(xk), **rosenbrock.derivatives)
    assert len(seen) == res.nit
    assert all(isinstance(xk, np.ndarray) and xk.shape == (2,) for xk in seen)
    assert seen[-1] is not res.x and np.array_equal(seen[-1], res.x)


@pytest.mark.parametrize("method", list(METHODS))
def test_stop_iteration_ends_with_status_99(method, rosenbrock):
    calls = []

    def callback(intermediate_result):
        calls.append(np.array(intermediate_result.x))
        if len(calls) == 3:
            raise StopIteration

    res = minimize(rosenbrock.fun, X0, method=method, callback=callback, **rosenbrock.derivatives)
    assert res.status == 99 and not res.success and res.outcome is Outcome.CALLBACK_STOP
    assert "StopIteration" in res.message
    assert res.nit == 3 and np.array_equal(res.x, calls[-1])
    assert res.fun == rosenbrock.fun(res.x)


# --- disp -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", list(METHODS))
def test_disp_prints_one_line_per_iteration_and_a_summary(method, capsys, rosenbrock):
    res = minimize(rosenbrock.fun, X0, method=method, options={"disp": True}, **rosenbrock.derivatives)
    out = capsys.readouterr().out.splitlines()
    iteration_lines = [line for line in out if re.match(r"^\s+\d+\s+[-+]?\d\.\d+e[-+]\d+\s", line)]
    assert len(iteration_lines) == res.nit + 1  # iterations 0..nit
    header = next(line for line in out if "iter" in line)
    for word in ("f", "|g|_inf", "time[s]"):
        assert word in header
    assert ("radius" in header) if method not in ("newton", "lbfgs") else ("step" in header)
    assert res.message in out
    assert any("nfev" in line for line in out)
    last = iteration_lines[-1].split()
    assert int(last[0]) == res.nit and math.isclose(float(last[1]), res.fun, rel_tol=1e-7, abs_tol=1e-300)


def test_no_output_without_disp(capsys, rosenbrock):
    minimize(rosenbrock.fun, X0, method="trust-exact", **rosenbrock.derivatives)
    assert capsys.readouterr().out == ""


# --- options ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", list(METHODS))
def test_unknown_option_lists_valid_ones(method, rosenbrock):
    with pytest.raises(TypeError, match="unknown option") as info:
        minimize(rosenbrock.fun, X0, method=method, options={"gtol": 1e-6, "no_such_option": 1},
                 **rosenbrock.derivatives)
    message = str(info.value)
    assert "no_such_option" in message and "gtol" in message and "maxiter" in message and "disp" in message


@pytest.mark.parametrize("method,options", [
    ("newton", {"gtol": -1.0}), ("newton", {"maxiter": -3}), ("newton", {"line_search": "exact"}),
    ("newton", {"c1": 0.9, "c2": 0.5}), ("trust-exact", {"initial_trust_radius": 0.0}),
    ("trust-ncg", {"eta": 0.5}), ("dogleg", {"max_trust_radius": 0.5}), ("lbfgs", {"maxcor": 0}),
    ("trust-exact", {"k_easy": 1.5}), ("trust-krylov", {"subproblem_maxiter": 0}),
])
def test_bad_option_values(method, options, rosenbrock):
    with pytest.raises(ValueError, match=next(iter(options))):
        minimize(rosenbrock.fun, X0, method=method, options=options, **rosenbrock.derivatives)


def test_options_as_dataclasses(rosenbrock):
    res = minimize(rosenbrock.fun, X0, method="newton", options=NewtonOptions(line_search="wolfe", gtol=1e-10),
                   **rosenbrock.derivatives)
    assert res.success and np.abs(res.jac).max() <= 1e-10
    res = minimize(rosenbrock.fun, X0, method="trust-exact", options=TrustExactOptions(initial_trust_radius=0.1),
                   **rosenbrock.derivatives)
    assert res.success
    with pytest.raises(TypeError, match="TrustExactOptions"):
        minimize(rosenbrock.fun, X0, method="trust-exact", options=TrustRegionOptions(), **rosenbrock.derivatives)
    with pytest.raises(TypeError, match="mapping"):
        minimize(rosenbrock.fun, X0, method="newton", options=[("gtol", 1.0)], **rosenbrock.derivatives)


def test_tol_sets_gtol_and_maxiter_stops(rosenbrock):
    res = minimize(rosenbrock.fun, X0, method="trust-ncg", tol=1e-11, **rosenbrock.derivatives)
    assert res.success and np.abs(res.jac).max() <= 1e-11
    res = minimize(rosenbrock.fun, X0, method="newton", options={"maxiter": 3}, **rosenbrock.derivatives)
    assert res.status == 1 and res.nit == 3 and not res.success and res.outcome is Outcome.MAX_ITERATIONS


# --- argument checking ------------------------------------------------------------------------------
def test_x0_must_be_one_dimensional(rosenbrock):
    with pytest.raises(ValueError, match=r"1-D array of shape \(n,\); got an array of shape \(2, 1\)"):
        minimize(rosenbrock.fun, np.ones((2, 1)), **rosenbrock.derivatives)
    with pytest.raises(ValueError, match=r"shape \(\)"):
        minimize(rosenbrock.fun, np.float64(1.0), **rosenbrock.derivatives)
    with pytest.raises(ValueError, match="at least one"):
        minimize(rosenbrock.fun, np.ones(0), **rosenbrock.derivatives)


def test_x0_must_be_floating(make_array, rosenbrock):
    import array_api_strict as xs

    for bad in (np.array([1, 2]), xs.asarray([1, 2]), np.array([True, False]), np.array([1 + 1j, 2])):
        with pytest.raises(TypeError, match=r"real floating dtype .*got dtype"):
            minimize(rosenbrock.fun, bad, **rosenbrock.derivatives)
    res = minimize(rosenbrock.fun, [-1, 1], **rosenbrock.derivatives)  # a Python list of ints is converted, as in scipy
    assert res.success and res.x.dtype == np.float64


def test_missing_derivatives_are_named(rosenbrock):
    with pytest.raises(TypeError, match="needs the exact gradient"):
        minimize(rosenbrock.fun, X0, method="lbfgs")
    with pytest.raises(TypeError, match="finite differences are not supported"):
        minimize(rosenbrock.fun, X0, method="lbfgs", jac="2-point")
    for method in ("newton", "trust-exact", "dogleg"):
        with pytest.raises(TypeError, match="needs the Hessian matrix"):
            minimize(rosenbrock.fun, X0, method=method, jac=rosenbrock.jac)
    for method in ("trust-ncg", "trust-krylov"):
        with pytest.raises(TypeError, match="hess=callable.*or hessp"):
            minimize(rosenbrock.fun, X0, method=method, jac=rosenbrock.jac)


def test_unknown_method(rosenbrock):
    with pytest.raises(ValueError, match="unknown method 'bfgs'; valid methods are: newton, trust-exact"):
        minimize(rosenbrock.fun, X0, method="bfgs", **rosenbrock.derivatives)
    assert minimize(rosenbrock.fun, X0, method="TRUST_EXACT", **rosenbrock.derivatives).success  # scipy-style spelling


def test_wrong_shapes_from_user_functions(rosenbrock):
    with pytest.raises(ValueError, match=r"jac must return an array of shape \(2,\); got shape \(3,\)"):
        minimize(rosenbrock.fun, X0, jac=lambda x: np.ones(3), hess=rosenbrock.hess)
    with pytest.raises(ValueError, match=r"hess must return an array of shape \(2, 2\)"):
        minimize(rosenbrock.fun, X0, jac=rosenbrock.jac, hess=lambda x: np.ones(2))
    with pytest.raises(ValueError, match="fun must return a scalar"):
        minimize(lambda x: x, X0, **rosenbrock.derivatives)


# --- objectives given as objects, jac=True, args ----------------------------------------------------
class CountingObjective:
    """A problem's functions as methods, duck-typed like ricci.symbolic.Objective, with call counts."""

    def __init__(self, problem):
        self.problem = problem
        self.calls = {"fun": 0, "jac": 0, "hess": 0, "hessp": 0, "fun_and_jac": 0}

    def fun(self, x):
        self.calls["fun"] += 1
        return self.problem.fun(x)

    def jac(self, x):
        self.calls["jac"] += 1
        return self.problem.jac(x)

    def hess(self, x):
        self.calls["hess"] += 1
        return self.problem.hess(x)

    def hessp(self, x, p):
        self.calls["hessp"] += 1
        return self.problem.hess(x) @ p


class CountingObjectiveFused(CountingObjective):
    def fun_and_jac(self, x):
        self.calls["fun_and_jac"] += 1
        return self.problem.fun(x), self.problem.jac(x)


@pytest.mark.parametrize("method", list(METHODS))
def test_objective_object(method, rosenbrock):
    obj = CountingObjective(rosenbrock)
    res = minimize(obj, X0, method=method)
    assert res.success and np.allclose(res.x, 1.0, atol=1e-4)
    assert res.nfev == obj.calls["fun"] and res.njev == obj.calls["jac"]
    if method in ("trust-ncg", "trust-krylov"):
        assert obj.calls["hessp"] == res.nhev and obj.calls["hess"] == 0
    elif method != "lbfgs":
        assert obj.calls["hess"] == res.nhev


def test_objective_object_fused_value_and_gradient(rosenbrock):
    obj = CountingObjectiveFused(rosenbrock)
    res = minimize(obj, X0, method="lbfgs")
    assert res.success and obj.calls["fun_and_jac"] >= 1


def test_explicit_derivatives_override_the_object(rosenbrock):
    obj = CountingObjective(rosenbrock)
    hess_calls = []
    res = minimize(obj, X0, method="trust-exact", hess=lambda x: hess_calls.append(1) or rosenbrock.hess(x))
    assert res.success and obj.calls["hess"] == 0 and len(hess_calls) == res.nhev


@pytest.mark.parametrize("method", list(METHODS))
def test_jac_true_and_args(method):
    def fun(x, a, b):
        return (a - x[0]) ** 2 + b * (x[1] - x[0] ** 2) ** 2, np.array(
            [-2 * (a - x[0]) - 4 * b * x[0] * (x[1] - x[0] ** 2), 2 * b * (x[1] - x[0] ** 2)])

    def hess(x, a, b):
        return np.array([[2 - 4 * b * x[1] + 12 * b * x[0] ** 2, -4 * b * x[0]], [-4 * b * x[0], 2 * b]])

    res = minimize(fun, X0, args=(2.0, 10.0), method=method, jac=True, hess=hess, options={"gtol": 1e-9})
    assert res.success and np.allclose(res.x, [2.0, 4.0], atol=1e-6)
    assert res.njev == res.nfev  # every call returned both


# --- non-finite values ------------------------------------------------------------------------------
class GoesNaN:
    """A problem whose value (or gradient, or Hessian) becomes NaN after a number of calls."""

    def __init__(self, problem, after, where="fun"):
        self.problem, self.after, self.where, self.calls = problem, after, where, 0
        self.finite_points = []

    def fun(self, x):
        if self.where == "fun":
            self.calls += 1
            if self.calls > self.after:
                return float("nan")
        value = self.problem.fun(x)
        self.finite_points.append((value, np.array(x)))
        return value

    def jac(self, x):
        if self.where == "jac":
            self.calls += 1
            if self.calls > self.after:
                return np.full(2, np.nan)
        return self.problem.jac(x)

    def hess(self, x):
        if self.where == "hess":
            self.calls += 1
            if self.calls > self.after:
                return np.full((2, 2), np.inf)
        return self.problem.hess(x)

    def hessp(self, x, p):
        with np.errstate(invalid="ignore"):  # inf * 0 in the product is the point of this test
            return self.hess(x) @ p


@pytest.mark.parametrize("method,where", [(m, w) for m in METHODS for w in ("fun", "jac", "hess")
                                          if not (m == "lbfgs" and w == "hess")])  # lbfgs uses no Hessian
def test_non_finite_values_stop_honestly(method, where, rosenbrock):
    obj = GoesNaN(rosenbrock, after=5, where=where)
    res = minimize(obj, X0, method=method)
    assert not res.success and res.status == 4 and res.outcome is Outcome.NON_FINITE
    assert "non-finite" in res.message
    assert math.isfinite(res.fun) and np.all(np.isfinite(res.x)) and np.all(np.isfinite(res.jac))
    assert res.fun == rosenbrock.fun(res.x) and res.fun <= rosenbrock.fun(X0)  # a real point, and not worse


@pytest.mark.parametrize("method", list(METHODS))
def test_non_finite_at_x0(method, rosenbrock):
    res = minimize(lambda x: float("inf"), X0, method=method, **rosenbrock.derivatives)
    assert res.status == 4 and np.array_equal(res.x, X0) and res.nit == 0


@pytest.mark.parametrize("method", list(METHODS))
def test_nan_region_is_backed_out_of(method, rosenbrock):
    """f is NaN (outside its domain) for x0 + large steps; the solver shortens the step and converges."""

    def fun(x):
        return float("nan") if x[0] > 1.5 else rosenbrock.fun(x)

    res = minimize(fun, np.array([1.4, 1.5]), method=method, options={"initial_trust_radius": 10.0}
                   if method not in ("newton", "lbfgs") else None, **rosenbrock.derivatives)
    assert res.success and np.allclose(res.x, 1.0, atol=1e-4)


def test_no_numpy_warnings_escape_with_warnings_as_errors():
    def fun(x):  # overflows for the long trial steps (x ~ 1e200)
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.sum(np.exp(x) - x))

    def jac(x):
        with np.errstate(over="ignore"):
            return np.exp(x) - 1.0

    def hess(x):
        with np.errstate(over="ignore"):
            return np.diag(np.exp(x))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in METHODS:
            res = minimize(fun, np.full(3, -30.0), method=method, jac=jac, hess=hess,
                           options={"max_trust_radius": 1e300, "initial_trust_radius": 1e250}
                           if method not in ("newton", "lbfgs") else None)
            assert res.success and np.allclose(res.x, 0.0, atol=1e-5), (method, res.message)


# --- special starting points ------------------------------------------------------------------------
@pytest.mark.parametrize("method", list(METHODS))
def test_start_at_the_optimum(method, make_array, rosenbrock):
    problem = rosenbrock
    res = minimize(problem.fun, make_array([1.0, 1.0]), method=method, jac=problem.jac, hess=problem.hess)
    assert res.success and res.nit == 0 and res.nfev == 1 and res.fun == 0.0


def singular(x):  # (x1 + x2 - 2)^2 + (x1 + x2 - 2)^4: the Hessian has rank 1 everywhere
    s = x[0] + x[1] - 2.0
    return s**2 + s**4


def singular_g(x):
    s = x[0] + x[1] - 2.0
    return np.full(2, 2 * s + 4 * s**3)


def singular_h(x):
    s = x[0] + x[1] - 2.0
    return np.full((2, 2), 2 + 12 * s**2)


@pytest.mark.parametrize("method", list(METHODS))
def test_singular_hessian(method):
    res = minimize(singular, np.array([3.0, 4.0]), method=method, jac=singular_g, hess=singular_h,
                   options={"gtol": 1e-10})
    assert res.success and abs(res.x[0] + res.x[1] - 2.0) < 1e-8


def saddle(x):  # x1^2 - x2^2 + x2^4 / 4: saddle at 0, minima (0, +-sqrt(2)) with f = -1
    return x[0] ** 2 - x[1] ** 2 + x[1] ** 4 / 4


def saddle_g(x):
    return np.array([2 * x[0], -2 * x[1] + x[1] ** 3])


def saddle_h(x):
    return np.array([[2.0, 0.0], [0.0, -2.0 + 3 * x[1] ** 2]])


@pytest.mark.parametrize("method", list(METHODS))
def test_indefinite_hessian_gives_descent(method):
    res = minimize(saddle, np.array([1.0, 0.1]), method=method, jac=saddle_g, hess=saddle_h)
    assert res.success and math.isclose(res.fun, -1.0, abs_tol=1e-9)
    assert np.allclose(np.abs(res.x), [0.0, math.sqrt(2.0)], atol=1e-5)


def test_trust_exact_escapes_a_saddle_through_the_hard_case():
    """g = (2, 0) is orthogonal to the negative-curvature direction e2: the hard case of More-Sorensen.
    Only trust-exact sees the negative curvature; the other methods converge to the saddle's first-order
    stationary point as their theory allows."""
    res = minimize(saddle, np.array([1.0, 0.0]), method="trust-exact", jac=saddle_g, hess=saddle_h)
    assert res.success and math.isclose(res.fun, -1.0, abs_tol=1e-9)


@pytest.mark.parametrize("method", list(METHODS))
def test_start_at_a_saddle_is_first_order_stationary(method):
    res = minimize(saddle, np.zeros(2), method=method, jac=saddle_g, hess=saddle_h)
    assert res.success and res.nit == 0


# --- results and outcomes ---------------------------------------------------------------------------
def test_outcome_enum_carries_status_and_message():
    statuses = [o.status for o in Outcome]
    assert len(set(statuses)) == len(statuses)
    assert Outcome.CALLBACK_STOP.status == 99 and Outcome.CONVERGED.status == 0
    assert all(o.message and o.success == (o is Outcome.CONVERGED) for o in Outcome)


@pytest.mark.parametrize("method", list(METHODS))
def test_result_fields(method, make_array, rosenbrock):
    x0 = make_array([-1.2, 1.0])
    res = minimize(rosenbrock.fun, x0, method=method, **rosenbrock.derivatives)
    for field in ("x", "fun", "jac", "nit", "nfev", "njev", "nhev", "status", "success", "message"):
        assert field in res
    assert isinstance(res.fun, float) and isinstance(res.status, int) and isinstance(res.success, bool)
    assert array_namespace(res.x) is array_namespace(x0)
    if method in ("newton", "trust-exact", "dogleg"):
        assert array_namespace(res.hess) is array_namespace(x0)
        np.testing.assert_allclose(np.asarray(res.hess), rosenbrock.hess(np.asarray(res.x)))


def test_trust_exact_evaluates_hessians_only_at_accepted_points(rosenbrock):
    accepted = []

    def callback(intermediate_result):
        if intermediate_result.step_accepted:
            accepted.append(1)

    res = minimize(rosenbrock.fun, X0, method="trust-exact", callback=callback, **rosenbrock.derivatives)
    # one Hessian at x0, one per accepted step except the last (converged there), one for the result
    assert res.nhev == 1 + (len(accepted) - 1) + 1
    assert res.nit > len(accepted)  # some steps were rejected and cost no Hessian
