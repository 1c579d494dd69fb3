"""rs.Constraint: values, exact Jacobians and Hessians of v'c against finite differences, linear detection,
scipy's constraint objects, and the constraint text of rs.parse_constraint (with its errors)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import ricci.symbolic as rs
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st

N = 4
DATA_A = np.array([[1.0, -2.0, 0.5, 3.0], [0.0, 1.0, -1.0, 2.0], [2.0, 0.0, 1.0, -1.0]])

# (text, declarations, data): scalar, vector and matrix constraints, linear and nonlinear
CASES = {
    "quadratic": ("x'*x - 1 <= 0", {"x": N}, {}),
    "norm": ("norm2(x) <= 2", {"x": N}, {}),
    "vector-nonlinear": ("exp(A*x) - x[0:3] .* x[1:4] >= 1", {"x": N, "A": (3, N)}, {"A": DATA_A}),
    "elementwise": ("sin(x) + x.^3 <= 0.5", {"x": N}, {}),
    "matrix": ("x*x' + diag(x) <= 1", {"x": N}, {}),
    "affine": ("A*x == 1", {"x": N, "A": (3, N)}, {"A": DATA_A}),
    "sum": ("sum(x) == 1", {"x": N}, {}),
}


def _constraint(name):
    text, shapes, data = CASES[name]
    return rs.Constraint(rs.parse_constraint(text, **shapes), "x", data)


@pytest.fixture(scope="module")
def built():
    return {name: _constraint(name) for name in CASES}


def _point(rng):
    return 0.5 * rng.standard_normal(N)


def _fd_jacobian(fun, x, h=1e-6):
    cols = [(np.asarray(fun(x + h * e)) - np.asarray(fun(x - h * e))) / (2 * h) for e in np.eye(x.size)]
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("name", list(CASES))
def test_jacobian_matches_finite_differences(built, name, rng):
    c = built[name]
    x = _point(rng)
    J = np.asarray(c.jac(x))
    assert J.shape == (c.m, N)
    np.testing.assert_allclose(J, _fd_jacobian(c.fun, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(c.jac_operator(x).to_dense(), J, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(1e-3, 1e3))
def test_hessian_of_weighted_constraint_matches_finite_differences(built, name, seed, scale):
    """hess(x, v) is the Jacobian of v'jac(x) (central differences), symmetric; hess_operator and hessp agree."""
    c = built[name]
    rng = np.random.default_rng(seed)
    x = _point(rng)
    v = scale * rng.standard_normal(c.m)
    H = np.asarray(c.hess(x, v))
    assert H.shape == (N, N)
    reference = _fd_jacobian(lambda z: v @ np.asarray(c.jac(z)), x)
    np.testing.assert_allclose(H, reference, rtol=1e-5, atol=1e-6 * scale * (1 + np.abs(H).max()))
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(c.hess_operator(x, v).to_dense(), H, rtol=1e-10, atol=1e-10 * scale)
    p = rng.standard_normal(N)
    np.testing.assert_allclose(c.hessp(x, v, p), H @ p, rtol=1e-10, atol=1e-10 * scale)


def test_hessian_rebinds_the_multipliers_without_compiling(built, rng):
    """hess(x, v) for a new v reuses the kernels compiled for the first one (only the data v changes)."""
    c = built["vector-nonlinear"]
    x = _point(rng)
    c.hess(x, np.ones(c.m))
    compiled = dict(c._weighted._plan._kernels)
    for _ in range(3):
        c.hess(x, rng.standard_normal(c.m))
    assert c._weighted._plan._kernels == compiled


@pytest.mark.parametrize("name, linear", [(n, n in ("affine", "sum")) for n in CASES])
def test_linear_detection(built, name, linear):
    assert built[name].is_linear is linear


def test_affine_constraint_to_scipy_is_a_linear_constraint(built, rng):
    c = built["affine"]
    lc = c.to_scipy()
    assert isinstance(lc, scipy.optimize.LinearConstraint)
    x = _point(rng)
    np.testing.assert_allclose(lc.A @ x - lc.lb, np.asarray(c.fun(x)) - c.lo, atol=1e-12)  # c(x) = A x + c(0)
    np.testing.assert_allclose(lc.A, DATA_A)
    np.testing.assert_allclose(lc.lb, 1.0 - 0.0)


def test_nonlinear_to_scipy_follows_scipys_conventions(built, rng):
    c = built["vector-nonlinear"]
    nc = c.to_scipy()
    assert isinstance(nc, scipy.optimize.NonlinearConstraint)
    x, v = _point(rng), rng.standard_normal(c.m)
    np.testing.assert_allclose(nc.fun(x), c.fun(x))
    np.testing.assert_allclose(nc.jac(x), c.jac(x))
    np.testing.assert_allclose(nc.hess(x, v), sum(vi * _fd_jacobian(lambda z, i=i: np.asarray(c.jac(z))[i], x)
                                                  for i, vi in enumerate(v)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(nc.lb, np.ones(3))
    np.testing.assert_array_equal(nc.ub, np.full(3, np.inf))


def test_scipy_solves_with_the_constraint():
    """min ||x - t||^2 subject to ||x||^2 <= 1: the projection of t onto the unit ball, t / ||t||."""
    t = np.array([3.0, -1.0, 2.0, 0.5])
    f = rs.Objective(rs.parse("(x - t)'*(x - t)", x=N, t=N), "x", {"t": t})
    c = _constraint("quadratic")
    res = scipy.optimize.minimize(f.fun, np.zeros(N), jac=f.jac, hess=f.hess, method="trust-constr",
                                  constraints=[c.to_scipy()], options={"gtol": 1e-10, "xtol": 1e-12})
    np.testing.assert_allclose(res.x, t / np.linalg.norm(t), atol=1e-6)


def test_matrix_constraint_is_flattened_row_major(built, rng):
    c = built["matrix"]
    x = _point(rng)
    np.testing.assert_allclose(c.fun(x), (np.outer(x, x) + np.diag(x)).reshape(-1))
    assert c.m == N * N and c.lo.shape == (N * N,) and np.all(c.hi == 1)


def test_bounds_arrays_equalities_and_violation(rng):
    x = rs.Vector("x", 3)
    c = rs.Constraint(x * x, x, lo=[0.0, 1.0, -np.inf], hi=[1.0, 1.0, 4.0])
    np.testing.assert_array_equal(c.is_equality, [False, True, False])
    assert c.violation(np.array([0.5, 1.0, 1.0])) == 0.0
    assert c.violation(np.array([2.0, 1.0, 1.0])) == pytest.approx(3.0)
    assert c.violation(np.array([0.0, 0.5, 0.0])) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="lo <= hi"):
        rs.Constraint(x, x, lo=2.0, hi=1.0)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        rs.Constraint(x, x, lo=[0.0, 1.0])
    with pytest.raises(ValueError, match="lo and/or hi"):
        rs.Constraint(x, x)
    with pytest.raises(ValueError, match="brings its own bounds"):
        rs.Constraint(rs.parse_constraint("x >= 0", x=3), "x", hi=1.0)
    with pytest.raises(ValueError, match="NaN"):
        rs.Constraint(x, x, lo=math.nan)
    with pytest.raises(ValueError, match="missing data for A"):
        rs.Constraint(rs.parse("A*x", A=(2, 3), x=3), "x", lo=0.0)
    with pytest.raises(ValueError, match="length 3"):
        c.hess(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="reserved"):
        rs.Constraint(x + rs.Vector("_multiplier", 3), x, lo=0.0, data={"_multiplier": np.zeros(3)})
    with pytest.raises(TypeError, match="number or an array"):
        rs.Constraint(x, x, lo=x)


# -- the constraint text --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expr, lo, hi", [
    ("x >= 0", "x", 0.0, math.inf),
    ("0 <= x", "x", 0.0, math.inf),
    ("sum(x) == 1", "sum(x)", 1.0, 1.0),
    ("norm2(x) <= 1", "norm2(x)", -math.inf, 1.0),
    ("-1 <= x'*y <= 2.5", "x'*y", -1.0, 2.5),
    ("2.5 >= x'*y >= -1", "x'*y", -1.0, 2.5),
    ("x'*x <= y'*y", "x'*x - y'*y", -math.inf, 0.0),
    ("3 >= x", "x", -math.inf, 3.0),
])
def test_parse_constraint(text, expr, lo, hi, rng):
    shapes = {"x": N, "y": N}
    parsed = rs.parse_constraint(text, **shapes)
    assert (parsed.lo, parsed.hi) == (lo, hi)
    assert parsed.is_equality is (lo == hi)
    values = {"x": rng.standard_normal(N), "y": rng.standard_normal(N)}
    expected = rs.parse(expr, **shapes)
    names = {v.name for v in rs.variables(expected)}
    got = rs.compile([parsed.expression])(**{k: v for k, v in values.items() if k in names})[0]
    want = rs.compile([expected])(**{k: v for k, v in values.items() if k in names})[0]
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("text, message", [
    ("x > 0", "'>' is not supported; use >="),
    ("x < 0", "'<' is not supported; use <="),
    ("sum(x) = 1", "'=' is not supported; use =="),
    ("x != 0", "'!=' is not supported"),
    ("sum(x)", "expected a comparison"),
    ("0 <= x <= 1 <= 2", "at most two comparisons"),
    ("0 <= x >= 1", "two-sided constraint"),
    ("y <= x <= 1", "must be numbers"),
    ("1 <= 2", "no variable"),
    ("x <= ", "an empty side"),
    ("x + <= 1", "constraint 'x + <= 1'"),
    ("x >= y*", "constraint 'x >= y*'"),
    ("2 <= x <= 1", "no value satisfies"),
    ("x == __import__('os')", "constraint"),
])
def test_parse_constraint_errors_name_the_text(text, message):
    with pytest.raises(rs.ParseError, match=re.escape(message)) as info:
        rs.parse_constraint(text, x=N, y=())
    assert isinstance(info.value, ValueError)
    assert text in str(info.value)


def test_parse_constraint_caret_points_into_the_whole_text():
    with pytest.raises(rs.ParseError) as info:
        rs.parse_constraint("x >= y + )", x=N, y=N)
    assert info.value.text == "x >= y + )"
    assert info.value.position == 9


def test_parse_constraint_refuses_non_text():
    with pytest.raises(TypeError, match="string"):
        rs.parse_constraint(3)


def test_with_data_and_rebind_keep_bounds_and_derivatives(rng):
    c = _constraint("affine")
    other = 2.0 * DATA_A
    moved = c.with_data({"A": other})
    x, v = _point(rng), rng.standard_normal(3)
    np.testing.assert_allclose(moved.jac(x), other)
    np.testing.assert_array_equal(moved.lo, c.lo)
    q = rs.Constraint(rs.parse_constraint("x'*B*x <= 1", x=2, B=(2, 2)), "x", {"B": np.eye(2)})
    B = np.array([[2.0, 1.0], [1.0, 3.0]])
    q.hess(np.zeros(2), np.ones(1))  # the weighted objective exists before the rebinding
    np.testing.assert_allclose(q.rebind(B=B).hess(np.zeros(2), np.array([v[0]])), 2 * v[0] * B)
    np.testing.assert_allclose(q.hess(np.zeros(2), np.array([v[0]])), 2 * v[0] * np.eye(2))


# -- cases that once failed -------------------------------------------------------------------------------------

def test_gradient_after_value_when_f_is_the_intermediate_the_gradient_reads(rng):
    """f = exp(x0 x1 ... ) (HS 80): fun(x) then jac(x) or hess(x) at the same point raised a KeyError, because
    the value kernel did not keep f, the intermediate the later kernels read (symbolic/_point.py)."""
    f = rs.Objective(rs.parse("exp(x[0]*x[1]*x[2])", x=3), "x")
    x = 0.5 * rng.standard_normal(3)
    u = np.prod(x)
    assert f.fun(x) == pytest.approx(np.exp(u))
    np.testing.assert_allclose(f.jac(x), np.exp(u) * u / x)
    np.testing.assert_allclose(f.hess(x), _fd_jacobian(f.jac, x), rtol=1e-6, atol=1e-8)
