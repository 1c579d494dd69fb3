"""Products with a residual's Jacobian without forming it (``LeastSquares.jvp``/``vjp``/``jac_products``; the
generalized Gauss-Newton matrix through them, ``GaussNewton.ggn_products``, is tested in test_ggn.py).

Oracles: the dense Jacobian ``jac``, central finite differences of the residual for J v, and the adjoint
identity <J v, u> = <v, J'u>."""
import numpy as np
import pytest
import ricci.symbolic as rs
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci.solvers import MatvecOperator


def _factorization(rng, m=6, n=5, r=2, lam=0.1):
    U, V = rs.Matrix("U", "m", "r"), rs.Matrix("V", "n", "r")
    T, M = rs.Matrix("T", "m", "n"), rs.Matrix("M", "m", "n")
    mask = (rng.random((m, n)) < 0.6).astype(float)
    data = {"T": rng.standard_normal((m, n)), "M": mask}
    return rs.LeastSquares([M * (U @ V.T - T), np.sqrt(lam) * U, np.sqrt(lam) * V], [U, V], data, sizes={"r": r})


def _network_residual(rng, m=9, n=3, h=4):
    X, Y = rs.Matrix("X", "m", "n"), rs.Vector("y", "m")
    W, b, c = rs.Matrix("W", "n", "h"), rs.Vector("b", "h"), rs.Vector("c", "h")
    data = {"X": rng.standard_normal((m, n)), "y": rng.standard_normal(m)}
    return rs.LeastSquares(rs.tanh(X @ W + rs.outer(rs.ones("m"), b)) @ c - Y, [W, b, c], data, sizes={"h": h})


def _sparse_linear(rng, m=12, n=7):
    X, y, w = rs.Matrix("X", "m", "n"), rs.Vector("y", "m"), rs.Vector("w", "n")
    Xs = sp.random(m, n, density=0.3, random_state=np.random.RandomState(int(rng.integers(1 << 30))), format="csr")
    return rs.LeastSquares(X @ w - y, [w], {"X": Xs, "y": rng.standard_normal(m)})


RESIDUALS = {"factorization": _factorization, "network": _network_residual, "sparse-linear": _sparse_linear}


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(sorted(RESIDUALS)), seed=st.integers(0, 2**32 - 1))
def test_jvp_and_vjp_equal_the_products_with_the_dense_jacobian(kind, seed):
    rng = np.random.default_rng(seed)
    res = RESIDUALS[kind](rng)
    x = rng.standard_normal(res.size)
    v, u = rng.standard_normal(res.size), rng.standard_normal(res.residual_size)
    J = np.asarray(res.jac(x))
    scale = max(1.0, np.abs(J).max())
    np.testing.assert_allclose(res.jvp(x, v), J @ v, rtol=1e-10, atol=1e-12 * scale * np.abs(v).sum())
    np.testing.assert_allclose(res.vjp(x, u), J.T @ u, rtol=1e-10, atol=1e-12 * scale * np.abs(u).sum())
    # the adjoint identity, and J v against central differences of the residual
    assert abs(res.jvp(x, v) @ u - v @ res.vjp(x, u)) <= 1e-10 * max(1.0, abs(v @ res.vjp(x, u)))
    h = 1e-6
    fd = (np.asarray(res.fun(x + h * v)) - np.asarray(res.fun(x - h * v))) / (2 * h)
    np.testing.assert_allclose(res.jvp(x, v), fd, rtol=1e-6, atol=1e-6 * max(1.0, np.abs(fd).max()))


def test_jac_products_is_a_matvec_operator_of_the_jacobian(rng):
    res = _network_residual(rng)
    x = rng.standard_normal(res.size)
    op = res.jac_products(x)
    assert isinstance(op, MatvecOperator) and op.shape == (res.residual_size, res.size)
    np.testing.assert_allclose(op.to_dense(), np.asarray(res.jac(x)), rtol=1e-12, atol=1e-12)
    x_before = x.copy()
    x += 1.0  # the operator holds its own copy of the point
    np.testing.assert_allclose(op.to_dense(), np.asarray(res.jac(x_before)), rtol=1e-12, atol=1e-12)


def test_products_check_their_vectors(rng):
    res = _factorization(rng)
    x = rng.standard_normal(res.size)
    with pytest.raises(ValueError, match=rf"jvp: v must be a flat vector of length {res.size}"):
        res.jvp(x, np.ones(res.size + 1))
    with pytest.raises(ValueError, match=rf"vjp: u must be a flat vector of length {res.residual_size}"):
        res.vjp(x, np.ones((res.residual_size, 1)))
    with pytest.raises(ValueError, match="x must be a flat vector"):
        res.vjp(np.ones(res.size + 2), np.ones(res.residual_size))


def test_what_no_direction_changes_is_computed_once_per_point(rng, monkeypatch):
    """tanh(X W + 1 b') and its derivative are kept with the point: many products at one x run the per-point
    kernel once, a new x runs it again, and every product is right wherever the point moved."""
    from ricci.symbolic._objective import Objective

    res = _network_residual(rng)
    names = []
    call = Objective._call
    monkeypatch.setattr(Objective, "_call", lambda self, fn, values, lazy_tail=0: names.append(fn.name)
                        or call(self, fn, values, lazy_tail))
    x, y = rng.standard_normal(res.size), rng.standard_normal(res.size)
    for point in (x, x, x, y, x):
        v, u = rng.standard_normal(res.size), rng.standard_normal(res.residual_size)
        J = np.asarray(res.jac(point))
        np.testing.assert_allclose(res.jvp(point, v), J @ v, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(res.vjp(point, u), J.T @ u, rtol=1e-10, atol=1e-12)
    assert names.count("residual_jvp") == 5 and names.count("residual_vjp") == 5
    assert names.count("residual_jvp_point") == 3 and names.count("residual_vjp_point") == 3  # x, y, x again
