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


@pytest.mark.parametrize("kind", ["dense", "csr"])
def test_multi_output_jacobian_is_a_kronecker_product(rng, kind):
    """d(X W)/dW = X (x) I_k (rows of Z = X W flattened row-major): a Kronecker operator of X for dense X, the
    CSR of kron(X, I) (k nnz(X) entries) for sparse X; never the dense (m k) x (n k) array. Both equal the
    dense Jacobian and central differences."""
    from ricci.solvers import KroneckerOperator

    Xs, W, Y = rs.Matrix("X", "m", "n"), rs.Matrix("W", "n", "k"), rs.Matrix("Y", "m", "k")
    X = rng.standard_normal((12, 5)) * (rng.random((12, 5)) < 0.4)
    Yv = rng.standard_normal((12, 3))
    data = {"X": X if kind == "dense" else sp.csr_array(X), "Y": Yv}
    ls = rs.LeastSquares(Xs @ W - Y, W, data)
    x = rng.standard_normal(15)
    J = ls.jac_operator(x)
    expected = np.kron(X, np.eye(3))
    if kind == "dense":
        assert type(J) is KroneckerOperator and J.A.shape == (12, 5)
    else:
        assert type(J) is SparseOperator and J.A.nnz == 3 * np.count_nonzero(X)
    np.testing.assert_allclose(J.to_dense(), expected, atol=1e-14)
    np.testing.assert_allclose(ls.jac(x), expected, atol=1e-14)
    h = 1e-6
    fd = np.stack([(ls.fun(x + h * e) - ls.fun(x - h * e)) / (2 * h) for e in np.eye(15)], axis=1)
    np.testing.assert_allclose(fd, expected, atol=1e-8)
    v, u = rng.standard_normal(15), rng.standard_normal(36)
    np.testing.assert_allclose(J.matvec(v), expected @ v, atol=1e-12)
    np.testing.assert_allclose(J.rmatvec(u), expected.T @ u, atol=1e-12)
    np.testing.assert_allclose(J.gram().to_dense(), expected.T @ expected, atol=1e-12)


@pytest.mark.parametrize("method", ["ggn", "ggn-lm"])
def test_sparse_softmax_generalized_gauss_newton(rng, method):
    """Softmax regression on sparse X by the generalized Gauss-Newton methods (once a ValueError from
    scipy.sparse: the output's Jacobian X (x) I was formed as a dense 4-D product with X): the same minimizer as
    Newton on dense X, and G(x) = J' H_L J equal to the dense data's."""
    X = rng.standard_normal((60, 8)) * (rng.random((60, 8)) < 0.3)
    labels = rng.integers(0, 3, 60).astype(float)
    dense = problems.softmax_regression(X, labels, lam=0.1, intercept=False)
    sparse = problems.softmax_regression(sp.csr_array(X), labels, lam=0.1, intercept=False)
    x = 0.1 * rng.standard_normal(dense.n)
    np.testing.assert_allclose(sparse.objective.ggn(x), dense.objective.ggn(x), atol=1e-12)
    reference = dense.solve("newton")
    res = sparse.solve(method)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, reference.x, atol=1e-6)


def test_trust_ncg_on_an_objective_multiplies_with_its_evaluated_operator(rng):
    """minimize(obj, "trust-ncg") evaluates the Hessian operator at each point for the Jacobi preconditioner; its
    products then come from that operator (arrays computed once per point), not from obj.hessp (which computes
    them anew for every product): the same iterates as hess=obj.hess_operator, no hessp call, and nhev still
    counting every product."""
    from ricci.solvers import minimize

    X, y = _logistic_data(rng, m=200, n=40, density=0.2)
    f, wrt = problems.logistic_loss_expression(False)
    obj = rs.Objective(f, wrt, {"X": sp.csr_array(X), "y": y, "lam": 0.5})

    class Counting:
        calls = 0

        def __getattr__(self, name):
            return getattr(obj, name)

        def hessp(self, x, p):
            Counting.calls += 1
            return obj.hessp(x, p)

    x0 = np.zeros(obj.size)
    res = minimize(Counting(), x0, method="trust-ncg", options={"gtol": 1e-10})
    reference = minimize(obj.fun_and_jac, x0, jac=True, hess=obj.hess_operator, method="trust-ncg",
                         options={"gtol": 1e-10})
    assert res.success and Counting.calls == 0
    np.testing.assert_array_equal(res.x, reference.x)
    assert res.nhev > res.nit


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


@pytest.mark.parametrize("method", ["newton", "trust-exact", "dogleg"])
def test_dask_hessian_methods_cost_one_compute_per_point_from_x0(rng, dask_array, computes, method):
    """Methods that use the Hessian at every point announce it (``expect_hessian``), so that x0's f, gradient
    and Hessian operator come from one pass like every later point's; a first-order method does not."""
    X, y = _logistic_data(rng, m=400, n=6, density=1.0)
    f, wrt = problems.logistic_loss_expression(True)
    lazy = rs.Objective(f, wrt, {"X": dask_array.from_array(X, chunks=(100, 6)),
                                 "y": dask_array.from_array(y, chunks=100), "lam": 0.5})
    from ricci.solvers import minimize

    with computes() as count:
        res = minimize(lazy, np.zeros(7), method=method, options={"gtol": 1e-10})
    assert res.success
    assert count.n == res.nfev, (count.n, res.nfev, res.nit)  # one pass per point evaluated, x0 included
    fresh = rs.Objective(f, wrt, {"X": dask_array.from_array(X, chunks=(100, 6)),
                                  "y": dask_array.from_array(y, chunks=100), "lam": 0.5})
    minimize(fresh, np.zeros(7), method="lbfgs", options={"maxiter": 2})
    assert "_hessian_asked" not in fresh.__dict__
    with pytest.raises(ValueError, match="kind must be 'matrix' or 'operator'"):
        fresh.expect_hessian("dense")


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


def test_dask_tron_takes_its_products_from_the_dense_hessian(rng, dask_array, computes):
    """Bound-constrained logistic regression on Dask data by tron: the objective's small dense Hessian
    (computed with f and g in one pass) serves every product of a step, so a point costs one compute, not one
    per Hessian-vector product, and the answer is the NumPy one."""
    X, y = _logistic_data(rng, m=400, n=6, density=1.0)
    f, wrt = problems.logistic_loss_expression(True)
    from ricci.solvers import minimize
    from scipy.optimize import Bounds

    dense = rs.Objective(f, wrt, {"X": X, "y": y, "lam": 0.5})
    lazy = rs.Objective(f, wrt, {"X": dask_array.from_array(X, chunks=(100, 6)),
                                 "y": dask_array.from_array(y, chunks=100), "lam": 0.5})
    bounds = Bounds(0, np.inf)
    expected = minimize(dense, np.zeros(7), method="tron", bounds=bounds, tol=1e-10)
    with computes() as count:
        res = minimize(lazy, np.zeros(7), method="tron", bounds=bounds, tol=1e-10)
    assert res.success and res.nit == expected.nit
    np.testing.assert_allclose(res.x, expected.x, rtol=1e-10, atol=1e-12)
    assert count.n <= res.nfev + 1, (count.n, res.nfev, res.nit)


def test_dask_intermediates_stay_lazy_and_read_their_own_x(rng, dask_array, computes):
    """With Dask data the row-length intermediates a point keeps (X @ w, sigmoid(...)) stay lazy instead of
    being gathered on the driver; a later product at that point computes them inside its own single pass,
    from a copy of x (the caller may reuse its buffer), and equals the NumPy product."""
    X, y = _logistic_data(rng, m=300, n=5, density=1.0)
    f, wrt = problems.logistic_loss_expression(True)
    dense = rs.Objective(f, wrt, {"X": X, "y": y, "lam": 0.5})
    lazy = rs.Objective(f, wrt, {"X": dask_array.from_array(X, chunks=(100, 5)),
                                 "y": dask_array.from_array(y, chunks=100), "lam": 0.5})
    x, p = rng.standard_normal(6), rng.standard_normal(6)
    buffer = x.copy()
    with computes() as count:
        lazy.fun_and_jac(buffer)
        assert count.n == 1
        kept = [v for v in lazy._point.values.values() if getattr(v, "shape", ()) == (300,)]
        assert kept and all(hasattr(v, "dask") for v in kept)  # nothing of length m gathered
        buffer += 1.0  # the caller reuses its buffer
        np.testing.assert_allclose(lazy.hessp(x, p), dense.hessp(x, p), rtol=1e-12, atol=1e-12)
        assert count.n == 2


def test_dask_blocks_are_checked_finite_once(rng, dask_array, monkeypatch):
    """The first pass checks every block of the data; later passes (each solver iteration) skip the blocks
    already found finite instead of reading them once more for the check."""
    from ricci.symbolic import _binding

    checks = []  # (block key, whether it had been found finite before this read)
    real = _binding._finite_block

    def spy(block, label, name=None, block_id=None):
        checks.append(((name, block_id), (name, block_id) in _binding._FINITE_BLOCKS))
        return real(block, label, name, block_id)

    monkeypatch.setattr(_binding, "_FINITE_BLOCKS", _binding._FiniteBlocks())
    monkeypatch.setattr(_binding, "_finite_block", spy)
    X, y = _logistic_data(rng, m=60, n=8, density=1.0)
    f, wrt = problems.logistic_loss_expression(False)
    obj = rs.Objective(f, wrt, {"X": dask_array.from_array(X, chunks=(20, 8)),
                                "y": dask_array.from_array(y, chunks=20), "lam": 0.5})
    obj.fun(np.zeros(8))
    assert len(checks) == 6 and not any(seen for _, seen in checks)  # 3 blocks of X, 3 of y: each checked
    assert {key for key, _ in checks} == set(_binding._FINITE_BLOCKS)
    checks.clear()
    obj.fun(np.ones(8))
    assert len(checks) == 6 and all(seen for _, seen in checks)  # each found finite before: not read again


def test_the_finite_blocks_kept_are_bounded_and_the_least_recent_go_first():
    from ricci.symbolic._binding import _FiniteBlocks

    kept = _FiniteBlocks(kept=3)
    for key in ("a", "b", "c"):
        kept.add(key)
    assert "a" in kept  # met again: now the most recent
    kept.add("d")
    assert len(kept) == 3 and "b" not in kept and list(kept) == ["c", "a", "d"]


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
        obj.fun(y)  # the solver asked for the Hessian: one pass computes f, g and the operator's arrays
        assert count.n == 2
        obj.fun_and_jac(y)
        obj.hess_operator(y)
        assert count.n == 2
        np.testing.assert_allclose(obj.hess_operator(y).to_dense(), obj.hess(y), rtol=1e-12, atol=1e-12)


def test_dask_first_order_point_reads_no_hessian(rng, dask_array, computes):
    """Before any Hessian is asked for (a first-order solver), a new point computes f and g together only,
    and a later Hessian operator there is computed from what they left (a second pass)."""
    X, y = _logistic_data(rng, m=60, n=30, density=1.0)
    f, wrt = problems.logistic_loss_expression(False)
    obj = rs.Objective(f, wrt, {"X": dask_array.from_array(X, chunks=(15, 30)),
                                "y": dask_array.from_array(y, chunks=15), "lam": 0.5})
    x = rng.standard_normal(30)
    with computes() as count:
        obj.fun(x)
        obj.jac(x)
        assert count.n == 1
        assert obj._cached(x, "H_operator") is None
        obj.hess_operator(x)
        assert count.n == 2


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


# ------------------------------------------------------------------------------------------------------------
# Dask: one compute per evaluation point, for every problem family, the blocks as given
# ------------------------------------------------------------------------------------------------------------


def _families(rng):
    """(name, the NumPy objective or least-squares problem) for each family with data."""
    X = rng.standard_normal((42, 5))
    y = (X @ rng.standard_normal(5) + 0.5 * rng.standard_normal(42) > 0).astype(float)
    labels = np.argmax(X @ rng.standard_normal((5, 3)) + 0.5 * rng.standard_normal((42, 3)), axis=1)
    mask = (rng.random((9, 7)) < 0.7).astype(float)
    Xs, w, ys = rs.Matrix("X", "m", "n"), rs.Vector("w", "n"), rs.Vector("y", "m")
    return [
        ("logistic", problems.logistic_regression(X, y, lam=0.1).objective),
        ("softmax", problems.softmax_regression(X, labels.astype(float), lam=0.1, intercept=False).objective),
        ("factorization", problems.matrix_factorization(rng.standard_normal((9, 7)), 2, mask, lam=0.1).objective),
        ("least-squares", rs.LeastSquares(rs.tanh(Xs @ w) - ys, w, {"X": X, "y": rng.standard_normal(42)})),
    ]


def _in_blocks(da, data, blocks):
    """The data's arrays as Dask arrays of ``blocks`` blocks of rows (numbers stay numbers)."""
    out = {}
    for k, v in data.items():
        if np.ndim(v) == 0:
            out[k] = v
        else:
            v = np.asarray(v)
            out[k] = da.from_array(v, chunks=(-(-v.shape[0] // blocks),) + v.shape[1:])
    return out


@pytest.mark.parametrize("blocks", [1, 7])
@pytest.mark.parametrize("family", ["logistic", "softmax", "factorization", "least-squares"])
def test_dask_one_compute_per_point_for_every_family(rng, dask_array, computes, family, blocks):
    """f, g and the Hessian operator (least squares: the residual and the Jacobian operator) at a new point
    cost one Dask computation, whose graph rechunks nothing, and equal NumPy's to 1e-10. (Once: the
    factorization's Hessian operator at a new point raised Dask's unknown-chunks NotImplementedError, from
    pair positions made by xp.nonzero in the Dask namespace.)"""
    dense = dict(_families(rng))[family]

    data = _in_blocks(dask_array, dense.data, blocks)
    names = {v.name for v in data.values() if hasattr(v, "dask")}

    class Graphs(computes):
        """Also: whether a rechunk reads the data's blocks (those of small results, such as the Hessian's
        blocks broadcast against an identity, are not a pass over the data)."""
        rechunked = False

        def _start(self, dsk):
            super()._start(dsk)
            for key, task in dsk.items():
                if "rechunk" in str(key[0] if isinstance(key, tuple) else key):
                    deps = getattr(task, "dependencies", ())
                    self.rechunked |= any((d[0] if isinstance(d, tuple) else d) in names for d in deps)

    assert any(getattr(v, "npartitions", 0) == blocks for v in data.values())
    x = rng.standard_normal(dense.size)
    if isinstance(dense, rs.LeastSquares):
        lazy = rs.LeastSquares(dense.expr, dense.wrt, data, sizes=dense.sizes)
        with Graphs() as count:
            J = lazy.jac_operator(x)
            r = lazy.fun(x)
        got, expected = [r, J.to_dense()], [dense.fun(x), dense.jac(x)]
    else:
        lazy = rs.Objective(dense.expr, dense.wrt, data, sizes=dense.sizes)
        with Graphs() as count:
            H = lazy.hess_operator(x)
            f, g = lazy.fun_and_jac(x)
        got, expected = [f, g, H.to_dense()], [dense.fun(x), dense.jac(x), dense.hess(x)]
    assert count.n == 1 and not count.rechunked
    for a, b in zip(got, expected):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-10, atol=1e-10)


def test_persisted_dask_data_stays_persisted(rng, dask_array, computes):
    """A persisted X is read from memory, not recomputed: the function that made its blocks runs once per
    block (at persist), whatever the solver evaluates afterwards."""
    import dask

    made = []

    def block(b):
        made.append(b.shape)
        return b

    X, y = _logistic_data(rng, m=60, n=5, density=1.0)
    f, wrt = problems.logistic_loss_expression(False)
    with dask.config.set(scheduler="synchronous"):
        lazy_X = dask_array.from_array(X, chunks=(20, 5)).map_blocks(block, meta=np.empty((0, 0))).persist()
        assert made == [(20, 5)] * 3
        obj = rs.Objective(f, wrt, {"X": lazy_X, "y": y, "lam": 0.5})
        dense = rs.Objective(f, wrt, {"X": X, "y": y, "lam": 0.5})
        x = rng.standard_normal(5)
        np.testing.assert_allclose(obj.hess_operator(x).to_dense(), dense.hess(x), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(obj.jac(x + 1), dense.jac(x + 1), rtol=1e-12, atol=1e-12)
    assert made == [(20, 5)] * 3 and obj.data["X"].chunks == ((20, 20, 20), (5,))


# ------------------------------------------------------------------------------------------------------------
# x where the solver runs: not Dask, and of the data's library
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lazy_data", [False, True], ids=["numpy-data", "dask-data"])
def test_dask_x_is_refused(rng, dask_array, lazy_data):
    X, y = _logistic_data(rng, m=20, n=3, density=1.0)
    obj = problems.logistic_regression(dask_array.from_array(X, chunks=10) if lazy_data else X, y,
                                       intercept=False).objective
    for call in (obj.fun, obj.jac, obj.hess_operator, lambda x: obj.hessp(np.zeros(3), x)):
        with pytest.raises(TypeError, match=r"x: got a Dask array; x stays a NumPy \(or CuPy\) vector"):
            call(dask_array.zeros(3, chunks=3))


def test_x_of_another_library_than_the_data_is_refused(rng):
    """A stand-in for a CuPy x with NumPy data (the test below): both libraries are named."""
    xs = pytest.importorskip("array_api_strict")
    X, y = _logistic_data(rng, m=20, n=3, density=1.0)
    obj = problems.logistic_regression(X, y, intercept=False).objective
    with pytest.raises(TypeError, match=r"got an array of array_api_strict, but the data are arrays of numpy"):
        obj.fun(xs.zeros(3, dtype=xs.float64))


@pytest.mark.gpu
def test_cupy_x_with_host_data_is_refused(rng, cupy, dask_array):
    X, y = _logistic_data(rng, m=20, n=3, density=1.0)
    for data in (X, sp.csr_array(X), dask_array.from_array(X, chunks=10)):
        obj = problems.logistic_regression(data, y, intercept=False).objective
        with pytest.raises(TypeError, match=r"got an array of cupy, but the data are arrays of numpy"):
            obj.fun(cupy.zeros(3))
    gpu = problems.logistic_regression(cupy.asarray(X), cupy.asarray(y), intercept=False).objective
    with pytest.raises(TypeError, match=r"got an array of numpy, but the data are arrays of cupy"):
        gpu.fun(np.zeros(3))


def test_hessp_on_large_sparse_and_dask_data_takes_whole_products(rng, dask_array, monkeypatch):
    """hessp of a logistic loss whose X has at least 2**21 entries (the size above which dense X is streamed in
    row blocks): with sparse or Dask X it is X'(s .* (X v)) in two whole products (a row slice of a CSR matrix
    is a new matrix, one per row of a wide X: 312 s a product at 200k x 50k), equal to the dense result; CSR
    matrices whose rows cannot be sliced prove it."""
    m, n = 3000, 1000
    Xs = sp.random(m, n, density=0.002, format="csr", random_state=1)
    y = np.where(rng.standard_normal(m) > 0, 1.0, -1.0)
    x, p = 0.1 * rng.standard_normal(n + 1), rng.standard_normal(n + 1)
    expected = problems.logistic_regression(Xs.toarray(), y, lam=1.0).objective.hessp(x, p)
    sparse = problems.logistic_regression(Xs, y, lam=1.0).objective
    lazy = problems.logistic_regression(dask_array.from_array(Xs.toarray(), chunks=(700, n)), y, lam=1.0).objective

    def unsliced(self, key):
        raise AssertionError(f"X sliced at {key!r}")

    monkeypatch.setattr(sp.csr_array, "__getitem__", unsliced)
    for obj in (sparse, lazy):
        np.testing.assert_allclose(obj.hessp(x, p), expected, rtol=1e-10, atol=1e-12)


def test_hessian_of_the_data_alone_is_one_operator_for_every_point(rng):
    """f = 1/2 ||A x - b||^2: the Hessian operator A'A reads the data only, so every x gets the same object
    (the Gram it forms once serves every later point); rebinding A gives a new one; a Hessian that depends on
    x (logistic) is built anew at each point. tron on NNLS then forms A'A once in all."""
    from ricci.solvers import GramOperator, tron
    from scipy.optimize import Bounds, nnls

    A, b = rng.standard_normal((60, 8)), rng.standard_normal(60)
    x = rs.Vector("x", "n")
    f = 0.5 * rs.sum((rs.Matrix("A", "m", "n") @ x - rs.Vector("b", "m")) ** 2)
    obj = rs.Objective(f, "x", {"A": A, "b": b})
    H = obj.hess_operator(np.zeros(8))
    assert isinstance(H, GramOperator) and obj.hess_operator(np.ones(8)) is H
    np.testing.assert_allclose(H.to_dense(), A.T @ A, rtol=1e-12)
    other = obj.rebind(A=2 * A)
    assert other.hess_operator(np.zeros(8)) is not H
    np.testing.assert_allclose(other.hess_operator(np.zeros(8)).to_dense(), 4 * A.T @ A, rtol=1e-12)
    with pytest.raises(ValueError, match="flat vector of length 8"):
        obj.hess_operator(np.zeros(3))
    Xl, yl = _logistic_data(rng, m=50, n=4, density=1.0)
    fl, wrt = problems.logistic_loss_expression(False)
    logistic = rs.Objective(fl, wrt, {"X": Xl, "y": yl, "lam": 0.5})
    assert logistic.hess_operator(np.zeros(4)) is not logistic.hess_operator(np.ones(4))

    formed = []
    gram = GramOperator.gram_matrix
    A = rng.standard_normal((200, 30)) @ np.diag(np.logspace(0, -3, 30))
    b = rng.standard_normal(200)
    fresh = rs.Objective(f, "x", {"A": A, "b": b})
    def counting(self):
        if "gram" not in self._cache:
            formed.append(1)
        return gram(self)

    try:
        GramOperator.gram_matrix = counting
        res = tron(fresh, np.zeros(30), bounds=Bounds(0, np.inf), tol=1e-12)
    finally:
        GramOperator.gram_matrix = gram
    assert res.success and res.nit > 1
    np.testing.assert_allclose(res.x, nnls(A, b)[0], atol=1e-9)
    assert len(formed) == 1  # A'A formed once, however many iterations


def test_dask_networks_never_prefer_products(rng, dask_array, monkeypatch):
    """Hessian-free G would cost a pass over Dask data per conjugate-gradient product: a network on Dask data
    keeps its formed G (one pass per point) however large its Jacobian."""
    from ricci.symbolic import _ggn

    monkeypatch.setattr(_ggn, "HESSIAN_FREE_ENTRIES", 0)
    X, Y, W, O = rs.Matrix("X", "m", "n"), rs.Matrix("Y", "m", "k"), rs.Matrix("W", "n", "k"), rs.Matrix("O", "m", "k")
    loss = rs.sum((O - Y) * (O - Y)) / 2
    Xv, Yv = rng.standard_normal((30, 4)), rng.standard_normal((30, 2))
    numpy_net = rs.GaussNewton(loss, (O, rs.tanh(X @ W)), [W], {"X": Xv, "Y": Yv})
    dask_net = rs.GaussNewton(loss, (O, rs.tanh(X @ W)), [W], {"X": dask_array.from_array(Xv, chunks=(10, 4)),
                                                                 "Y": Yv})
    assert numpy_net.prefers_products and not dask_net.prefers_products


def test_rebinding_to_dask_data_asks_again_whether_products_are_preferred(rng, dask_array, monkeypatch):
    from ricci.symbolic import _ggn

    monkeypatch.setattr(_ggn, "HESSIAN_FREE_ENTRIES", 0)
    X, Y, W, O = rs.Matrix("X", "m", "n"), rs.Matrix("Y", "m", "k"), rs.Matrix("W", "n", "k"), rs.Matrix("O", "m", "k")
    Xv, Yv = rng.standard_normal((30, 4)), rng.standard_normal((30, 2))
    net = rs.GaussNewton(rs.sum((O - Y) * (O - Y)) / 2, (O, rs.tanh(X @ W)), [W], {"X": Xv, "Y": Yv})
    assert net.prefers_products
    assert not net.rebind(X=dask_array.from_array(Xv, chunks=(10, 4))).prefers_products
