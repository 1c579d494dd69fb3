"""Property-based tests: random well-shaped expressions, differentiated and compiled, against finite differences."""

import functools

import numpy as np
import array_api_strict as xs
from hypothesis import given, strategies as st

import ricci.symbolic as rs

N, P = 3, 4
x = rs.Vector("x", N)
A = rs.Matrix("A", N, N)
M = rs.Matrix("M", P, N)
c = rs.Scalar("c")
z = rs.Vector("z", P)

BOUNDED = [rs.tanh, rs.sin, rs.cos, rs.sigmoid, rs.arctan, rs.softplus, lambda e: e * e * 0.5]


def _leaf(kind):
    return {
        "scalar": st.sampled_from([c, rs.const(0.7)]),
        "vector": st.sampled_from([x, x * 0.5 + 1.0]),
        "matrix": st.sampled_from([A, A.T, rs.eye(N)]),
        "pvector": st.sampled_from([z, M @ x]),
    }[kind]


@functools.lru_cache(maxsize=None)
def expressions(kind, depth):
    """Expressions of a kind (scalar, vector, matrix, pvector) of nesting depth at most ``depth`` (built once)."""
    if depth == 0:
        return _leaf(kind)
    sub = lambda k: expressions(k, depth - 1)  # noqa: E731
    fn = st.sampled_from(BOUNDED)
    options = {
        "scalar": [
            st.builds(rs.sum, sub("vector")),
            st.builds(lambda a, b: a @ b, sub("vector"), sub("vector")),
            st.builds(rs.trace, sub("matrix")),
            st.builds(lambda a, b: a * b, sub("scalar"), sub("scalar")),
            st.builds(lambda f, a: f(a), fn, sub("scalar")),
            st.builds(lambda a, m, b: a @ m @ b, sub("vector"), sub("matrix"), sub("vector")),
            st.builds(lambda v: rs.sum(rs.softplus(v)), sub("pvector")),
        ],
        "vector": [
            st.builds(lambda m, v: m @ v, sub("matrix"), sub("vector")),
            st.builds(lambda a, b: a + b, sub("vector"), sub("vector")),
            st.builds(lambda a, b: a * b, sub("vector"), sub("vector")),
            st.builds(lambda f, a: f(a), fn, sub("vector")),
            st.builds(lambda s, v: s * v, sub("scalar"), sub("vector")),
            st.builds(rs.diag, sub("matrix")),
            st.builds(lambda v: M.T @ v, sub("pvector")),
        ],
        "matrix": [
            st.builds(lambda a, b: a @ b, sub("matrix"), sub("matrix")),
            st.builds(lambda a, b: a - b, sub("matrix"), sub("matrix")),
            st.builds(rs.outer, sub("vector"), sub("vector")),
            st.builds(rs.diag, sub("vector")),
            st.builds(lambda a: a.T, sub("matrix")),
            st.builds(lambda f, a: f(a), fn, sub("matrix")),
        ],
        "pvector": [
            st.builds(lambda v: M @ v, sub("vector")),
            st.builds(lambda f, a: f(a), fn, sub("pvector")),
            st.builds(lambda a, b: a * b, sub("pvector"), sub("pvector")),
        ],
    }[kind]
    return st.one_of([_leaf(kind)] + options)


VALUES = dict(
    x=np.array([0.3, -0.5, 0.8]), A=np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [-0.1, 0.2, 0.3]]),
    M=np.array([[0.2, -0.4, 0.1], [0.5, 0.1, -0.3], [-0.2, 0.3, 0.6], [0.1, 0.1, 0.1]]), c=0.6,
    z=np.array([0.1, -0.2, 0.3, 0.4]),
)


def scalar_of_x(depth=3):
    return expressions("scalar", depth).filter(lambda e: x in e.variables)


@given(f=scalar_of_x())
def test_random_expressions_gradient_and_hessian(f, session_checker):
    session_checker(f, x, VALUES, order=2, rtol=1e-5, atol=1e-6, directions=1)


@given(f=scalar_of_x(2))
def test_random_expressions_third_derivative(f, session_checker):
    session_checker(f, x, VALUES, order=3, rtol=1e-4, atol=1e-5, directions=1)


@given(f=scalar_of_x())
def test_random_expressions_hvp_and_strict_backend(f):
    v = rs.Vector("v", N)
    fn = rs.compile([rs.grad(f, x), rs.hessian(f, x), rs.hvp(f, x, v)])
    names = {var.name for var in fn.variables}
    vals = {k: val for k, val in {**VALUES, "v": np.array([1.0, -2.0, 0.5])}.items() if k in names}
    g, H, Hv = fn(**vals)
    np.testing.assert_allclose(Hv, H @ np.array([1.0, -2.0, 0.5]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(H, H.T, rtol=1e-10, atol=1e-12)  # Hessians are symmetric
    strict = fn(**{k: xs.asarray(val) if isinstance(val, np.ndarray) else val for k, val in vals.items()})
    for a, b in zip(strict, (g, H, Hv)):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-12, atol=1e-14)


@given(f=scalar_of_x())
def test_simplification_is_idempotent_and_canonical(f):
    """Rebuilding an expression from its own derivative pieces yields the same objects."""
    g = rs.grad(f, x)
    assert rs.grad(f, x) is g
    assert rs.derivative(f, x, 2) is rs.hessian(f, x)
    assert (g + g) is 2 * g
    assert (g - g) is rs.zeros(N)
