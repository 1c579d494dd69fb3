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
    ("x >= 1 <= 2 <= 3", "at most two comparisons"),
    ("0 <= x >= 1", "two-sided constraint"),
    ("y <= x <= 1", "must be numbers"),
    ("1 <= 2", "no variable"),
    ("x <= ", "an empty side"),
    ("x + <= 1", "expected a number, a name or '(', found '<='"),
    ("x >= y*", "expected a number, a name or '(', found the end of the input"),
    ("2 <= x <= 1", "no value satisfies"),
    ("x == __import__('os')", "expected a number, a name or '('"),
    ("x == 1 == 2", "two-sided constraint"),
    ("1 <= x >= 0", "two-sided constraint"),
    ("(x <= 1) <= 2", "a comparison stands only at the top level"),
    ("x <= <= 1", "an empty side"),
])
def test_parse_constraint_errors_name_the_text(text, message):
    with pytest.raises(rs.ParseError, match=re.escape(message)) as info:
        rs.parse_constraint(text, x=N, y=())
    assert isinstance(info.value, ValueError)
    assert text in str(info.value)


def test_parse_returns_a_constraint_for_a_comparison_and_an_expression_otherwise():
    """rs.parse reads comparisons as constraints; text without one is an expression exactly as before."""
    parsed = rs.parse("0 <= x <= 1", x=N)
    assert isinstance(parsed, rs.ParsedConstraint) and (parsed.lo, parsed.hi) == (0.0, 1.0)
    assert parsed.expression is rs.parse("x", x=N)
    assert rs.parse("x'*x + 1", x=N) is rs.parse_constraint("x'*x + 1 <= 0", x=N).expression
    assert str(rs.parse("3 >= x", x=N)) == "x <= 3" and str(rs.parse("0 <= x <= 1", x=N)) == "0 <= x <= 1"


def test_comparison_sides_are_typed_together():
    """One typing pass: the sides' dimensions unify (b takes A's row count), and a conflict is a ParseError."""
    parsed = rs.parse("A*x <= b", A=("m", "n"))
    assert parsed.expression.shape == rs.parse("A*x - b", A=("m", "n")).shape
    assert (parsed.lo, parsed.hi) == (-math.inf, 0.0)
    with pytest.raises(rs.ParseError, match="dimension conflict"):
        rs.parse("A*x <= b", A=(3, 4), b=2)
    with pytest.raises(rs.ParseError, match="compares a column vector .* with a matrix"):
        rs.parse("x <= A", x=3)
    with pytest.raises(rs.ParseError, match="outer sides of 'lo <= c <= hi' must be numbers"):
        rs.parse("l <= x <= u", x=3, l=3, u=3)


def test_data_on_both_sides_moves_to_one_side(rng):
    """a'*x <= b with data a, b: c = a'*x - b <= 0, which a Constraint evaluates with the data."""
    a, b = rng.standard_normal(N), 0.7
    c = rs.Constraint(rs.parse("a'*x <= b", a=N, x=N, b=()), "x", {"a": a, "b": b})
    x = rng.standard_normal(N)
    np.testing.assert_allclose(c.fun(x), [a @ x - b])
    assert c.is_linear and c.hi[0] == 0.0 and c.lo[0] == -math.inf
    assert c.bounds() is None  # reads every unknown


@settings(max_examples=40, deadline=None)
@given(lo=st.floats(-1e6, 1e6), width=st.floats(0, 1e6), op=st.sampled_from(["<=", ">="]),
       side=st.sampled_from(["left", "right"]), constant=st.floats(-1e3, 1e3))
def test_comparison_bounds_round_trip(lo, width, op, side, constant):
    """Numbers written into a comparison come back exactly as lo and hi (repr round-trips a float)."""
    hi = lo + width
    two = rs.parse(f"{lo!r} <= x <= {hi!r}" if op == "<=" else f"{hi!r} >= x >= {lo!r}", x=N)
    assert (two.lo, two.hi) == (lo, hi)
    text = f"sum(x) {op} {constant!r}" if side == "left" else f"{constant!r} {op} sum(x)"
    one = rs.parse(text, x=N)
    below = (op == "<=") == (side == "left")  # sum(x) <= constant
    assert (one.lo, one.hi) == ((-math.inf, constant) if below else (constant, math.inf))
    assert rs.parse(f"sum(x) == {constant!r}", x=N).is_equality


# -- bound forms ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, lo, hi", [
    ("x >= 0", [0, 0, 0, 0], [math.inf] * 4),
    ("0 <= x <= 1", [0] * 4, [1] * 4),
    ("2*x - 1 <= 3", [-math.inf] * 4, [2] * 4),
    ("-x >= -2", [-math.inf] * 4, [2] * 4),
    ("x/4 == 1", [4] * 4, [4] * 4),
    ("x[1] >= 1", [-math.inf, 1, -math.inf, -math.inf], [math.inf] * 4),
    ("-1 <= x[2:4] <= 5", [-math.inf, -math.inf, -1, -1], [math.inf, math.inf, 5, 5]),
])
def test_bound_forms_become_bounds(text, lo, hi, rng):
    c = rs.Constraint(rs.parse(text, x=N), "x")
    found = c.bounds()
    assert found is not None
    np.testing.assert_array_equal(found[0], lo)
    np.testing.assert_array_equal(found[1], hi)
    # the bounds describe the same feasible set as the constraint, on random points
    for _ in range(20):
        x = 3 * rng.standard_normal(N)
        assert (c.violation(x) == 0) == bool(np.all((found[0] <= x) & (x <= found[1])))


@pytest.mark.parametrize("text", ["sum(x) == 1", "x.*x <= 1", "x[0] - x[1] >= 0", "x'*x <= 1", "exp(x) >= 1"])
def test_other_constraints_are_not_bounds(text):
    assert rs.Constraint(rs.parse(text, x=N), "x").bounds() is None


def test_bounds_with_data_offsets_several_variables_and_size():
    """x >= l with data l; a matrix variable of a pair (W, H) at its offset in the packing; a large vector is
    read from the expression (no dense Jacobian: m*n = 10**10 here)."""
    c = rs.Constraint(rs.parse("x >= l", x=N, l=N), "x", {"l": np.arange(4.0)})
    np.testing.assert_array_equal(c.bounds()[0], np.arange(4.0))
    W, H = rs.Matrix("W", 2, 3), rs.Matrix("H", 3, 2)
    on_h = rs.Constraint(rs.parse("2*H <= 1", H=(3, 2)), [W, H])
    lo, hi = on_h.bounds()
    np.testing.assert_array_equal(lo, [-math.inf] * 12)
    np.testing.assert_array_equal(hi, [math.inf] * 6 + [0.5] * 6)
    big = rs.Constraint(rs.parse("x >= -1", x=10**5), "x")
    np.testing.assert_array_equal(big.bounds()[0], np.full(10**5, -1.0))


def test_split_bounds_separates_and_intersects():
    x = rs.Vector("x", 3)
    nonneg = rs.Constraint(rs.parse("x >= 0", x=3), x)
    cap = rs.Constraint(rs.parse("x[0] <= 2", x=3), x)
    simplex = rs.Constraint(rs.parse("sum(x) == 1", x=3), x)
    bounds, rest = rs.split_bounds([nonneg, simplex, cap])
    np.testing.assert_array_equal(bounds[0], [0, 0, 0])
    np.testing.assert_array_equal(bounds[1], [2, math.inf, math.inf])
    assert rest == (simplex,) and simplex.is_linear
    assert rs.split_bounds([simplex]) == (None, (simplex,))
    with pytest.raises(ValueError, match=r"no feasible value for unknown 0: .* 1 <= x\[0\] <= 0"):
        rs.split_bounds([rs.Constraint(rs.parse("x >= 1", x=3), x), rs.Constraint(rs.parse("x <= 0", x=3), x)])
    with pytest.raises(ValueError, match="same 3 unknowns"):
        rs.split_bounds([nonneg, rs.Constraint(rs.parse("y >= 0", y=2), "y")])
    with pytest.raises(TypeError, match="rs.Constraint"):
        rs.split_bounds(["x >= 0"])


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
