"""Data of any kind: scipy.sparse matrices (through products only) and Dask arrays give NumPy's answers.

Oracle: the same Objective / LeastSquares built on dense NumPy data. Dask's cost is counted with a dask
callback: one compute per evaluation (f and g together; the Hessian operator's arrays with them).
"""

from __future__ import annotations

import numpy as np
import pytest
import ricci.symbolic as rs
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from ricci import problems
from ricci.solvers import GramOperator, SparseOperator

SPARSE_KINDS = [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.coo_array]


def _logistic_data(rng, m=40, n=25, density=0.2):
    X = rng.standard_normal((m, n)) * (rng.random((m, n)) < density)
    y = np.where(rng.random(m) > 0.5, 1.0, -1.0)
    return X, y


def _evaluations(obj, x, p):
    """f, g, H, H p and the Hessian operator's dense form at x."""
    return [obj.fun(x), obj.jac(x), obj.hess(x), obj.hessp(x, p), obj.hess_operator(x).to_dense()]


def _assert_same(got, expected, tol=1e-10):
    for a, b in zip(got, expected):
        assert type(a) is type(b) or np.ndim(a) == 0, f"{type(a).__name__} returned instead of {type(b).__name__}"
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# ------------------------------------------------------------------------------------------------------------
# scipy.sparse
# ------------------------------------------------------------------------------------------------------------


@settings(max_examples=8)
@given(kind=st.sampled_from(SPARSE_KINDS), density=st.floats(0.0, 0.6), seed=st.integers(0, 2**16),
       intercept=st.booleans())
def test_sparse_logistic_gives_numpy_answers(kind, density, seed, intercept):
    rng = np.random.default_rng(seed)
    X, y = _logistic_data(rng, density=density)
    f, wrt = problems.logistic_loss_expression(intercept)
    dense = rs.Objective(f, wrt, {"X": X, "y": y, "lam": 0.5})
    sparse = rs.Objective(f, wrt, {"X": kind(X), "y": y, "lam": 0.5})
    x, p = rng.standard_normal(dense.size), rng.standard_normal(dense.size)
    _assert_same(_evaluations(sparse, x, p), _evaluations(dense, x, p))


def test_sparse_gram_stays_sparse(rng):
    X, y = _logistic_data(rng, m=20, n=60)
    f, wrt = problems.logistic_loss_expression(False)
    obj = rs.Objective(f, wrt, {"X": sp.csr_matrix(X), "y": y, "lam": 1.0})
    op = obj.hess_operator(rng.standard_normal(60))
    assert type(op) is GramOperator
    assert sp.issparse(op.A) and op.A.nnz == np.count_nonzero(X)


def test_sparse_gram_of_the_transpose(rng):
    """f = sum(exp(X' w)) with X (n, m): the Hessian X diag(s) X' is a Gram of X', which is X.T, still sparse."""
    Xs, w = rs.Matrix("X", "n", "m"), rs.Vector("w", "n")
    X = rng.standard_normal((60, 12)) * (rng.random((60, 12)) < 0.2)
    obj = rs.Objective(rs.sum(rs.exp(Xs.T @ w)), w, {"X": sp.csr_matrix(X)})
    dense = rs.Objective(rs.sum(rs.exp(Xs.T @ w)), w, {"X": X})
    x = 0.1 * rng.standard_normal(60)
    op = obj.hess_operator(x)
    assert type(op) is GramOperator and sp.issparse(op.A)
    np.testing.assert_allclose(op.to_dense(), dense.hess(x), atol=1e-12)


def test_sparse_least_squares(rng):
    Xs, w, y = rs.Matrix("X", "m", "n"), rs.Vector("w", "n"), rs.Vector("y", "m")
    X = rng.standard_normal((15, 6)) * (rng.random((15, 6)) < 0.3)
    yv = rng.standard_normal(15)
    dense = rs.LeastSquares(Xs @ w - y, w, {"X": X, "y": yv})
    sparse = rs.LeastSquares(Xs @ w - y, w, {"X": sp.csr_matrix(X), "y": yv})
    x = rng.standard_normal(6)
    np.testing.assert_allclose(sparse.fun(x), dense.fun(x), atol=1e-12)
    assert isinstance(sparse.jac(x), np.ndarray)  # the dense contract holds
    np.testing.assert_allclose(sparse.jac(x), X, atol=0)
    J = sparse.jac_operator(x)
    assert type(J) is SparseOperator
    np.testing.assert_allclose(J.to_dense(), X, atol=0)


def test_sparse_data_through_compile(rng):
    """rs.compile takes sparse inputs too; a product with a vector is an ordinary array."""
    X, w = rs.Matrix("X", "m", "n"), rs.Vector("w", "n")
    fn = rs.compile([X @ w, rs.sum(rs.exp(X @ w))])
    Xv, wv = rng.standard_normal((7, 4)) * (rng.random((7, 4)) < 0.5), rng.standard_normal(4)
    out = fn(X=sp.csr_matrix(Xv), w=wv)
    np.testing.assert_allclose(out[0], Xv @ wv, atol=1e-14)
    np.testing.assert_allclose(out[1], np.exp(Xv @ wv).sum(), rtol=1e-14)


def _sparse_uses():
    A, B = rs.Matrix("A", "m", "n"), rs.Matrix("B", "m", "n")
    w, v = rs.Vector("w", "n"), rs.Vector("v", "m")
    return [
        ("log", rs.sum(rs.log(1 + rs.exp(A)) @ w) + w @ w, "softplus(A) uses it element-wise"),
        ("exp", v @ rs.exp(A) @ w, "exp(A) uses it element-wise"),
        ("sum", v @ (A + B) @ w, "a sum A + ... uses it element-wise"),
        ("hadamard", rs.sum(A * B * rs.outer(v, w)), "an entry-wise product A .*"),
    ]


@pytest.mark.parametrize("name, f, use", _sparse_uses(), ids=[u[0] for u in _sparse_uses()])
def test_sparse_data_used_element_wise_is_refused(rng, name, f, use):
    data = {"A": sp.csr_matrix(np.eye(5, 4)), "B": np.ones((5, 4)), "v": np.ones(5)}
    data = {k: v for k, v in data.items() if k in {x.name for x in rs.variables(f)}}
    with pytest.raises(ValueError) as info:
        rs.Objective(f, "w", data)
    message = str(info.value)
    assert "A is sparse (scipy.sparse csr_matrix)" in message and use in message
    assert "only products X@w, X'v, X'diag(s)X may use sparse data" in message


def test_sparse_diagonal_is_refused():
    A, w = rs.Matrix("A", "n", "n"), rs.Vector("w", "n")
    with pytest.raises(ValueError, match=r"A is sparse .* reads its diagonal"):
        rs.Objective(rs.sum(rs.diag(A) * w * w), w, {"A": sp.eye(4, format="csr")})


def test_sparse_data_must_be_finite_and_real():
    X, w = rs.Matrix("X", "m", "n"), rs.Vector("w", "n")
    bad = sp.csr_matrix(np.array([[1.0, np.nan], [0.0, 2.0]]))
    with pytest.raises(ValueError, match="'X' contains NaN"):
        rs.Objective(rs.sum((X @ w) ** 2), w, {"X": bad})
    with pytest.raises(TypeError, match="complex"):
        rs.Objective(rs.sum((X @ w) ** 2), w, {"X": sp.csr_matrix(np.eye(2) * 1j)})


# ------------------------------------------------------------------------------------------------------------
# Dask
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def dask_array():
    return pytest.importorskip("dask.array")


@pytest.mark.parametrize("mixed", [False, True], ids=["all-dask", "dask-with-numpy"])
def test_dask_logistic_gives_numpy_answers(rng, dask_array, mixed):
    X, y = _logistic_data(rng, m=60, n=8, density=1.0)
    f, wrt = problems.logistic_loss_expression(True)
    dense = rs.Objective(f, wrt, {"X": X, "y": y, "lam": 0.5})
    data = {"X": dask_array.from_array(X, chunks=(20, 8)), "y": y if mixed else dask_array.from_array(y, chunks=20),
            "lam": 0.5}
    lazy = rs.Objective(f, wrt, data)
    x, p = rng.standard_normal(9), rng.standard_normal(9)
    _assert_same(_evaluations(lazy, x, p), _evaluations(dense, x, p))


def test_dask_newton_costs_at_most_two_passes_per_iteration(rng, dask_array, computes):
    """Newton on Dask data (issue 13's target: <= 2 passes over the data per iteration) reaches the NumPy
    answer; each accepted full step is one compute."""
    X, y = _logistic_data(rng, m=400, n=6, density=1.0)
    f, wrt = problems.logistic_loss_expression(True)
    dense = rs.Objective(f, wrt, {"X": X, "y": y, "lam": 0.5})
    lazy = rs.Objective(f, wrt, {"X": dask_array.from_array(X, chunks=(100, 6)),
                                 "y": dask_array.from_array(y, chunks=100), "lam": 0.5})
    from ricci.solvers import minimize

    expected = minimize(dense, np.zeros(7), method="newton", options={"gtol": 1e-10})
    with computes() as count:
        res = minimize(lazy, np.zeros(7), method="newton", options={"gtol": 1e-10})
    np.testing.assert_allclose(res.x, expected.x, rtol=1e-10, atol=1e-12)
    # every point x0 .. x_nit: f with g in one pass, the Hessian operator in one (at the last: for the result)
    assert res.nit == expected.nit and count.n <= 2 * (res.nit + 1), (count.n, res.nit)


def test_dask_data_is_checked_finite_without_a_pass_at_construction(rng, dask_array, computes):
    """Binding Dask data computes nothing; a NaN in a block is the same ValueError when a computation reads it."""
    X, y = _logistic_data(rng, m=60, n=8, density=1.0)
    X[45, 3] = np.nan
    f, wrt = problems.logistic_loss_expression(False)
    with computes() as count:
        obj = rs.Objective(f, wrt, {"X": dask_array.from_array(X, chunks=(20, 8)),
                                    "y": dask_array.from_array(y, chunks=20), "lam": 0.5})
        assert count.n == 0
    with pytest.raises(ValueError, match="data 'X' contains NaN or infinite values"):
        obj.fun(np.zeros(8))


def test_dask_one_compute_per_evaluation(rng, dask_array, computes):
    X, y = _logistic_data(rng, m=60, n=30, density=1.0)
    f, wrt = problems.logistic_loss_expression(False)
    obj = rs.Objective(f, wrt, {"X": dask_array.from_array(X, chunks=(15, 30)),
                                "y": dask_array.from_array(y, chunks=15), "lam": 0.5})
    x = rng.standard_normal(30)
    with computes() as count:
        obj.hess_operator(x)  # a new point: f, g and the operator's arrays in one compute
        obj.fun_and_jac(x)  # kept
        obj.hess_operator(x)  # kept
        assert count.n == 1
        y = x + 1.0  # as a line search: f at the trial point, then g, then the Hessian operator
        obj.fun(y)  # one pass over the data computes f and g together
        assert count.n == 2
        obj.fun_and_jac(y)
        assert count.n == 2
        obj.hess_operator(y)  # the arrays from what the value and gradient left with the point
        assert count.n == 3


def test_dask_factorization_hessian_operator(rng, dask_array):
    """Per-entry data (the observed values) as a Dask vector: the operator equals NumPy's."""
    T = rng.standard_normal((8, 6))
    mask = (rng.random((8, 6)) < 0.5).astype(float)
    p = problems.matrix_factorization(T, 2, mask, lam=0.1)
    obj = p.objective
    lazy = rs.Objective(obj.expr, obj.wrt, {"t": dask_array.from_array(obj.data["t"], chunks=5), "lam": 0.1},
                        sizes=obj.sizes)
    q = rng.standard_normal(obj.size)
    _assert_same(_evaluations(lazy, p.x0, q), _evaluations(obj, p.x0, q))


def test_dask_least_squares_jacobian_operator(rng, dask_array, computes):
    """J = X for the residual X @ w - y: the operator keeps the Dask matrix and computes each product."""
    Xs, w, y = rs.Matrix("X", "m", "n"), rs.Vector("w", "n"), rs.Vector("y", "m")
    X, yv = rng.standard_normal((30, 4)), rng.standard_normal(30)
    ls = rs.LeastSquares(Xs @ w - y, w, {"X": dask_array.from_array(X, chunks=(10, 4)), "y": yv})
    x, v, u = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(30)
    np.testing.assert_allclose(ls.fun(x), X @ x - yv, atol=1e-12)
    np.testing.assert_allclose(ls.jac(x), X, atol=0)
    J = ls.jac_operator(x)
    with computes() as count:
        np.testing.assert_allclose(J @ v, X @ v, atol=1e-12)
        np.testing.assert_allclose(J.rmatvec(u), X.T @ u, atol=1e-12)
        assert count.n == 2


def test_dask_with_sparse_is_refused(dask_array):
    X, w, y = rs.Matrix("X", "m", "n"), rs.Vector("w", "n"), rs.Vector("y", "m")
    with pytest.raises(TypeError, match="scipy.sparse data can be used with NumPy arrays only"):
        rs.Objective(rs.sum((X @ w - y) ** 2), w, {"X": sp.eye(3, format="csr"), "y": dask_array.ones(3)})
