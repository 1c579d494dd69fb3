"""Dask arrays whose row blocks are scipy.sparse matrices, through the ordinary API (``_dask_sparse``).

Oracles: scipy.sparse / NumPy products for the block-wise products; the same Objective on dense NumPy data
for f, g, the Hessian, Hessian-vector products and the Hessian operator; the CSR solution for solves. Cost:
a Dask callback counts computations (one per evaluation point) and looks for rechunks of the data.
"""
from __future__ import annotations

import numpy as np
import pytest
import ricci.symbolic as rs
import scipy.sparse as sp
from ricci import problems

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
pytestmark = pytest.mark.usefixtures("dask_synchronous")


def _sparse(rng, m, n, density=0.3):
    return rng.standard_normal((m, n)) * (rng.random((m, n)) < density)


def sparse_blocks(A, rows):
    """A (dense) as a Dask array of ``scipy.sparse.csr_array`` blocks of ``rows`` rows."""
    return da.from_array(A, chunks=(rows, A.shape[1])).map_blocks(sp.csr_array, dtype=A.dtype,
                                                                  meta=sp.csr_array((0, 0)))


def _rows(A, rows):
    from ricci.symbolic._dask_sparse import wrap

    return wrap(sparse_blocks(A, rows), np.float64, "X", finite=True)


# ------------------------------------------------------------------------------------------------------------
# the products, block by block, against NumPy
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [7, 40])
def test_products_equal_numpy(rng, rows):
    A = _sparse(rng, 23, 6)
    X = _rows(A, rows)
    v, V = rng.standard_normal(6), rng.standard_normal((6, 3))
    u, U = rng.standard_normal(23), rng.standard_normal((23, 2))
    s = rng.standard_normal(23)
    lazy_u = da.from_array(u, chunks=5)  # blocks other than X's: aligned for the product
    cases = [
        (X @ v, A @ v), (X @ V, A @ V), (X @ da.from_array(v, chunks=4), A @ v),
        (X.T @ u, A.T @ u), (X.T @ U, A.T @ U), (X.T @ lazy_u, A.T @ u),
        (u @ X, u @ A), (v @ X.T, A @ v), (U.T @ X, U.T @ A), (V.T @ X.T, V.T @ A.T),
        (X.T @ (X * s[:, None]), A.T @ (s[:, None] * A)), (X.T @ (s[:, None] * X), A.T @ (s[:, None] * A)),
        (X.T @ (X * v[None, :]), A.T @ (A * v[None, :])), (X.T @ (X * 2.0), 2.0 * A.T @ A),
        (X.T @ (-X), -A.T @ A),
    ]
    for got, expected in cases:
        assert type(got).__module__.startswith("dask.")
        assert got.shape == expected.shape
        np.testing.assert_allclose(got.compute(), expected, rtol=1e-13, atol=1e-13)
    product = X @ v
    assert product.chunks[0] == X.row_chunks  # X's blocks of rows are kept


def test_products_keep_x_blocks_and_read_each_block_once(rng):
    """X' (s .* (X v)) is one graph over X's blocks: no rechunk of X, and one task per block reads it."""
    A = _sparse(rng, 30, 5)
    reads = []

    def block(b):
        reads.append(b.shape[0])
        return sp.csr_array(b)

    lazy = da.from_array(A, chunks=(8, 5)).map_blocks(block, dtype=float, meta=sp.csr_array((0, 0)))
    from ricci.symbolic._dask_sparse import wrap

    X = wrap(lazy, np.float64, "X", finite=True)
    v, s = rng.standard_normal(5), rng.standard_normal(30)
    out = X.T @ (s * (X @ v))
    assert not _rechunks_of(dict(out.__dask_graph__()), {lazy.name, X.blocks.name})  # (s may be rechunked)
    reads.clear()
    np.testing.assert_allclose(out.compute(), A.T @ (s * (A @ v)), rtol=1e-13)
    assert sorted(reads) == [6, 8, 8, 8]  # X is used twice, each block read once


def _rechunks_of(graph, names) -> bool:
    """Whether a rechunk task of ``graph`` reads a block of the arrays named ``names`` (the data's)."""
    def name(key):
        return key[0] if isinstance(key, tuple) else key

    return any("rechunk" in str(name(k)) and any(name(d) in names for d in getattr(t, "dependencies", ()))
               for k, t in graph.items())


def test_element_wise_operations_are_refused(rng):
    X = _rows(_sparse(rng, 10, 4), 5)
    with pytest.raises(TypeError, match="read through products only"):
        X * np.ones((10, 4))
    with pytest.raises(TypeError, match="only X' Y"):
        X @ X.T
    with pytest.raises(TypeError, match="cannot be reshaped"):
        X.reshape((4, 10))
    with pytest.raises(TypeError, match="not formed here"):
        X @ sp.csr_array(np.eye(4))


def test_non_finite_block_is_found_when_read(rng):
    A = _sparse(rng, 10, 4)
    A[7, 2] = np.nan
    obj = rs.Objective(rs.sum((rs.Matrix("X", "m", "n") @ rs.Vector("w", "n")) ** 2), "w",
                       {"X": sparse_blocks(A, 5)})  # no pass over the data here
    with pytest.raises(ValueError, match="'X' contains NaN or infinite values"):
        obj.fun(np.ones(4))


# ------------------------------------------------------------------------------------------------------------
# objectives on Dask-sparse data against NumPy
# ------------------------------------------------------------------------------------------------------------


def _families(rng, m=45, n=6):
    A = _sparse(rng, m, n)
    y = np.where(A @ rng.standard_normal(n) + 0.3 * rng.standard_normal(m) > 0, 1.0, 0.0)
    Y = np.eye(3)[rng.integers(0, 3, m)]
    Xs, w, t = rs.Matrix("X", "m", "n"), rs.Vector("w", "n"), rs.Vector("t", "m")
    least_squares = rs.sum((Xs @ w - t) ** 2) + 0.1 * (w @ w)
    return A, {
        "logistic": lambda X: problems.logistic_regression(X, y, lam=0.1).objective,
        "softmax": lambda X: problems.softmax_regression(X, Y, lam=0.1, intercept=False).objective,
        "least-squares": lambda X: rs.Objective(least_squares, w, {"X": X, "t": y}),
    }


@pytest.mark.parametrize("rows", [10, 45])
@pytest.mark.parametrize("family", ["logistic", "softmax", "least-squares"])
def test_objective_on_dask_sparse_data_gives_numpy_answers(rng, computes, family, rows):
    """f, g, the Hessian, H p and the Hessian operator, each new point in one computation whose graph
    rechunks none of X's blocks."""
    A, build = _families(rng)
    blocks = sparse_blocks(A, rows)
    dense, lazy = build[family](A), build[family](blocks)
    names = {blocks.name} | {v.blocks.name for v in lazy.data.values() if hasattr(v, "row_chunks")}
    x, p = rng.standard_normal(dense.size), rng.standard_normal(dense.size)
    with computes() as count:
        f, g = lazy.fun_and_jac(x)
        assert count.n == 1
        H = lazy.hess_operator(x)
        assert count.n == 2
    np.testing.assert_allclose(f, dense.fun(x), rtol=1e-12)
    np.testing.assert_allclose(g, dense.jac(x), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(H.to_dense(), dense.hess(x), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(lazy.hessp(x, p), dense.hessp(x, p), rtol=1e-11, atol=1e-12)
    x2 = rng.standard_normal(dense.size)

    class Graphs(computes):
        rechunked = False

        def _start(self, dsk):
            super()._start(dsk)
            self.rechunked |= _rechunks_of(dsk, names)

    with Graphs() as count:  # the solver asked for the operator: f, g and H together at a new point
        f2, g2 = lazy.fun_and_jac(x2)
        H2 = lazy.hess_operator(x2)
    assert count.n == 1 and not count.rechunked
    np.testing.assert_allclose([f2, *g2], [dense.fun(x2), *dense.jac(x2)], rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(H2.to_dense(), dense.hess(x2), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(lazy.hess(x2), dense.hess(x2), rtol=1e-11, atol=1e-12)


def test_sparse_uses_are_checked_for_dask_sparse_data(rng):
    X, w = rs.Matrix("X", "m", "n"), rs.Vector("w", "n")
    with pytest.raises(ValueError, match=r"X is sparse \(a Dask array of scipy.sparse blocks\) but exp\(X\)"):
        rs.Objective(rs.sum(rs.exp(X) @ w), w, {"X": sparse_blocks(_sparse(rng, 8, 3), 4)})


def test_least_squares_jacobian_is_the_data(rng):
    A = _sparse(rng, 20, 4)
    X, w, y = rs.Matrix("X", "m", "n"), rs.Vector("w", "n"), rs.Vector("y", "m")
    ls = rs.LeastSquares(X @ w - y, w, {"X": sparse_blocks(A, 6), "y": np.ones(20)})
    x = rng.standard_normal(4)
    np.testing.assert_allclose(ls.fun(x), A @ x - 1.0, rtol=1e-13)
    np.testing.assert_array_equal(ls.jac(x), A)
    J = ls.jac_operator(x)
    np.testing.assert_allclose(J.matvec(x), A @ x, rtol=1e-13)
    np.testing.assert_allclose(J.rmatvec(np.arange(20.0)), A.T @ np.arange(20.0), rtol=1e-13)


def test_compile_takes_dask_sparse_inputs(rng):
    A, v = _sparse(rng, 12, 5), rng.standard_normal(5)
    X, w = rs.Matrix("X", "m", "n"), rs.Vector("w", "n")
    fn = rs.compile([rs.sum(rs.softplus(X @ w)), rs.grad(rs.sum(rs.softplus(X @ w)), w)])
    f, g = fn(X=sparse_blocks(A, 5), w=v)
    f0, g0 = fn(X=A, w=v)
    np.testing.assert_allclose(np.asarray(f.compute() if hasattr(f, "compute") else f), f0, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(g.compute() if hasattr(g, "compute") else g), g0, rtol=1e-13)


# ------------------------------------------------------------------------------------------------------------
# solves
# ------------------------------------------------------------------------------------------------------------


def test_newton_on_dask_sparse_logistic_regression_gives_the_csr_solution(rng, computes):
    A, _ = _families(rng, m=80, n=5)
    y = np.where(A @ np.arange(1.0, 6.0) > 0, 1.0, 0.0)
    reference = problems.logistic_regression(sp.csr_array(A), y, lam=0.1).solve("newton", tol=1e-10)
    p = problems.logistic_regression(sparse_blocks(A, 30), da.from_array(y, chunks=30), lam=0.1)
    with computes() as count:
        result = p.solve("newton", tol=1e-10)
    assert result.success and result.nit == reference.nit
    np.testing.assert_allclose(result.x, reference.x, rtol=0, atol=1e-10)
    assert count.n <= 2 * (result.nit + 1), (count.n, result.nit)


def test_wide_dask_sparse_data_gives_a_gram_operator_and_trust_ncg_solves(rng):
    """More columns than rows: the Hessian is the Gram operator of the blocks (products, diagonal and dense
    form each one pass), and preconditioned trust-ncg reaches the CSR solution."""
    from ricci.symbolic._dask_gram import SparseRowsGram

    A = _sparse(rng, 16, 30, 0.25)
    y = (rng.random(16) > 0.5).astype(float)
    dense = problems.logistic_regression(A, y, lam=0.5, intercept=False).objective
    lazy = problems.logistic_regression(sparse_blocks(A, 6), y, lam=0.5, intercept=False).objective
    x, p = rng.standard_normal(30), rng.standard_normal(30)
    H = lazy.hess_operator(x)
    assert isinstance(H, SparseRowsGram)
    Hd = dense.hess(x)
    np.testing.assert_allclose(H.to_dense(), Hd, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(H.diagonal(), np.diag(Hd), rtol=1e-12)
    np.testing.assert_allclose(H.matvec(p), Hd @ p, rtol=1e-12)
    np.testing.assert_allclose(H.solve(p, 1.0), np.linalg.solve(Hd + np.eye(30), p), rtol=1e-10)
    assert H.norm_estimate() >= np.linalg.norm(Hd)
    reference = problems.logistic_regression(sp.csr_array(A), y, lam=0.5, intercept=False).solve("trust-ncg",
                                                                                                 tol=1e-9)
    result = problems.logistic_regression(sparse_blocks(A, 6), y, lam=0.5, intercept=False).solve("trust-ncg",
                                                                                                 tol=1e-9)
    assert result.success
    np.testing.assert_allclose(result.x, reference.x, rtol=0, atol=1e-8)
