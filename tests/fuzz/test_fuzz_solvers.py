"""Faulty objectives into every method of ``minimize`` and ``least_squares``: values that turn NaN, inf or -inf
(from some call on, or in a region of x), complex or text values, arrays of the wrong shape, functions that
raise, and scalings by 1e+-150.

Each property: a value of the wrong kind (complex, text, None, wrong shape) is a TypeError or ValueError naming
the function that returned it; an exception of the user's own goes through unchanged; otherwise the solve ends
with a result whose status is honest -- success only where the gradient test really holds at the returned
point (checked with the fault-free functions) -- and whose point is the best one found: finite, its values
those of the fault-free functions there, and no worse than x0 (issue "Reliability and security", items 6, 8,
9, 11 and 13).
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci.solvers import METHODS, LeastSquaresOutcome, Outcome, least_squares, minimize

FUZZ = settings.get_profile("ricci-fuzz")
MINIMIZE = list(METHODS)
LEAST_SQUARES = ["lm", "gauss-newton"]


class UserError(Exception):
    """What a user's function raises; it must reach the caller unchanged."""


# --- the fault-free problem: a sum of squares of smooth residuals (so every method applies) -----------------------
class Problem:
    """r_i(x) = a_i' x - b_i + c (x_i)^2, f = sum r_i^2 (times ``scale``), n = m = 3."""

    def __init__(self, seed, scale=1.0):
        rng = np.random.default_rng(seed)
        self.A = rng.standard_normal((3, 3)) + 2 * np.eye(3)
        self.b = rng.standard_normal(3)
        self.c = 0.3
        self.scale = scale
        self.root = math.sqrt(scale)

    def residual(self, x):
        return self.root * (self.A @ x - self.b + self.c * x**2)

    def jacobian(self, x):
        return self.root * (self.A + 2 * self.c * np.diag(x))

    def fun(self, x):
        r = self.residual(x)
        return float(r @ r)

    def jac(self, x):
        return 2 * self.jacobian(x).T @ self.residual(x)

    def hess(self, x):
        J, r = self.jacobian(x), self.residual(x)
        return 2 * (J.T @ J + np.diag(2 * self.root * self.c * r))

    def hessp(self, x, p):
        return self.hess(x) @ p


# --- faults --------------------------------------------------------------------------------------------------
VALUE_FAULTS = ["nan", "inf", "-inf"]
KIND_FAULTS = ["complex", "text", "none", "shape", "list-of-text"]


def faulty_value(kind, clean):
    """What a faulty function returns instead of ``clean`` (a float or an array)."""
    arr = np.asarray(clean, dtype=float)
    if kind in ("nan", "inf", "-inf"):
        bad = np.full_like(arr, float(kind))
        return float(bad) if np.ndim(clean) == 0 else bad
    if kind == "complex":
        return complex(clean) + 1j if np.ndim(clean) == 0 else arr + 1j
    if kind == "text":
        return str(float(clean)) if np.ndim(clean) == 0 else str(arr.tolist())
    if kind == "list-of-text":
        return [str(v) for v in np.ravel(arr)]
    if kind == "none":
        return None
    if kind == "shape":
        return np.ones(arr.size + 1) if arr.ndim <= 1 else np.ones((arr.shape[0], arr.shape[1] + 1))
    raise AssertionError(kind)


class Faulty:
    """The problem's functions, one of them faulty from its ``after``-th call on, or only in the region
    x_0 > ``threshold`` (when ``threshold`` is not None)."""

    def __init__(self, problem, where, kind, after, threshold):
        self.problem, self.where, self.kind, self.after, self.threshold = problem, where, kind, after, threshold
        self.calls = 0
        self.triggered = False

    def _maybe(self, name, x, clean):
        if name != self.where:
            return clean
        self.calls += 1
        if self.threshold is not None:
            fire = float(x[0]) > self.threshold
        else:
            fire = self.calls > self.after
        if not fire:
            return clean
        self.triggered = True
        if self.kind == "raise":
            raise UserError(f"{name} failed at call {self.calls}")
        return faulty_value(self.kind, clean)

    def fun(self, x):
        return self._maybe("fun", x, self.problem.fun(x))

    def jac(self, x):
        return self._maybe("jac", x, self.problem.jac(x))

    def hess(self, x):
        return self._maybe("hess", x, self.problem.hess(x))

    def hessp(self, x, p):
        return self._maybe("hessp", x, self.problem.hessp(x, p))

    def residual(self, x):
        return self._maybe("residual", x, self.problem.residual(x))

    def jacobian(self, x):
        return self._maybe("jacobian", x, self.problem.jacobian(x))


NAMES_IN_MESSAGES = {"fun": "fun", "jac": "jac", "hess": "hess", "hessp": "hessp", "residual": "fun",
                     "jacobian": "jac"}


def check_minimize_result(res, problem, x0, gtol):
    f0 = problem.fun(x0)
    assert isinstance(res.status, int) and isinstance(res.message, str) and res.message
    assert res.success == (res.status == 0) == (res.outcome is Outcome.CONVERGED)
    if res.outcome is Outcome.NON_FINITE and res.nit == 0 and np.array_equal(res.x, x0):
        return  # the fault hit x0 itself: nothing to minimize from there
    assert np.all(np.isfinite(res.x)) and math.isfinite(res.fun), res.message
    assert res.fun == problem.fun(res.x), "the reported f is not f at the reported x"
    assert res.fun <= f0 + 1e-12 * (1 + abs(f0)), "the returned point is worse than x0"
    if res.success:
        g = problem.jac(res.x)
        assert np.max(np.abs(g)) <= gtol, "success where the gradient test does not hold"
        assert np.array_equal(res.jac, g)


def check_least_squares_result(res, problem, x0):
    cost0 = 0.5 * float(problem.residual(x0) @ problem.residual(x0))
    assert res.success == (res.status > 0) and res.outcome in LeastSquaresOutcome
    assert np.all(np.isfinite(res.x)), res.message
    r = problem.residual(res.x)
    np.testing.assert_array_equal(res.fun, r)
    assert res.cost == pytest.approx(0.5 * float(r @ r), rel=1e-12, abs=1e-300)
    assert res.cost <= cost0 * (1 + 1e-12), "the returned point is worse than x0"
    if res.outcome is LeastSquaresOutcome.OPTIMALITY:
        # J'r recomputed here in the user's units: for residuals of 1e-300 its entries are subnormal, each
        # product and sum rounding by up to the smallest subnormal (about 5e-324) per term
        recomputed = np.max(np.abs(problem.jacobian(res.x).T @ r))
        assert recomputed <= res.optimality * (1 + 1e-12) + 4 * r.size * 5e-324


X0 = st.lists(st.floats(-2, 2, allow_nan=False), min_size=3, max_size=3).map(np.array)


# --- minimize --------------------------------------------------------------------------------------------------
@settings(FUZZ)
@given(method=st.sampled_from(MINIMIZE), where=st.sampled_from(["fun", "jac", "hess", "hessp"]),
       kind=st.sampled_from(VALUE_FAULTS + KIND_FAULTS + ["raise"]), after=st.integers(0, 12),
       threshold=st.one_of(st.none(), st.floats(-1, 1)), seed=st.integers(0, 2**16), x0=X0,
       with_hessp=st.booleans())
def test_minimize_with_a_faulty_function(method, where, kind, after, threshold, seed, x0, with_hessp):
    problem = Problem(seed)
    faulty = Faulty(problem, where, kind, after, threshold)
    kwargs = {"jac": faulty.jac}
    if method in ("trust-ncg", "trust-krylov") and with_hessp:
        kwargs["hessp"] = faulty.hessp
    else:
        kwargs["hess"] = faulty.hess
    gtol = 1e-6
    try:
        res = minimize(faulty.fun, x0, method=method, options={"gtol": gtol, "maxiter": 200}, **kwargs)
    except UserError:
        assert kind == "raise" and faulty.triggered
        return
    except (TypeError, ValueError) as exc:
        assert kind in KIND_FAULTS and faulty.triggered, f"{type(exc).__name__}: {exc}"
        assert NAMES_IN_MESSAGES[where] in str(exc) and "\n" not in str(exc)
        return
    assert kind not in ("raise",) or not faulty.triggered
    if kind in KIND_FAULTS:
        assert not faulty.triggered, f"a {kind} value from {where} was accepted"
    check_minimize_result(res, problem, x0, gtol)


# --- least squares -----------------------------------------------------------------------------------------------
@settings(FUZZ)
@given(method=st.sampled_from(LEAST_SQUARES), where=st.sampled_from(["residual", "jacobian"]),
       kind=st.sampled_from(VALUE_FAULTS + KIND_FAULTS + ["raise"]), after=st.integers(0, 12),
       threshold=st.one_of(st.none(), st.floats(-1, 1)), seed=st.integers(0, 2**16), x0=X0,
       optimality=st.booleans())
def test_least_squares_with_a_faulty_function(method, where, kind, after, threshold, seed, x0, optimality):
    problem = Problem(seed)
    faulty = Faulty(problem, where, kind, after, threshold)
    tolerances = {"optimality_tol": 1e-8, "ftol": None, "xtol": None, "gtol": None} if optimality else {}
    try:
        res = least_squares(faulty.residual, x0, jac=faulty.jacobian, method=method, max_nfev=300, **tolerances)
    except UserError:
        assert kind == "raise" and faulty.triggered
        return
    except (TypeError, ValueError) as exc:
        message = str(exc)
        at_x0 = "initial point" in message  # scipy's refusal of non-finite r or J at x0
        assert (kind in KIND_FAULTS or at_x0) and faulty.triggered, f"{type(exc).__name__}: {exc}"
        # a residual vector of the wrong length at x0 fixes m: the Jacobian is then the one of the wrong shape
        assert at_x0 or NAMES_IN_MESSAGES[where] in message or (kind == "shape" and "jac" in message)
        return
    if kind in KIND_FAULTS + ["raise"]:
        assert not faulty.triggered, f"a {kind} value from {where} was accepted"
    check_least_squares_result(res, problem, x0)


# --- wrong Jacobians: a model that does not match the function is never success ----------------------------------
@settings(FUZZ)
@given(method=st.sampled_from(LEAST_SQUARES), seed=st.integers(0, 2**16), x0=X0,
       how=st.sampled_from(["negated", "transposed-random", "zero-column"]))
def test_least_squares_with_a_wrong_jacobian(method, seed, x0, how):
    problem = Problem(seed)
    rng = np.random.default_rng(seed)
    wrong = rng.standard_normal((3, 3))

    def jac(x):
        J = problem.jacobian(x)
        if how == "negated":
            return -J
        if how == "transposed-random":
            return wrong
        J = J.copy()
        J[:, 0] = 0.0
        return J

    res = least_squares(problem.residual, x0, jac=jac, method=method, max_nfev=200)
    check_least_squares_result(res, problem, x0)
    if res.success and how == "negated":  # only where the point truly is stationary
        r = problem.residual(res.x)
        assert np.max(np.abs(problem.jacobian(res.x).T @ r)) <= 1e-6 * (1 + float(r @ r))


# --- scaled problems ---------------------------------------------------------------------------------------------
@settings(FUZZ)
@given(method=st.sampled_from(MINIMIZE + LEAST_SQUARES), exponent=st.sampled_from([-300, -150, -30, 0, 30, 150, 250]),
       seed=st.integers(0, 2**16), x0=X0)
def test_scaled_problems(method, exponent, seed, x0):
    """f times 1e+-150 (or 1e+-300): the solve takes the steps of the unscaled problem (the solvers work on f
    times an exact power of two); success, when claimed, holds in the user's units."""
    scale = 10.0**exponent
    problem = Problem(seed, scale=scale)
    gtol = 1e-8 * scale
    if method in LEAST_SQUARES:
        res = least_squares(problem.residual, x0, jac=problem.jacobian, method=method, max_nfev=500,
                            ftol=None, xtol=None, gtol=None, optimality_tol=gtol / 2)
        check_least_squares_result(res, problem, x0)
    else:
        res = minimize(problem.fun, x0, method=method, jac=problem.jac, hess=problem.hess,
                       options={"gtol": gtol, "maxiter": 500})
        check_minimize_result(res, problem, x0, gtol)
    never = (-3, -5) if method in LEAST_SQUARES else (4, 5)  # non-finite or overflow: the values are finite
    assert res.status not in never, res.message


# --- arguments -------------------------------------------------------------------------------------------------
@settings(FUZZ)
@given(method=st.sampled_from(MINIMIZE + LEAST_SQUARES),
       x0=st.one_of(st.sampled_from([np.ones(3, dtype=np.float16), np.ones(3, dtype=np.longdouble),
                                     np.ones(3, dtype=complex), np.ones(3, dtype=int), np.ones((3, 1)), np.ones(0),
                                     "1,2,3", None, [1.0, "a", 3.0], np.ones(3, dtype=np.float32)]),
                    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=3)),
       tol=st.one_of(st.none(), st.sampled_from([0.0, -1.0, math.inf, math.nan, "1e-8", True, 1e-300, 1e300])))
def test_arguments_are_checked_up_front(method, x0, tol):
    problem = Problem(0)
    n = np.shape(x0)[0] if np.ndim(x0) >= 1 and not isinstance(x0, str) else 3

    def fun(x):
        return float(np.sum(np.asarray(x, dtype=float) ** 2))

    try:
        with np.errstate(over="ignore", invalid="ignore"):  # the user's settings, seen by the user's functions
            if method in LEAST_SQUARES:
                res = least_squares(lambda x: np.asarray(x, dtype=float), x0, jac=lambda x: np.eye(n), method=method,
                                    optimality_tol=tol, max_nfev=50)
            else:
                res = minimize(fun, x0, method=method, jac=lambda x: 2.0 * np.asarray(x, dtype=float),
                               hess=lambda x: 2 * np.eye(n), tol=tol, options={"maxiter": 50})
    except (TypeError, ValueError) as exc:
        assert "\n" not in str(exc)
        return
    del problem
    assert res.x.dtype in (np.float32, np.float64)
    bad_tol = tol is not None and (isinstance(tol, (str, bool)) or not (math.isfinite(tol) and tol >= 0))
    assert not bad_tol, f"tol={tol!r} was accepted"
