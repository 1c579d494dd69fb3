"""least_squares(bounds=): Gauss-Newton and Levenberg-Marquardt over a box, against scipy's nnls, lsq_linear
and least_squares("trf"); the projected-gradient tests, active_mask, errors; Problem.solve("lm") with bounds."""
import numpy as np
import pytest
import scipy.optimize as so
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci import problems
from ricci.solvers import least_squares

METHODS = ("lm", "gauss-newton")
TIGHT = {"ftol": 1e-15, "xtol": 1e-15, "gtol": 1e-12}


def _linear(A, b):
    return (lambda x: A @ x - b), (lambda x: A)


@pytest.mark.parametrize("method", METHODS)
def test_nonnegative_least_squares_matches_nnls(rng, method):
    A, b = rng.standard_normal((40, 12)), rng.standard_normal(40)
    fun, jac = _linear(A, b)
    res = least_squares(fun, np.zeros(12), jac=jac, method=method, bounds=(0.0, np.inf))
    reference, _ = so.nnls(A, b)
    assert res.success
    np.testing.assert_allclose(res.x, reference, atol=1e-12)
    np.testing.assert_array_equal(res.active_mask, np.where(reference == 0.0, -1, 0))
    g = A.T @ (A @ res.x - b)
    assert res.optimality == pytest.approx(np.abs(np.clip(g, res.x - np.inf, res.x)).max(), abs=1e-14)
    assert res.optimality <= 1e-8
    assert np.all(g[res.active_mask == -1] >= -1e-10)  # KKT: the multipliers of active lower bounds are >= 0


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("form", ["dense", "sparse"])
def test_box_linear_least_squares_matches_lsq_linear(rng, method, form):
    A = sp.random_array((80, 25), density=0.2, random_state=3, format="csr") + sp.eye_array(80, 25)
    b = rng.standard_normal(80)
    lb, ub = -0.3 * np.ones(25), np.r_[0.2 * np.ones(10), np.full(15, np.inf)]
    J = A if form == "sparse" else A.toarray()
    res = least_squares(lambda x: A @ x - b, np.zeros(25), jac=lambda x: J, method=method,
                        bounds=so.Bounds(lb, ub), **TIGHT)
    reference = so.lsq_linear(A.toarray(), b, bounds=(lb, ub), method="bvls", tol=1e-14).x
    np.testing.assert_allclose(res.x, reference, atol=1e-9)
    assert set(np.unique(res.active_mask)) <= {-1, 0, 1}
    np.testing.assert_array_equal(res.active_mask[np.isclose(reference, ub, atol=1e-12)], 1)


def _exponential(rng):
    t = np.linspace(0, 3, 40)
    y = 2.0 * np.exp(-1.3 * t) + 0.05 * rng.standard_normal(40)
    fun = lambda x: x[0] * np.exp(-x[1] * t) - y
    jac = lambda x: np.column_stack([np.exp(-x[1] * t), -x[0] * t * np.exp(-x[1] * t)])
    return fun, jac


@pytest.mark.parametrize("method", METHODS)
def test_nonlinear_fit_with_an_active_bound_matches_trf(rng, method):
    fun, jac = _exponential(rng)
    bounds = ([0.0, 0.0], [1.5, 5.0])  # the amplitude 2 is cut to 1.5
    res = least_squares(fun, np.array([1.0, 1.0]), jac=jac, method=method, bounds=bounds, **TIGHT)
    ref = so.least_squares(fun, np.array([1.0, 1.0]), jac=jac, bounds=bounds, method="trf",
                           ftol=1e-15, xtol=1e-15, gtol=1e-15)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-8)
    np.testing.assert_array_equal(res.active_mask, [1, 0])
    assert res.x[0] == 1.5


@pytest.mark.parametrize("method", METHODS)
def test_bounded_rosenbrock_matches_trf(method):
    fun = lambda x: np.array([10 * (x[1] - x[0] ** 2), 1 - x[0]])
    jac = lambda x: np.array([[-20 * x[0], 10.0], [-1.0, 0.0]])
    bounds = ([-np.inf, 1.5], [np.inf, np.inf])
    res = least_squares(fun, np.array([-1.2, 1.5]), jac=jac, method=method, bounds=bounds, **TIGHT)
    ref = so.least_squares(fun, np.array([-1.2, 1.5]), jac=jac, bounds=bounds, method="trf",
                           ftol=1e-15, xtol=1e-15, gtol=1e-15)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-8)
    np.testing.assert_array_equal(res.active_mask, [0, -1])


def test_unbounded_box_takes_the_unbounded_path(rng):
    fun, jac = _exponential(rng)
    plain = least_squares(fun, np.array([1.0, 1.0]), jac=jac)
    boxed = least_squares(fun, np.array([1.0, 1.0]), jac=jac, bounds=(-np.inf, np.inf))
    np.testing.assert_array_equal(plain.x, boxed.x)
    assert plain.nfev == boxed.nfev


def test_fixed_variable(rng):
    A, b = rng.standard_normal((20, 4)), rng.standard_normal(20)
    fun, jac = _linear(A, b)
    lb, ub = np.array([-1.0, 0.5, -1.0, -1.0]), np.array([1.0, 0.5, 1.0, 1.0])
    x0 = np.array([0.0, 0.5, 0.0, 0.0])
    res = least_squares(fun, x0, jac=jac, bounds=(lb, ub))
    reference = so.lsq_linear(A, b, bounds=(lb - np.r_[0, 1e-12, 0, 0], ub), method="bvls", tol=1e-14).x
    assert res.x[1] == 0.5
    np.testing.assert_allclose(res.x, reference, atol=1e-9)


@pytest.mark.parametrize(("bounds", "error", "match"), [
    ((0.0, np.inf, 1.0), TypeError, "2-tuple"),
    ((np.zeros(3), np.inf), ValueError, "lb must be a number or have 4 entries"),
    ((1.0, 0.0), ValueError, "lower bound must be at most"),
    ((np.nan, 1.0), ValueError, "NaN"),
    (("a", 1.0), TypeError, "lb must be a number"),
    ((0.5, 1.0), ValueError, "x0 is infeasible"),
])
def test_bad_bounds(bounds, error, match):
    with pytest.raises(error, match=match):
        least_squares(lambda x: x - 1.0, np.zeros(4), jac=lambda x: np.eye(4), bounds=bounds)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(3, 15), n=st.integers(1, 6))
def test_random_box_least_squares_agrees_with_lsq_linear(seed, m, n):
    rng = np.random.default_rng(seed)
    A, b = rng.standard_normal((m, n)), rng.standard_normal(m)
    lb = np.where(rng.random(n) < 0.3, -np.inf, -rng.random(n))
    ub = np.where(rng.random(n) < 0.3, np.inf, rng.random(n))
    fun, jac = _linear(A, b)
    res = least_squares(fun, np.zeros(n), jac=jac, bounds=(lb, ub), **TIGHT)
    reference = so.lsq_linear(A, b, bounds=(lb, ub), method="bvls", tol=1e-14)
    cost = 0.5 * np.sum((A @ res.x - b) ** 2)
    assert cost <= reference.cost + 1e-9 * max(1.0, reference.cost)
    assert np.all(res.x >= lb) and np.all(res.x <= ub)


@pytest.mark.parametrize("method", METHODS)
def test_problem_solve_least_squares_with_bounds(method):
    p = problems.get("nnls-small")
    assert method in p.methods
    res = p.solve(method, tol=1e-10)
    reference, _ = so.nnls(p.data["A"], p.data["b"])
    np.testing.assert_allclose(res.x, reference, atol=1e-10)
    assert np.all(res.x >= 0)


def test_jacobian_known_only_by_products(rng):
    from scipy.sparse.linalg import aslinearoperator

    A, b = rng.standard_normal((60, 15)), rng.standard_normal(60)
    res = least_squares(lambda x: A @ x - b, np.zeros(15), jac=lambda x: aslinearoperator(A), method="lm",
                        bounds=(-0.2, 0.2), **TIGHT)
    reference = so.lsq_linear(A, b, bounds=(-0.2, 0.2), method="bvls", tol=1e-14)
    np.testing.assert_allclose(res.x, reference.x, atol=1e-6)
    assert res.cost <= reference.cost * (1 + 1e-9)
